//! A built burn case: a training case (model, SGD, batch) on the autodiff
//! backend, or an inference case on the inner backend; what the protocol times.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::nn::loss::{CrossEntropyLoss, MseLoss, Reduction};
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use super::Net;
use crate::protocol::{Phases, Workload};

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
pub struct Train<B: AutodiffBackend, M, O, const D: usize> {
    model: Option<M>,
    optim: O,
    xs: Tensor<B, D>,
    target: Target<B>,
    lr: f64,
}

impl<B: AutodiffBackend, M, O, const D: usize> Train<B, M, O, D> {
    /// `model` trained by `optim` at learning rate `lr` on one batch.
    pub fn new(model: M, optim: O, (xs, target): (Tensor<B, D>, Target<B>), lr: f64) -> Self {
        Self {
            model: Some(model),
            optim,
            xs,
            target,
            lr,
        }
    }
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
        let t1 = Instant::now();
        let grads = GradientsParams::from_grads(loss.clone().backward(), &model);
        let t2 = Instant::now();
        self.model = Some(self.optim.step(self.lr, model, grads));
        let value: f32 = loss.into_scalar().elem();
        phases.add([t0, t1, t2, Instant::now()]);
        Ok(value)
    }

    fn infer(&mut self) -> Result<f32> {
        bail!("a training case does not infer")
    }
}

/// An inference case on a backend without autodiff.
pub struct Infer<B: Backend, M, const D: usize> {
    model: M,
    xs: Tensor<B, D>,
}

impl<B: Backend, M, const D: usize> Infer<B, M, D> {
    /// `model` on the batch `xs`.
    pub fn new(model: M, xs: Tensor<B, D>) -> Self {
        Self { model, xs }
    }
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
