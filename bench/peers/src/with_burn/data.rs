//! The batch of a case: synthetic inputs of the examples' shapes, or the
//! `__xs`/`__ys` of a `check` file.

use anyhow::Result;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::Distribution;

use super::load;
use super::work::Target;
use crate::protocol::Settings;
use crate::weights::Weights;

/// Images `[batch, 1, 28, 28]` and class targets: synthetic, or `__xs`/`__ys` of `w`.
pub fn images<B: Backend>(
    s: &Settings,
    w: Option<&Weights>,
    dev: &B::Device,
) -> Result<(Tensor<B, 4>, Target<B>)> {
    let ce = CrossEntropyLossConfig::new().init(dev);
    Ok(match w {
        Some(w) => {
            let ys = load::tensor::<B, 1>(w, "__ys", dev)?.int();
            (load::tensor(w, "__xs", dev)?, Target::Classes(ys, ce))
        }
        None => {
            let xs = Tensor::random([s.batch, 1, 28, 28], Distribution::Uniform(0.0, 1.0), dev);
            let ys = Tensor::random([s.batch], Distribution::Uniform(0.0, 10.0), dev);
            (xs, Target::Classes(ys, ce))
        }
    })
}

/// Windows `[batch, seq, input_size]` and value targets `[batch, outputs]`.
pub fn series<B: Backend>(
    s: &Settings,
    (input_size, outputs): (usize, usize),
    w: Option<&Weights>,
    dev: &B::Device,
) -> Result<(Tensor<B, 3>, Target<B>)> {
    Ok(match w {
        Some(w) => {
            let ys = load::array::<B, 2>(&w.get("__ys")?.flat(), w, "__ys", dev)?;
            (load::tensor(w, "__xs", dev)?, Target::Values(ys))
        }
        None => {
            let normal = Distribution::Normal(0.0, 1.0);
            let xs = Tensor::random([s.batch, s.seq, input_size], normal, dev);
            (
                xs,
                Target::Values(Tensor::random([s.batch, outputs], normal, dev)),
            )
        }
    })
}
