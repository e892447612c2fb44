//! The three models in candle (`candle-core`/`candle-nn` 0.9, CPU, default
//! features), written as candle's own examples write models: structs of
//! `candle_nn` layers built from a `VarBuilder` whose paths are PyTorch's
//! `state_dict` keys, trained with `candle_nn::SGD`.
//!
//! Two candle specifics shape the code: `candle_nn::LayerNorm` and
//! `ops::softmax_last_dim` take fused kernels without a backward pass
//! (`apply_op*_no_bwd`), so the training path composes both from primitives and
//! only inference uses the fused kernels; and inference builds the model from
//! plain tensors (`VarBuilder::from_tensors`), as a user loading a checkpoint
//! does, so no autograd graph is recorded.

mod cnn;
mod recurrent;
mod transformer;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, VarBuilder, VarMap, SGD};

use std::time::Instant;

use crate::protocol::{Case, Framework, Phases, Shapes, Workload};

pub use cnn::Cnn;
pub use recurrent::RecurrentNet;
pub use transformer::SeqTransformer;

/// A candle model: a forward pass in training or evaluation mode.
pub trait Model {
    /// `train` switches dropout on and the differentiable layer norm / softmax.
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor>;
}

/// The loss of a case: cnn_mnist's cross-entropy or the series examples' MSE.
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

/// candle on the CPU.
pub struct Candle;

/// A built case: the model, its batch and (for training) its optimizer.
struct Work {
    model: Box<dyn Model>,
    sgd: Option<SGD>,
    xs: Tensor,
    ys: Tensor,
    loss: Loss,
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
        let value = loss.to_scalar::<f32>()?;
        let t1 = Instant::now();
        let grads = loss.backward()?;
        let t2 = Instant::now();
        sgd.step(&grads)?; // SGD::backward_step, split to time the phases
        phases.add([t0, t1, t2, Instant::now()]);
        Ok(value)
    }

    fn infer(&mut self) -> Result<f32> {
        let out = self.model.forward_t(&self.xs, false)?;
        Ok(out.flatten_all()?.get(0)?.to_scalar::<f32>()?)
    }
}

fn build_model(model: &str, vb: VarBuilder, s: &Shapes) -> Result<Box<dyn Model>> {
    Ok(match model {
        "cnn" => Box::new(Cnn::new(vb)?),
        "rnn" | "lstm" => Box::new(RecurrentNet::new(vb, model == "lstm", s)?),
        _ => Box::new(SeqTransformer::new(vb, s)?),
    })
}

/// Synthetic inputs and targets of the examples' shapes.
fn synthetic(model: &str, s: &Shapes, dev: &Device) -> Result<(Tensor, Tensor, Loss)> {
    let b = s.batch;
    Ok(match model {
        "cnn" => (
            Tensor::rand(0f32, 1f32, (b, 1, 28, 28), dev)?, // [batch, 1, 28, 28]
            Tensor::rand(0f32, 10f32, b, dev)?.to_dtype(DType::U32)?, // [batch] labels
            Loss::CrossEntropy,
        ),
        "rnn" | "lstm" => (
            Tensor::randn(0f32, 1f32, (b, s.seq, 1), dev)?, // [batch, seq, 1]
            Tensor::randn(0f32, 1f32, (b, 1), dev)?,        // [batch, 1]
            Loss::Mse,
        ),
        _ => (
            Tensor::randn(0f32, 1f32, (b, s.seq, s.features), dev)?, // [batch, seq, features]
            Tensor::randn(0f32, 1f32, (b, s.seq), dev)?,             // [batch, seq]
            Loss::Mse,
        ),
    })
}

impl Framework for Candle {
    fn build(&self, case: &Case, s: &Shapes) -> Result<Box<dyn Workload>> {
        let dev = Device::Cpu;
        let mut varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let trained = build_model(&case.model, vb, s)?;
        let (mut xs, mut ys, loss) = synthetic(&case.model, s, &dev)?;
        if let Some(path) = &case.weights {
            varmap
                .load(path)
                .with_context(|| format!("loading {path} into the candle model"))?;
            let file = candle_core::safetensors::load(path, &dev)?;
            xs = file.get("__xs").context("no __xs")?.clone();
            ys = file.get("__ys").context("no __ys")?.clone();
            if case.model != "cnn" {
                ys = ys.flatten_from(1)?; // the Transformer's [batch, seq, 1] -> [batch, seq]
            }
        }
        if case.mode == "infer" {
            // Plain tensors, as loaded from a checkpoint: no autograd graph.
            let tensors = varmap
                .data()
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned VarMap"))?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
                .collect();
            let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
            let model = build_model(&case.model, vb, s)?;
            return Ok(Box::new(Work {
                model,
                sgd: None,
                xs,
                ys,
                loss,
            }));
        }
        let sgd = SGD::new(varmap.all_vars(), s.lr)?;
        Ok(Box::new(Work {
            model: trained,
            sgd: Some(sgd),
            xs,
            ys,
            loss,
        }))
    }
}
