//! PyTorch `state_dict` tensors into burn parameters. burn's `Linear` keeps its
//! weight as `[in, out]` (`y = x W + b`), PyTorch's as `[out, in]`: weights are
//! transposed on the way in; convolutions and norms share PyTorch's layout.
//! Every replaced parameter must keep the shape the module gave it; errors name
//! the file and the key.

use anyhow::{ensure, Result};
use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::weights::{Array, Weights};

/// `a` (read from key `key` of `w`) as a rank-`D` tensor on `dev`.
pub fn array<B: Backend, const D: usize>(
    a: &Array,
    w: &Weights,
    key: &str,
    dev: &B::Device,
) -> Result<Tensor<B, D>> {
    ensure!(
        a.shape.len() == D,
        "{}: {key} has shape {:?}; expected a rank-{D} tensor",
        w.path(),
        a.shape
    );
    Ok(Tensor::from_data(
        TensorData::new(a.values.clone(), a.shape.clone()),
        dev,
    ))
}

/// The tensor `key` of `w` on `dev`.
pub fn tensor<B: Backend, const D: usize>(
    w: &Weights,
    key: &str,
    dev: &B::Device,
) -> Result<Tensor<B, D>> {
    array(w.get(key)?, w, key, dev)
}

/// Replaces `param` by `value`, which must have its shape.
fn replace<B: Backend, const D: usize>(
    param: &mut Param<Tensor<B, D>>,
    value: Tensor<B, D>,
    what: &str,
) -> Result<()> {
    let (want, got) = (param.val().dims(), value.dims());
    ensure!(
        want == got,
        "{what}: shape {got:?}, but the burn module's is {want:?}"
    );
    *param = Param::from_tensor(value);
    Ok(())
}

/// The parameter `param` from the key `key` of `w`.
pub fn param<B: Backend, const D: usize>(
    param: &mut Param<Tensor<B, D>>,
    w: &Weights,
    key: &str,
    dev: &B::Device,
) -> Result<()> {
    let value = tensor(w, key, dev)?;
    replace(param, value, &format!("{}: {key}", w.path()))
}

/// Block `k` of `n` output rows of a packed PyTorch projection (weight and
/// bias keys, e.g. `in_proj_weight`, or an LSTM's `weight_ih_l0`) into `l`.
pub fn linear_block<B: Backend>(
    l: &mut Linear<B>,
    w: &Weights,
    (weight, bias): (&str, &str),
    (k, n): (usize, usize),
    dev: &B::Device,
) -> Result<()> {
    let what = format!("{}: rows {}..{} of {weight}", w.path(), k * n, (k + 1) * n);
    let rows = w
        .get(weight)?
        .rows(k, n)
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    replace(
        &mut l.weight,
        array::<B, 2>(&rows, w, weight, dev)?.transpose(),
        &what,
    )?;
    let b = w
        .get(bias)?
        .rows(k, n)
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let bias_param = l
        .bias
        .as_mut()
        .ok_or_else(|| anyhow::anyhow!("{what}: the burn Linear has no bias"))?;
    replace(bias_param, array::<B, 1>(&b, w, bias, dev)?, &what)
}

/// `prefix.weight` / `prefix.bias` of an `nn.Linear` into `l`.
pub fn linear<B: Backend>(
    l: &mut Linear<B>,
    w: &Weights,
    prefix: &str,
    dev: &B::Device,
) -> Result<()> {
    let [_, out] = l.weight.val().dims();
    let keys = (format!("{prefix}.weight"), format!("{prefix}.bias"));
    linear_block(l, w, (&keys.0, &keys.1), (0, out), dev)
}

/// The number of rows of the key `key` divided by `parts` (gates of an LSTM).
pub fn rows_per_part(w: &Weights, key: &str, parts: usize) -> Result<usize> {
    let rows = w.get(key)?.shape.first().copied().unwrap_or(0);
    ensure!(
        rows > 0 && rows % parts == 0,
        "{}: {key} has {rows} rows, not {parts} equal blocks",
        w.path()
    );
    Ok(rows / parts)
}
