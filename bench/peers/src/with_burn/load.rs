//! PyTorch `state_dict` tensors into burn parameters. burn's `Linear` keeps its
//! weight as `[in, out]` (`y = x W + b`), PyTorch's as `[out, in]`: weights are
//! transposed on the way in; convolutions and norms share PyTorch's layout.

use anyhow::{ensure, Result};
use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::weights::{Array, Weights};

/// The tensor `a` on `dev`; its rank must be `D`.
pub fn tensor<B: Backend, const D: usize>(a: &Array, dev: &B::Device) -> Result<Tensor<B, D>> {
    ensure!(
        a.shape.len() == D,
        "expected a rank-{D} tensor, got shape {:?}",
        a.shape
    );
    Ok(Tensor::from_data(
        TensorData::new(a.values.clone(), a.shape.clone()),
        dev,
    ))
}

/// `a` as `[shape[0], rest]`.
pub fn flat(a: &Array) -> Array {
    let rows = a.shape.first().copied().unwrap_or(1);
    Array {
        shape: vec![rows, a.values.len() / rows.max(1)],
        values: a.values.clone(),
    }
}

/// A trainable parameter from the key `name`.
pub fn param<B: Backend, const D: usize>(
    w: &Weights,
    name: &str,
    dev: &B::Device,
) -> Result<Param<Tensor<B, D>>> {
    Ok(Param::from_tensor(tensor(w.get(name)?, dev)?))
}

/// Rows `[k·n, (k+1)·n)` of a `[rows, cols]` (or `[rows]`) PyTorch tensor.
fn rows(a: &Array, k: usize, n: usize) -> Array {
    let cols: usize = a.shape[1..].iter().product();
    let mut shape = a.shape.clone();
    shape[0] = n;
    Array {
        shape,
        values: a.values[k * n * cols..(k + 1) * n * cols].to_vec(),
    }
}

/// Block `k` of `n` output rows of a packed PyTorch projection (`in_proj_weight`,
/// an LSTM's `weight_ih_l0`) into the burn `Linear` `l`.
pub fn linear_block<B: Backend>(
    l: &mut Linear<B>,
    (weight, bias): (&Array, &Array),
    k: usize,
    n: usize,
    dev: &B::Device,
) -> Result<()> {
    let w = tensor::<B, 2>(&rows(weight, k, n), dev)?; // [n, in]
    l.weight = Param::from_tensor(w.transpose()); // [in, n]
    l.bias = Some(Param::from_tensor(tensor(&rows(bias, k, n), dev)?));
    Ok(())
}

/// `prefix.weight` / `prefix.bias` of an `nn.Linear` into `l`.
pub fn linear<B: Backend>(
    l: &mut Linear<B>,
    w: &Weights,
    prefix: &str,
    dev: &B::Device,
) -> Result<()> {
    let weight = w.get(&format!("{prefix}.weight"))?;
    let bias = w.get(&format!("{prefix}.bias"))?;
    linear_block(l, (weight, bias), 0, weight.shape[0], dev)
}
