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
mod data;
mod load;
mod recurrent;
mod transformer;
mod work;

use std::marker::PhantomData;

use anyhow::Result;
use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::optim::SgdConfig;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use crate::protocol::{Case, Framework, Settings, Workload};
use crate::weights::Weights;
use data::{images, series};
use work::{Infer, Target, Train};

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

impl<B: AutodiffBackend> Burn<B> {
    fn train<M, const D: usize>(
        &self,
        model: M,
        w: Option<&Weights>,
        data: (Tensor<B, D>, Target<B>),
        s: &Settings,
    ) -> Result<Box<dyn Workload>>
    where
        M: Net<B, D> + AutodiffModule<B> + 'static,
    {
        let model = match w {
            Some(w) => {
                let model = model.load(w, &self.device)?;
                w.ensure_all_used()?;
                model
            }
            None => model,
        };
        let (xs, target) = data;
        let optim = SgdConfig::new().init::<B, M>();
        Ok(Box::new(Train::new(model, optim, (xs, target), s.lr)))
    }
}

fn infer<B: Backend, M: Net<B, D> + 'static, const D: usize>(
    model: M,
    xs: Tensor<B, D>,
) -> Box<dyn Workload> {
    Box::new(Infer::new(model, xs))
}

impl<B: AutodiffBackend> Framework for Burn<B> {
    fn build(&self, case: &Case, s: &Settings) -> Result<Box<dyn Workload>> {
        let w = case.weights.as_deref().map(Weights::read).transpose()?;
        let w = w.as_ref();
        let dev = &self.device;
        let steps = (s.input_size, s.seq); // transformer_seq: a prediction per step
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
