//! The int8 checkpoint of `--save-quantized`: safetensors, as every checkpoint
//! here, with `config.json` beside it. Each quantized weight `K` (a
//! `state_dict` key: `fc.weight`, `conv1.weight`) is stored as int8 (its own
//! shape) and beside it `K_scale`, float32 `[out]`, one scale per output
//! channel (the names of compressed-tensors' int8 checkpoints, `weight` and
//! `weight_scale`); every other tensor (biases, embeddings, norms, recurrent
//! cells) is stored as it is. The file is told apart by its content (an int8
//! `K` with a `K_scale` beside it), never by its name.
//!
//! In PyTorch, `safetensors.torch.load_file(path)` gives these tensors; the
//! float `state_dict` is `q.float() * s.view(-1, *[1] * (q.dim() - 1))` for
//! each pair, and a Linear's forward is
//! `torch._weight_int8pack_mm(x, q, s) + bias` (what this crate runs).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use tch::{Kind, Tensor};

use super::int8::dequantize;
use super::Int8Model;

/// The suffix of a scale's name: `fc.weight` → `fc.weight_scale`.
pub const SCALE_SUFFIX: &str = "_scale";

/// An int8 checkpoint's tensors, read for a model.
#[derive(Debug)]
pub struct Split {
    /// Every tensor as float: the int8 weights dequantized, the rest as read
    /// (what fills the model's variables).
    pub floats: Vec<(String, Tensor)>,
    /// The int8 values and scales of each quantized weight, by its name.
    pub int8: BTreeMap<String, (Tensor, Tensor)>,
}

/// Whether `tensors` hold int8 weights: an int8 tensor `K` with `K_scale` beside it.
pub fn is_int8(tensors: &[(String, Tensor)]) -> bool {
    let names: std::collections::BTreeSet<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
    tensors.iter().any(|(name, t)| {
        t.kind() == Kind::Int8 && names.contains(format!("{name}{SCALE_SUFFIX}").as_str())
    })
}

/// Splits the tensors of the int8 checkpoint `path` into [`Split`]; `None`
/// when they hold no int8 weights ([`is_int8`]).
///
/// # Errors
/// An int8 tensor without its scale, or a scale that is not `[out]` of its
/// weight (naming both and the file).
pub fn split(tensors: &[(String, Tensor)], path: &Path) -> Result<Option<Split>> {
    if !is_int8(tensors) {
        return Ok(None);
    }
    let by_name: BTreeMap<&str, &Tensor> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = Split {
        floats: Vec::new(),
        int8: BTreeMap::new(),
    };
    for (name, t) in tensors {
        if t.kind() == Kind::Int8 {
            let scale_name = format!("{name}{SCALE_SUFFIX}");
            let Some(scales) = by_name.get(scale_name.as_str()) else {
                bail!(
                    "int8 checkpoint {}: {name} is int8 but has no {scale_name}",
                    path.display()
                );
            };
            let out_channels = t.size().first().copied().unwrap_or(0);
            if t.dim() < 2 || scales.size() != [out_channels] {
                bail!(
                    "int8 checkpoint {}: {scale_name} is {:?}, {name} {:?} needs one scale per \
                     output channel [{out_channels}]",
                    path.display(),
                    scales.size(),
                    t.size()
                );
            }
            let scales = scales.to_kind(Kind::Float);
            out.floats.push((name.clone(), dequantize(t, &scales)));
            out.int8.insert(name.clone(), (t.shallow_clone(), scales));
        } else if !is_scale_of_int8(name, &by_name) {
            out.floats.push((name.clone(), t.shallow_clone()));
        }
    }
    Ok(Some(out))
}

/// Whether `name` is `K_scale` of an int8 tensor `K`.
fn is_scale_of_int8(name: &str, by_name: &BTreeMap<&str, &Tensor>) -> bool {
    name.strip_suffix(SCALE_SUFFIX)
        .and_then(|k| by_name.get(k))
        .is_some_and(|t| t.kind() == Kind::Int8)
}

/// The tensors of an int8 checkpoint of `floats` (the model's variables, by
/// name, on the CPU) with `int8`'s weights: each of them replaced by its int8
/// values, its scales beside it. Sorted by name.
///
/// # Errors
/// A quantized weight that is not among `floats`, or a `K_scale` there already.
pub fn tensors(floats: Vec<(String, Tensor)>, int8: &Int8Model) -> Result<Vec<(String, Tensor)>> {
    let mut out: BTreeMap<String, Tensor> = floats.into_iter().collect();
    for (name, w) in &int8.weights {
        let scale_name = format!("{name}{SCALE_SUFFIX}");
        if out.remove(name).is_none() || out.contains_key(&scale_name) {
            bail!("cannot store {name} as int8: the model has no such weight, or a {scale_name} already");
        }
        let cpu = |t: &Tensor| t.to_device(tch::Device::Cpu).contiguous();
        out.insert(name.clone(), cpu(&w.q));
        out.insert(scale_name, cpu(&w.scales));
    }
    Ok(out.into_iter().collect())
}
