//! int8 weights (issue 22, item 3): `--quantize int8` runs a loaded model with
//! int8 weights, `--save-quantized PATH` writes them ([`file`]), and `--load`
//! of such a file runs it the same way.
//!
//! - **Linear layers** ([`crate::models::Linear`]): the weight becomes int8
//!   with one float32 scale per output channel ([`int8`]: symmetric, gpt-fast's
//!   and torchao's formula) and the forward is libtorch's weight-only int8
//!   kernel `_weight_int8pack_mm` on the CPU; the bias stays float32.
//! - **Convolutions**: no int8 kernel serves them here, so their weights are
//!   stored as int8 (the same formula, per output channel) and dequantized to
//!   float32 at load; `--quantize int8` rounds them the same way, so a model
//!   quantized in memory and one loaded from its int8 file give the same outputs.
//! - **Float**: recurrent cells (`aten::lstm`, `gru`, `rnn_tanh` take float
//!   weights), embeddings (the GPT's head is tied to its token embedding),
//!   LayerNorms, the packed attention input projection of `transformer_seq`
//!   (`in_proj_weight`, no Linear in PyTorch either), every bias.
//!
//! A model offers its Linear layers through [`Quantize`]; [`quantize_model`]
//! quantizes a built model in place, [`load`] loads a checkpoint (float or
//! int8) for use and [`save`] writes the int8 file.

pub mod file;
pub mod int8;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tch::{nn, Device, Kind, Tensor};

use crate::models::linear::{Int8Weight, Linear};

/// A quantization scheme (`--quantize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheme {
    /// Weight-only int8, per-output-channel symmetric scales.
    Int8,
}

/// `--quantize` and `--save-quantized`, declared once for every example.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct QuantizeOptions {
    /// Run the model of --load with int8 weights: each Linear layer's weight
    /// as int8 with one scale per output channel, multiplied by libtorch's
    /// _weight_int8pack_mm on the CPU; convolution weights rounded to int8
    /// and run in float32 (no int8 convolution kernel); recurrent cells,
    /// embeddings and norms stay float32. For --eval-only, --predict,
    /// --forecast and --generate; not for training.
    #[arg(long, value_enum, value_name = "SCHEME")]
    pub quantize: Option<Scheme>,
    /// Write the model with int8 weights (safetensors: each quantized weight
    /// as int8 with its float32 scales as NAME_scale; config.json beside it):
    /// after training, or with --load alone (then nothing trains). --load of
    /// the file runs it as --quantize int8 does.
    #[arg(long, value_name = "PATH")]
    pub save_quantized: Option<PathBuf>,
}

/// What a run does, as [`QuantizeOptions::check`] needs to know.
#[derive(Debug, Clone, Copy)]
pub struct RunShape<'a> {
    /// `--load`.
    pub load: Option<&'a Path>,
    /// Whether the run trains (or fine-tunes) a model.
    pub trains: bool,
    /// `--save` (float weights).
    pub save: Option<&'a Path>,
    /// Whether `--export-torchscript` is given.
    pub export_torchscript: bool,
}

impl<'a> RunShape<'a> {
    /// A run that uses the model of `--load` (`load`) and trains nothing:
    /// `--eval-only`, `--predict`, `--forecast`, `--generate`.
    pub fn use_of(load: &'a Path, save: Option<&'a Path>, export_torchscript: bool) -> Self {
        Self {
            load: Some(load),
            trains: false,
            save,
            export_torchscript,
        }
    }
}

impl QuantizeOptions {
    /// The scheme of the run: `--quantize`'s, int8 for `--save-quantized` alone.
    pub fn scheme(&self) -> Option<Scheme> {
        self.quantize
            .or(self.save_quantized.as_ref().map(|_| Scheme::Int8))
    }

