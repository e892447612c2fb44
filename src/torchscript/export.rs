//! `--export-torchscript PATH`: a traced TorchScript module of a model's
//! forward, checked by loading it back, with a JSON of what its input means.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use tch::{nn, CModule, Kind, Tensor};

/// The input a model is traced at, and what a user of the file must know.
pub struct TraceInput {
    /// The example input, on the model's device. A trace records the sizes the
    /// Rust code computes as constants: its shape is the module's (other batch
    /// sizes are tried after export and reported).
    pub example: Tensor,
    /// What the input holds (`"grey pixels in [0, 1], MNIST's white ink on black"`).
    pub input: String,
    /// What the output holds (`"logits of the 10 classes"`).
    pub output: String,
    /// What the user must apply around the module: the normalisation,
    /// scaler, vocabulary or class names (JSON, written as given).
    pub settings: serde_json::Value,
    /// How the example's own batches become the module's input, when they
    /// differ (cnn_mnist's data sets are uint8 pixels; the module takes
    /// prepared floats): applied before a loaded [`super::ScriptModule`] runs.
    pub prepare: Option<Prepare>,
}

/// A function from the example's batches to a TorchScript module's input.
pub type Prepare = Box<dyn Fn(&Tensor) -> Tensor + Send>;

/// What [`export`] wrote and measured.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The TorchScript file.
    pub path: PathBuf,
    /// The JSON of its inputs beside it ([`inputs_json_path`]).
    pub inputs_json: PathBuf,
    /// The traced input's shape.
    pub input_shape: Vec<i64>,
    /// The output's shape at that input.
    pub output_shape: Vec<i64>,
    /// Largest |reloaded module − model| on the traced input (0 when the file
    /// replays the model's own kernels).
    pub max_abs_diff: f64,
    /// Whether the reloaded module runs a batch of two (the traced input
    /// twice) and gives the same rows as at batch one.
    pub any_batch: bool,
}

impl std::fmt::Display for ExportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote {} (TorchScript, traced at input {:?} -> output {:?}; loaded back: max |diff| {:e}; {}) and {}",
            self.path.display(),
            self.input_shape,
            self.output_shape,
            self.max_abs_diff,
            match self.any_batch {
                true => "other batch sizes run",
                false => "only this batch size runs",
            },
            self.inputs_json.display()
        )
    }
}

/// A deterministic input of `shape` with values in [0, 1] (`(sin(0.618·i) + 1) / 2`
/// over the flat index `i`), float32 on `device`: what a model is traced and a
/// loaded module is probed at, drawing nothing from the random generator.
pub fn probe(shape: &[i64], device: tch::Device) -> Tensor {
    let n: i64 = shape.iter().product();
    let flat = Tensor::arange(n, (Kind::Float, device));
    ((flat * 0.618).sin() + 1.0)
        .divide_scalar(2.0)
        .reshape(shape)
}

/// The JSON written beside a TorchScript file `path`: `model.pt` →
/// `model.inputs.json`.
pub fn inputs_json_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{}.inputs.json", stem.unwrap_or_default()))
}

/// The file beside the module.
#[derive(Serialize)]
struct InputsJson<'a> {
    format: &'static str,
    example: &'a str,
    input: TensorJson<'a>,
    output: TensorJson<'a>,
    any_batch: bool,
    settings: &'a serde_json::Value,
}

/// One tensor of [`InputsJson`].
#[derive(Serialize)]
struct TensorJson<'a> {
    shape: Vec<i64>,
    dtype: String,
    holds: &'a str,
}

