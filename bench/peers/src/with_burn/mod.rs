//! The three models in burn 0.19, written as burn's own examples write models:
//! `#[derive(Module)]` structs of `burn::nn` layers with a `forward`, a config
//! per layer, `SgdConfig` for the optimizer, generic over the backend. Training
//! runs on `Autodiff<B>`; inference builds the model on the inner backend `B`,
//! where dropout is off by construction (burn's `Dropout` acts only when the
//! backend tracks gradients).
//!
//! Burn's `TransformerEncoder` fixes its feed-forward activation to GELU, so
//! transformer_seq's ReLU encoder layer is composed here from burn's
//! `MultiHeadAttention`, `Linear`, `LayerNorm` and `Dropout`.

mod cnn;
mod load;
mod recurrent;
mod transformer;

use std::marker::PhantomData;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig, MseLoss, Reduction};
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Distribution;

use crate::protocol::{Case, Framework, Phases, Shapes, Workload};
use crate::weights::Weights;

pub use cnn::Cnn;
pub use recurrent::{LstmNet, RnnNet};
pub use transformer::SeqTransformer;

/// burn's NdArray backend (f32, default features: SIMD kernels, rayon threads) with autodiff.
pub type NdArrayAutodiff = Autodiff<NdArray<f32>>;

/// A model of this package: `D`-dimensional input, `[batch, outputs]` output.
pub trait Net<B: Backend, const D: usize>: Module<B> {
    /// The forward pass (dropout follows the backend, see the module docs).
    fn forward(&self, xs: Tensor<B, D>) -> Tensor<B, 2>;
    /// Replaces the parameters by the PyTorch `state_dict` in `w`.
    fn load(self, w: &Weights, device: &B::Device) -> Result<Self>;
}

/// The targets of a batch and the loss that compares them with the output.
pub enum Target<B: Backend> {
    /// cnn_mnist: class indices `[batch]`, cross-entropy on the logits.
    Classes(Tensor<B, 1, Int>, CrossEntropyLoss<B>),
    /// The series examples: values `[batch, outputs]`, mean squared error.
    Values(Tensor<B, 2>),
}

impl<B: Backend> Target<B> {
    fn loss(&self, out: Tensor<B, 2>) -> Tensor<B, 1> {
        match self {
            Target::Classes(y, ce) => ce.forward(out, y.clone()),
            Target::Values(y) => MseLoss::new().forward(out, y.clone(), Reduction::Mean),
        }
    }
}

/// A training case: forward, loss, backward, one SGD step.
struct Train<B: AutodiffBackend, M, O, const D: usize> {
    model: Option<M>,
    optim: O,
    xs: Tensor<B, D>,
    target: Target<B>,
    lr: f64,
}

impl<B, M, O, const D: usize> Workload for Train<B, M, O, D>
where
    B: AutodiffBackend,
    M: Net<B, D> + AutodiffModule<B>,
    O: Optimizer<M, B>,
{
    fn train_step(&mut self, phases: &mut Phases) -> Result<f32> {
        let model = self
            .model
            .take()
            .context("the model was lost in a failed step")?;
        let t0 = Instant::now();
        let loss = self.target.loss(model.forward(self.xs.clone()));
        let value: f32 = loss.clone().into_scalar().elem();
        let t1 = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let t2 = Instant::now();
        self.model = Some(self.optim.step(self.lr, model, grads));
        phases.add([t0, t1, t2, Instant::now()]);
        Ok(value)
    }

    fn infer(&mut self) -> Result<f32> {
        bail!("a training case does not infer")
    }
}

/// An inference case on a backend without autodiff.
struct Infer<B: Backend, M, const D: usize> {
    model: M,
    xs: Tensor<B, D>,
}

impl<B: Backend, M: Net<B, D>, const D: usize> Workload for Infer<B, M, D> {
    fn train_step(&mut self, _phases: &mut Phases) -> Result<f32> {
        bail!("an inference case does not train")
    }

    fn infer(&mut self) -> Result<f32> {
        let out = self.model.forward(self.xs.clone()); // [batch, outputs]
        Ok(out.slice([0..1, 0..1]).into_scalar().elem())
    }
}

/// burn with the autodiff backend `B` (inference on `B::InnerBackend`).
pub struct Burn<B: AutodiffBackend> {
    device: B::Device,
    _backend: PhantomData<B>,
}