    /// Refuses, in one line naming the flag, what makes no sense: `--quantize`
    /// without `--load` or while training, with `--save` (float weights) or
    /// `--export-torchscript` (a trace of the float model), and
    /// `--save-quantized` with `--export-torchscript`.
    pub fn check(&self, run: RunShape<'_>) -> Result<()> {
        if self.scheme().is_some() && run.export_torchscript {
            bail!(
                "--export-torchscript traces the float32 model: leave out --quantize and \
                 --save-quantized (export the float model, quantize in a second run)"
            );
        }
        if self.quantize.is_none() {
            return Ok(());
        }
        if run.load.is_none() {
            bail!(
                "--quantize int8 runs a trained model with int8 weights: give it with --load \
                 CHECKPOINT (after training, --save-quantized PATH writes an int8 model)"
            );
        }
        if run.trains {
            bail!(
                "--quantize int8 is for inference, a quantized model is not trained: add \
                 --eval-only (or --predict, --forecast), or write the int8 model with \
                 --save-quantized PATH"
            );
        }
        if let Some(save) = run.save {
            bail!(
                "--save {} writes float32 weights: with --quantize int8 write the int8 model \
                 with --save-quantized PATH",
                save.display()
            );
        }
        Ok(())
    }
}

/// A model whose Linear layers can take int8 weights.
pub trait Quantize {
    /// Every [`Linear`] layer of the model, whose weights become int8; empty
    /// for a model without Linear layers (which [`quantize_model`] refuses).
    fn linear_layers(&mut self) -> Vec<&mut Linear>;
}

impl Quantize for Linear {
    fn linear_layers(&mut self) -> Vec<&mut Linear> {
        vec![self]
    }
}

/// How an int8 weight is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A Linear layer's, multiplied by `_weight_int8pack_mm`.
    Kernel,
    /// Stored as int8 and run dequantized in float32 (a convolution's).
    Dequantized,
}

/// One int8 weight: values, scales and how it runs.
#[derive(Debug)]
pub struct Int8Tensor {
    /// int8 values, the weight's shape.
    pub q: Tensor,
    /// float32 scales `[out]`.
    pub scales: Tensor,
    /// How it runs.
    pub role: Role,
}

/// The int8 weights of a quantized model, by the `state_dict` key of the
/// float weight each replaces.
#[derive(Debug, Default)]
pub struct Int8Model {
    /// `fc.weight` → its int8 values and scales.
    pub weights: BTreeMap<String, Int8Tensor>,
}

impl Int8Model {
    /// The names of the weights of `role`.
    fn names(&self, role: Role) -> Vec<&str> {
        let of_role = self.weights.iter().filter(|(_, w)| w.role == role);
        of_role.map(|(n, _)| n.as_str()).collect()
    }

    /// One line: which weights are int8 and how they run.
    pub fn summary(&self) -> String {
        let list = |names: Vec<&str>| match names.len() {
            0..=4 => names.join(", "),
            n => format!("{}, ... ({n} in all)", names[..3].join(", ")),
        };
        let (kernel, storage) = (self.names(Role::Kernel), self.names(Role::Dequantized));
        let mut s = format!(
            "int8 weights (per-output-channel scales): {} Linear layer(s) through \
             _weight_int8pack_mm ({})",
            kernel.len(),
            list(kernel)
        );
        if !storage.is_empty() {
            s += &format!(
                "; {} convolution weight(s) stored as int8, dequantized to float32 ({})",
                storage.len(),
                list(storage)
            );
        }
        s + "; the rest float32"
    }
}

