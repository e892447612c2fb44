//! `--load model.pt` of a TorchScript archive: the module, checked at load,
//! and [`UseModel`], what the use paths run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tch::nn::ModuleT;
use tch::{CModule, Device, Tensor};

use super::{Prepare, TraceInput};

/// A TorchScript module (`torch.jit.save` of a scripted or traced model)
/// run by libtorch's interpreter through [`tch::CModule`], in evaluation mode.
pub struct ScriptModule {
    module: CModule,
    path: PathBuf,
    /// `Some(n)` when the module runs only batches of `n` rows (a trace that
    /// fixed its batch size): larger batches are run `n` rows at a time.
    fixed_batch: Option<i64>,
    /// The example's batches to the module's input ([`TraceInput::prepare`]).
    prepare: Option<Prepare>,
}

impl std::fmt::Debug for ScriptModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptModule")
            .field("path", &self.path)
            .field("fixed_batch", &self.fixed_batch)
            .finish_non_exhaustive()
    }
}

impl ScriptModule {
    /// Loads `path` onto `device` in evaluation mode and checks it on
    /// `input.example` (the probe: the example's input shape and dtype, batch
    /// first): its output must have shape `expected` (the example's own
    /// model's at the probe). Then tries a batch of two to learn whether the
    /// module takes any batch size.
    ///
    /// # Errors
    /// A file libtorch cannot load; a module that fails on the probe (the
    /// message names the input and quotes libtorch) or gives another shape.
    pub fn load(path: &Path, device: Device, input: TraceInput, expected: &[i64]) -> Result<Self> {
        let probe = &input.example;
        let mut module = CModule::load_on_device(path, device)
            .map_err(|e| anyhow::anyhow!(last_error_line(&e.to_string())))
            .with_context(|| format!("cannot load TorchScript {}", path.display()))?;
        module.set_eval();
        let out = match tch::no_grad(|| module.forward_ts(&[probe])) {
            Ok(out) => out,
            Err(e) => bail!(
                "TorchScript {} does not run on this example's input {:?} ({}): {}",
                path.display(),
                probe.size(),
                crate::checkpoint::torch_dtype(probe.kind()),
                last_error_line(&e.to_string())
            ),
        };
        if out.size() != expected {
            bail!(
                "TorchScript {} gives output {:?} for input {:?}; this example's model gives {:?} \
                 (another architecture, or other model flags?)",
                path.display(),
                out.size(),
                probe.size(),
                expected
            );
        }
        check_settings(path, &input.settings)?;
        let two = Tensor::cat(&[probe, probe], 0);
        let any_batch = tch::no_grad(|| module.forward_ts(&[&two]))
            .is_ok_and(|o| o.size().first() == Some(&(2 * probe.size()[0])));
        Ok(Self {
            module,
            path: path.to_path_buf(),
            fixed_batch: (!any_batch).then(|| probe.size()[0]),
            prepare: input.prepare,
        })
    }

    /// The console line that says what was loaded.
    pub fn loaded_line(&self) -> String {
        format!(
            "loaded {}: a TorchScript module, run by libtorch's TorchScript interpreter (not this \
             example's model code){}",
            self.path.display(),
            match self.fixed_batch {
                Some(n) => format!("; it takes batches of {n} only, so inputs go {n} at a time"),
                None => String::new(),
            }
        )
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The module's output for `xs`, `fixed_batch` rows at a time when it has one.
    fn run(&self, xs: &Tensor) -> Tensor {
        let xs = &match &self.prepare {
            Some(prepare) => prepare(xs),
            None => xs.shallow_clone(),
        };
        let rows = match self.fixed_batch {
            Some(n) if xs.size()[0] != n => xs.split(n, 0),
            _ => vec![xs.shallow_clone()],
        };
        let outs: Vec<Tensor> = rows
            .iter()
            .map(|x| {
                self.module.forward_ts(&[x]).unwrap_or_else(|e| {
                    panic!(
                        "TorchScript {} failed on input {:?} after passing its load check: {}",
                        self.path.display(),
                        x.size(),
                        last_error_line(&e.to_string())
                    )
                })
            })
            .collect();
        Tensor::cat(&outs, 0)
    }
}

impl ModuleT for ScriptModule {
    /// The module in evaluation mode whatever `train` says (it is never trained here).
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        self.run(xs)
    }
}

/// The model the use paths run (`--eval-only`, `--predict`, `--forecast`):
/// the example's own, or a TorchScript module of `--load`.
#[derive(Debug)]
pub enum UseModel<M> {
    /// The example's model with its weights.
    Native(M),
    /// A TorchScript module ([`ScriptModule`]).
    TorchScript(ScriptModule),
}

impl<M> UseModel<M> {
    /// The example's own model, `None` for a TorchScript module.
    pub fn native(&self) -> Option<&M> {
        match self {
            Self::Native(m) => Some(m),
            Self::TorchScript(_) => None,
        }
    }
}

impl<M: ModuleT> ModuleT for UseModel<M> {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            Self::Native(m) => m.forward_t(xs, train),
            Self::TorchScript(m) => m.forward_t(xs, train),
        }
    }
}

/// Refuses a module whose `<stem>.inputs.json` (written by
/// `--export-torchscript`) records other input settings (normalisation,
/// scaler, window, vocabulary...) than this run's, which come from the
/// `config.json` beside the file or the flags: the module would be fed inputs
/// prepared for another model. No JSON (a PyTorch user's module): nothing to check.
///
/// # Errors
/// An unreadable JSON, or the first setting that differs, named.
fn check_settings(path: &Path, settings: &serde_json::Value) -> Result<()> {
    let json_path = super::inputs_json_path(path);
    if !json_path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&json_path)
        .with_context(|| format!("cannot read {}", json_path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", json_path.display()))?;
    let (Some(saved), Some(ours)) = (json["settings"].as_object(), settings.as_object()) else {
        return Ok(());
    };
    for (key, want) in ours {
        if let Some(got) = saved.get(key).filter(|got| *got != want) {
            bail!(
                "TorchScript {}: {} says its inputs were prepared with {key} = {got}, this run \
                 has {key} = {want} (from the config.json beside the module, or the flags); give \
                 the flag for {key}, or put the exporting run's config.json beside the module",
                path.display(),
                json_path.display()
            );
        }
    }
    Ok(())
}

/// The line of a libtorch error that says what went wrong: TorchScript's
/// interpreter wraps it in a traceback, whose last `...Error:` line is the
/// cause; otherwise the first line.
fn last_error_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find(|l| l.contains("Error: "))
        .or(lines.first())
        .map(|l| l.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::last_error_line;

    #[test]
    fn the_cause_is_taken_from_a_torchscript_traceback() {
        let msg = "The following operation failed in the TorchScript interpreter.\n\
                   Traceback of TorchScript, serialized code (most recent call last):\n  \
                   File \"code/__torch__.py\", line 10, in forward\n\
                   RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x3136 and 320x10)\n";
        assert_eq!(
            last_error_line(msg),
            "RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x3136 and 320x10)"
        );
        assert_eq!(last_error_line("one line only"), "one line only");
    }
}