impl<B: AutodiffBackend> Default for Burn<B> {
    fn default() -> Self {
        Self {
            device: Default::default(),
            _backend: PhantomData,
        }
    }
}

/// Images `[batch, 1, 28, 28]` and class targets: synthetic, or `__xs`/`__ys` of `w`.
fn images<B: Backend>(
    s: &Shapes,
    w: Option<&Weights>,
    dev: &B::Device,
) -> Result<(Tensor<B, 4>, Target<B>)> {
    let ce = CrossEntropyLossConfig::new().init(dev);
    Ok(match w {
        Some(w) => {
            let ys = load::tensor::<B, 1>(w.get("__ys")?, dev)?.int();
            (load::tensor(w.get("__xs")?, dev)?, Target::Classes(ys, ce))
        }
        None => {
            let xs = Tensor::random([s.batch, 1, 28, 28], Distribution::Uniform(0.0, 1.0), dev);
            let ys = Tensor::random([s.batch], Distribution::Uniform(0.0, 10.0), dev);
            (xs, Target::Classes(ys, ce))
        }
    })
}

/// Windows `[batch, seq, features]` and value targets `[batch, outputs]`.
fn series<B: Backend>(
    s: &Shapes,
    (features, outputs): (usize, usize),
    w: Option<&Weights>,
    dev: &B::Device,
) -> Result<(Tensor<B, 3>, Target<B>)> {
    Ok(match w {
        Some(w) => {
            let ys = load::tensor::<B, 2>(&load::flat(w.get("__ys")?), dev)?;
            (load::tensor(w.get("__xs")?, dev)?, Target::Values(ys))
        }
        None => {
            let normal = Distribution::Normal(0.0, 1.0);
            let xs = Tensor::random([s.batch, s.seq, features], normal, dev);
            (
                xs,
                Target::Values(Tensor::random([s.batch, outputs], normal, dev)),
            )
        }
    })
}

impl<B: AutodiffBackend> Burn<B> {
    fn train<M, const D: usize>(
        &self,
        model: M,
        w: Option<&Weights>,
        data: (Tensor<B, D>, Target<B>),
        s: &Shapes,
    ) -> Result<Box<dyn Workload>>
    where
        M: Net<B, D> + AutodiffModule<B> + 'static,
    {
        let model = match w {
            Some(w) => model.load(w, &self.device)?,
            None => model,
        };
        let (xs, target) = data;
        Ok(Box::new(Train {
            model: Some(model),
            optim: SgdConfig::new().init::<B, M>(),
            xs,
            target,
            lr: s.lr,
        }))
    }
}

fn infer<B: Backend, M: Net<B, D> + 'static, const D: usize>(
    model: M,
    xs: Tensor<B, D>,
) -> Box<dyn Workload> {
    Box::new(Infer { model, xs })
}

impl<B: AutodiffBackend> Framework for Burn<B> {
    fn build(&self, case: &Case, s: &Shapes) -> Result<Box<dyn Workload>> {
        let w = case.weights.as_deref().map(Weights::read).transpose()?;
        let w = w.as_ref();
        let dev = &self.device;
        let steps = (s.features, s.seq); // transformer_seq: a prediction per step
        Ok(match (case.model.as_str(), case.mode != "infer") {
            ("cnn", true) => self.train(Cnn::<B>::new(dev), w, images(s, w, dev)?, s)?,
            ("cnn", false) => infer(Cnn::<B::InnerBackend>::new(dev), images(s, w, dev)?.0),
            ("rnn", true) => {
                self.train(RnnNet::<B>::new(s, dev), w, series(s, (1, 1), w, dev)?, s)?
            }
            ("rnn", false) => infer(
                RnnNet::<B::InnerBackend>::new(s, dev),
                series(s, (1, 1), w, dev)?.0,
            ),
            ("lstm", true) => {
                self.train(LstmNet::<B>::new(s, dev), w, series(s, (1, 1), w, dev)?, s)?
            }
            ("lstm", false) => infer(
                LstmNet::<B::InnerBackend>::new(s, dev),
                series(s, (1, 1), w, dev)?.0,
            ),
            (_, true) => self.train(
                SeqTransformer::<B>::new(s, dev),
                w,
                series(s, steps, w, dev)?,
                s,
            )?,
            (_, false) => infer(
                SeqTransformer::<B::InnerBackend>::new(s, dev),
                series(s, steps, w, dev)?.0,
            ),
        })
    }
}