/// Quantizes `model` (its variables in `vs`) in place: each Linear layer's
/// weight becomes int8 — `saved`'s values when given (an int8 checkpoint's,
/// whose dequantized floats fill `vs` already), else computed from the float
/// weight — and its float variable holds the dequantized weight; each
/// convolution weight (a float variable `*weight` of 3 or more dimensions) is
/// rounded to int8 and back (when computed; a checkpoint's are dequantized
/// already). Returns the int8 weights.
///
/// # Errors
/// A model without Linear layers, a model not on the CPU (the int8 kernel
/// runs there), a Linear layer the checkpoint holds no int8 weight for.
pub fn quantize_model<M: Quantize + ?Sized>(
    vs: &nn::VarStore,
    model: &mut M,
    saved: Option<BTreeMap<String, (Tensor, Tensor)>>,
) -> Result<Int8Model> {
    if vs.device() != Device::Cpu {
        bail!(
            "int8 weights run on the CPU (libtorch's _weight_int8pack_mm here): add --device cpu"
        );
    }
    let vars = vs.variables();
    let by_ptr: BTreeMap<usize, &String> = vars
        .iter()
        .map(|(name, t)| (t.data_ptr() as usize, name))
        .collect();
    let layers = model.linear_layers();
    if layers.is_empty() {
        bail!("--quantize int8: this model has no Linear layers, whose weights int8 serves");
    }
    let mut saved = saved;
    let mut out = Int8Model::default();
    for layer in layers {
        let Some(name) = by_ptr.get(&(layer.ws.data_ptr() as usize)) else {
            bail!("a Linear layer's weight is not a variable of the model");
        };
        let (q, scales) = match saved.as_mut() {
            Some(file) => file.remove(name.as_str()).with_context(|| {
                format!("the int8 checkpoint has no int8 {name} (a Linear layer's weight)")
            })?,
            None => int8::quantize_per_channel(&layer.ws),
        };
        if saved.is_none() {
            tch::no_grad(|| {
                layer
                    .ws
                    .shallow_clone()
                    .copy_(&int8::dequantize(&q, &scales))
            });
        }
        let weight = Int8Weight {
            q: q.shallow_clone(),
            scales: scales.shallow_clone(),
        };
        layer.set_int8(weight).with_context(|| name.to_string())?;
        let role = Role::Kernel;
        out.weights
            .insert(name.to_string(), Int8Tensor { q, scales, role });
    }
    let storage = match saved {
        Some(rest) => rest,
        None => round_convolutions(&vars, &out),
    };
    for (name, (q, scales)) in storage {
        let role = Role::Dequantized;
        out.weights.insert(name, Int8Tensor { q, scales, role });
    }
    Ok(out)
}

/// Rounds every convolution weight of `vars` that `done` has not quantized
/// (a float `*weight` of 3 or more dimensions) to int8 and back, in place;
/// returns their int8 values and scales.
fn round_convolutions(
    vars: &std::collections::HashMap<String, Tensor>,
    done: &Int8Model,
) -> BTreeMap<String, (Tensor, Tensor)> {
    let is_conv = |name: &str, t: &Tensor| {
        name.ends_with("weight") && t.dim() >= 3 && t.kind() == Kind::Float
    };
    let mut out = BTreeMap::new();
    for (name, var) in vars {
        if done.weights.contains_key(name) || !is_conv(name, var) {
            continue;
        }
        let (q, scales) = int8::quantize_per_channel(var);
        tch::no_grad(|| var.shallow_clone().copy_(&int8::dequantize(&q, &scales)));
        out.insert(name.clone(), (q, scales));
    }
    out
}

/// What [`load`] loaded.
#[derive(Debug)]
pub struct Loaded {
    /// Notes of the reading (prefixes stripped, the file's kind), one line each.
    pub notes: Vec<String>,
    /// The line that says what was loaded, int8 or not.
    pub line: String,
    /// The int8 weights: of an int8 checkpoint, or of `--quantize`.
    pub int8: Option<Int8Model>,
}

