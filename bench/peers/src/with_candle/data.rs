//! The batch of a case: synthetic inputs of the examples' shapes, or the
//! `__xs`/`__ys` of a `check` file.

use std::collections::HashMap;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};

use crate::protocol::Settings;

/// Inputs and targets: CNN `[batch, 1, 28, 28]` and labels `[batch]`; recurrent
/// `[batch, seq, 1]` and `[batch, 1]`; Transformer `[batch, seq, input_size]`
/// and `[batch, seq]`.
pub fn synthetic(model: &str, s: &Settings, dev: &Device) -> Result<(Tensor, Tensor)> {
    let b = s.batch;
    Ok(match model {
        "cnn" => (
            Tensor::rand(0f32, 1f32, (b, 1, 28, 28), dev)?,
            Tensor::rand(0f32, 10f32, b, dev)?.to_dtype(DType::U32)?,
        ),
        "rnn" | "lstm" => (
            Tensor::randn(0f32, 1f32, (b, s.seq, 1), dev)?,
            Tensor::randn(0f32, 1f32, (b, 1), dev)?,
        ),
        _ => (
            Tensor::randn(0f32, 1f32, (b, s.seq, s.input_size), dev)?,
            Tensor::randn(0f32, 1f32, (b, s.seq), dev)?,
        ),
    })
}

/// `__xs` and `__ys` of a check file's tensors (`path` names it in errors; the
/// Transformer's `[batch, seq, 1]` targets flattened to `[batch, seq]`, the
/// shape of its output here).
pub fn from_file(
    model: &str,
    file: &HashMap<String, Tensor>,
    path: &str,
) -> Result<(Tensor, Tensor)> {
    let get = |k: &str| {
        file.get(k)
            .cloned()
            .with_context(|| format!("{path} has no {k}"))
    };
    let (xs, ys) = (get("__xs")?, get("__ys")?);
    let ys = if model == "cnn" {
        ys
    } else {
        ys.flatten_from(1)?
    };
    Ok((xs, ys))
}