/// Traces `forward` (the model in evaluation mode, `forward_t(.., false)`)
/// at `input.example` into `path` (TorchScript; written atomically), writes
/// [`inputs_json_path`] beside it, then loads the file back and measures it
/// against `forward` ([`ExportReport`]). `vs` holds the model's variables:
/// they stop requiring gradients while tracing (a trace stores them as
/// constants, which may not require gradients) and are restored after.
/// `example` names the example in the JSON.
///
/// # Errors
/// A failed trace (libtorch's message) or an I/O error naming the file.
pub fn export(
    vs: &nn::VarStore,
    forward: &dyn Fn(&Tensor) -> Tensor,
    input: &TraceInput,
    example: &str,
    path: &Path,
) -> Result<ExportReport> {
    trace_and_save(vs, forward, &input.example, path)?;
    let expected = tch::no_grad(|| forward(&input.example));
    let reloaded = CModule::load_on_device(path, input.example.device())
        .with_context(|| format!("cannot load back {}", path.display()))?;
    let got = tch::no_grad(|| reloaded.forward_ts(&[&input.example]))
        .with_context(|| format!("{}: the reloaded module fails", path.display()))?;
    let max_abs_diff = max_abs_diff(&got, &expected);
    let any_batch = runs_a_batch_of_two(&reloaded, &input.example, &expected);
    let inputs_json = inputs_json_path(path);
    let json = InputsJson {
        format: "TorchScript (traced from Rust by tch::CModule::create_by_tracing; torch.jit.load reads it)",
        example,
        input: tensor_json(&input.example, &input.input),
        output: tensor_json(&expected, &input.output),
        any_batch,
        settings: &input.settings,
    };
    crate::io::write_json(&inputs_json, &json)?;
    Ok(ExportReport {
        path: path.to_path_buf(),
        inputs_json,
        input_shape: input.example.size(),
        output_shape: expected.size(),
        max_abs_diff,
        any_batch,
    })
}

/// `forward` traced at `example` and saved to `path`, with `vs`'s trainable
/// variables frozen meanwhile (as tch-rs's `jit-trace` example does with
/// `vs.freeze()`): the trace holds the variables themselves as constants,
/// and a constant saved while it requires gradients cannot be loaded back
/// ("Unsupported value kind: Tensor").
fn trace_and_save(
    vs: &nn::VarStore,
    forward: &dyn Fn(&Tensor) -> Tensor,
    example: &Tensor,
    path: &Path,
) -> Result<()> {
    let trainable = vs.trainable_variables();
    for v in &trainable {
        let _ = v.set_requires_grad(false);
    }
    let saved = tch::no_grad(|| {
        CModule::create_by_tracing(
            "tchport",
            "forward",
            &[example.shallow_clone()],
            &mut |xs| vec![forward(&xs[0])],
        )
    })
    .with_context(|| format!("--export-torchscript {}: tracing failed", path.display()))
    .and_then(|module| {
        crate::io::write_atomic(path, |tmp| {
            module
                .save(tmp)
                .with_context(|| format!("cannot write {}", path.display()))
        })
    });
    for v in &trainable {
        let _ = v.set_requires_grad(true);
    }
    saved
}

/// Largest |a − b| (as f64; `inf` when the shapes differ).
fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    if a.size() != b.size() {
        return f64::INFINITY;
    }
    let d = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs();
    d.max().double_value(&[])
}

/// Whether `module` runs `example` twice along the batch dimension and gives
/// `expected` for each row (bit-equal rows are not required: within 1e-5).
fn runs_a_batch_of_two(module: &CModule, example: &Tensor, expected: &Tensor) -> bool {
    let two = Tensor::cat(&[example, example], 0);
    let Ok(out) = tch::no_grad(|| module.forward_ts(&[&two])) else {
        return false;
    };
    let want = Tensor::cat(&[expected, expected], 0);
    max_abs_diff(&out, &want) <= 1e-5
}

/// `t`'s shape and dtype, with what it holds.
fn tensor_json<'a>(t: &Tensor, holds: &'a str) -> TensorJson<'a> {
    TensorJson {
        shape: t.size(),
        dtype: crate::checkpoint::torch_dtype(t.kind()),
        holds,
    }
}
