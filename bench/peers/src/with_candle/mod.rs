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
mod data;
mod recurrent;
mod transformer;
mod work;

use std::collections::HashMap;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, VarBuilder, VarMap, SGD};

use crate::protocol::{Case, Framework, Settings, Workload};

pub use cnn::Cnn;
pub use recurrent::{Cell, RecurrentNet};
pub use transformer::SeqTransformer;

/// A candle model: a forward pass in training or evaluation mode.
pub trait Model {
    /// `train` switches dropout on and the differentiable layer norm / softmax.
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor>;
}

/// candle on the CPU.
pub struct Candle;

fn build_model(model: &str, vb: VarBuilder, s: &Settings) -> Result<Box<dyn Model>> {
    Ok(match model {
        "cnn" => Box::new(Cnn::new(vb)?),
        "rnn" => Box::new(RecurrentNet::new(vb, Cell::Rnn, s)?),
        "lstm" => Box::new(RecurrentNet::new(vb, Cell::Lstm, s)?),
        _ => Box::new(SeqTransformer::new(vb, s)?),
    })
}

/// Sets the model's variables from the PyTorch `state_dict` in `path`; every
/// parameter of the file must be one of the model's. Returns the file's tensors
/// (the batch is read from them).
fn load_weights(varmap: &mut VarMap, path: &str) -> Result<HashMap<String, Tensor>> {
    varmap
        .load(path)
        .with_context(|| format!("loading {path} into the candle model"))?;
    let file = candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("reading {path}"))?;
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned VarMap"))?;
    let unused: Vec<&String> = file
        .keys()
        .filter(|k| !k.starts_with("__") && !vars.contains_key(*k))
        .collect();
    anyhow::ensure!(
        unused.is_empty(),
        "{path}: the candle model has no {unused:?}"
    );
    drop(vars);
    Ok(file)
}

/// The model rebuilt on plain copies of the variables: no autograd graph.
fn detached(varmap: &VarMap, model: &str, s: &Settings) -> Result<Box<dyn Model>> {
    let tensors = varmap
        .data()
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned VarMap"))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    build_model(
        model,
        VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu),
        s,
    )
}

impl Framework for Candle {
    fn build(&self, case: &Case, s: &Settings) -> Result<Box<dyn Workload>> {
        let dev = Device::Cpu;
        let mut varmap = VarMap::new();
        let trained = build_model(
            &case.model,
            VarBuilder::from_varmap(&varmap, DType::F32, &dev),
            s,
        )?;
        let (xs, ys) = match &case.weights {
            Some(path) => {
                let file = load_weights(&mut varmap, path)?;
                data::from_file(&case.model, &file, path)?
            }
            None => data::synthetic(&case.model, s, &dev)?,
        };
        let (model, sgd) = if case.mode == "infer" {
            (detached(&varmap, &case.model, s)?, None)
        } else {
            (trained, Some(SGD::new(varmap.all_vars(), s.lr)?))
        };
        Ok(Box::new(work::Work::new(model, sgd, (xs, ys), &case.model)))
    }
}