/// Loads checkpoint `path` into `vs` and `model` for use (no training): an
/// int8 checkpoint ([`file`]) with its int8 weights in the Linear layers and
/// its convolutions dequantized; a float checkpoint as
/// [`crate::checkpoint::load`] does (after removing the prefix `strip` or the
/// one found, see [`crate::checkpoint::read_for_model`]), then quantized
/// when `scheme` is given.
///
/// # Errors
/// The checkpoint's errors; [`quantize_model`]'s.
pub fn load<M: Quantize + ?Sized>(
    vs: &mut nn::VarStore,
    model: &mut M,
    path: &Path,
    strip: Option<&str>,
    scheme: Option<Scheme>,
) -> Result<Loaded> {
    let read = crate::checkpoint::read_checkpoint(path)?;
    if let Some(split) = file::split(&read.tensors, path)? {
        let mut notes = read.notes;
        let floats = crate::checkpoint::LoadedCheckpoint {
            tensors: split.floats,
            format: read.format,
            notes: notes.clone(),
        };
        notes = crate::checkpoint::load_read(vs, path, floats, None)?;
        let int8 = quantize_model(vs, model, Some(split.int8))
            .with_context(|| format!("int8 checkpoint {}", path.display()))?;
        let line = format!("loaded {}: {}", path.display(), int8.summary());
        return Ok(Loaded {
            notes,
            line,
            int8: Some(int8),
        });
    }
    let notes = crate::checkpoint::load_read(vs, path, read, strip)?;
    let int8 = match scheme {
        Some(Scheme::Int8) => Some(quantize_model(vs, model, None)?),
        None => None,
    };
    let line = match &int8 {
        Some(q) => format!(
            "loaded {} (float32), quantized: {}",
            path.display(),
            q.summary()
        ),
        None => format!("loaded {}", path.display()),
    };
    Ok(Loaded { notes, line, int8 })
}

/// Writes the int8 checkpoint of `vs` with `int8`'s weights to `path`
/// (atomically) and `config` as `config.json` beside it; returns the line
/// that says so, with the file's size against the float32 weights'.
///
/// # Errors
/// An I/O error naming the file.
pub fn save(
    vs: &nn::VarStore,
    int8: &Int8Model,
    path: &Path,
    config: &impl serde::Serialize,
) -> Result<String> {
    let floats = crate::checkpoint::named_tensors(vs);
    let float_bytes: i64 = floats.iter().map(|(_, t)| t.numel() as i64 * 4).sum();
    let tensors = file::tensors(floats, int8)?;
    crate::io::write_atomic(path, |tmp| {
        Tensor::write_safetensors(&tensors, tmp)
            .with_context(|| format!("cannot write int8 checkpoint {}", path.display()))
    })?;
    crate::io::write_json(&crate::checkpoint::config_path(path), config)?;
    let bytes = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    Ok(format!(
        "saved {} (int8 weights, {:.1} kB; the float32 weights are {:.1} kB) and {}",
        path.display(),
        bytes as f64 / 1e3,
        float_bytes as f64 / 1e3,
        crate::checkpoint::config_path(path).display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model with no Linear layer.
    struct Conv(#[allow(dead_code)] nn::Conv2D);

    impl Quantize for Conv {
        fn linear_layers(&mut self) -> Vec<&mut Linear> {
            Vec::new()
        }
    }

    #[test]
    fn a_model_without_linear_layers_is_refused_in_one_line() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut m = Conv(nn::conv2d(vs.root() / "conv", 1, 2, 3, Default::default()));
        let e = quantize_model(&vs, &mut m, None).unwrap_err().to_string();
        assert_eq!(
            e,
            "--quantize int8: this model has no Linear layers, whose weights int8 serves"
        );
    }

    #[test]
    fn misplaced_flags_are_refused_naming_the_flag() {
        let q = QuantizeOptions {
            quantize: Some(Scheme::Int8),
            save_quantized: None,
        };
        let run = RunShape {
            load: None,
            trains: true,
            save: None,
            export_torchscript: false,
        };
        let no_load = q.check(run).unwrap_err().to_string();
        assert!(
            no_load.starts_with("--quantize int8 runs a trained model"),
            "{no_load}"
        );
        let m = Path::new("m.safetensors");
        let training = q
            .check(RunShape {
                load: Some(m),
                ..run
            })
            .unwrap_err()
            .to_string();
        assert!(
            training.starts_with("--quantize int8 is for inference"),
            "{training}"
        );
        let save = RunShape {
            load: Some(m),
            trains: false,
            save: Some(m),
            export_torchscript: false,
        };
        assert!(q
            .check(save)
            .unwrap_err()
            .to_string()
            .starts_with("--save m.safetensors"));
        let ts = RunShape {
            export_torchscript: true,
            ..save
        };
        assert!(q
            .check(ts)
            .unwrap_err()
            .to_string()
            .starts_with("--export-torchscript"));
        for e in [no_load, training] {
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }
}
