//! A built candle case: the model, its batch, its loss and (for training) its
//! optimizer; what the protocol times.

use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Tensor;
use candle_nn::{Optimizer, SGD};

use super::Model;
use crate::protocol::{Phases, Workload};

/// cnn_mnist's cross-entropy or the series examples' mean squared error.
#[derive(Debug, Clone, Copy)]
enum Loss {
    CrossEntropy,
    Mse,
}

impl Loss {
    fn compute(self, out: &Tensor, ys: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Loss::CrossEntropy => candle_nn::loss::cross_entropy(out, ys),
            Loss::Mse => candle_nn::loss::mse(out, ys),
        }
    }
}

/// The model, its batch and (for training) its optimizer.
pub struct Work {
    model: Box<dyn Model>,
    sgd: Option<SGD>,
    xs: Tensor,
    ys: Tensor,
    loss: Loss,
}

impl Work {
    /// `sgd` is `None` for an inference case; the loss follows the model's example.
    pub fn new(
        model: Box<dyn Model>,
        sgd: Option<SGD>,
        (xs, ys): (Tensor, Tensor),
        name: &str,
    ) -> Self {
        let loss = if name == "cnn" {
            Loss::CrossEntropy
        } else {
            Loss::Mse
        };
        Self {
            model,
            sgd,
            xs,
            ys,
            loss,
        }
    }
}

impl Workload for Work {
    fn train_step(&mut self, phases: &mut Phases) -> Result<f32> {
        let sgd = self
            .sgd
            .as_mut()
            .context("an inference case has no optimizer")?;
        let t0 = Instant::now();
        let out = self.model.forward_t(&self.xs, true)?;
        let loss = self.loss.compute(&out, &self.ys)?;
        let t1 = Instant::now();
        let grads = loss.backward()?;
        let t2 = Instant::now();
        sgd.step(&grads)?; // SGD::backward_step, split to time the phases
        let value = loss.to_scalar::<f32>()?;
        phases.add([t0, t1, t2, Instant::now()]);
        Ok(value)
    }

    fn infer(&mut self) -> Result<f32> {
        let out = self.model.forward_t(&self.xs, false)?;
        Ok(out.flatten_all()?.get(0)?.to_scalar::<f32>()?)
    }
}
