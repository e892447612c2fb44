//! TorchScript out and in (issue 22): a model trained here runs in PyTorch or
//! C++ without this crate, and a PyTorch user's TorchScript model runs in the
//! examples' use paths.
//!
//! - [`export()`] (`--export-torchscript PATH`): traces a model's forward with
//!   `tch::CModule::create_by_tracing` (tch-rs's `jit-trace` example), saves it
//!   with `torch.jit.save`'s format, loads it back and checks it gives the
//!   model's outputs, and writes beside it `<stem>.inputs.json`: what the input
//!   and output hold, the normalisation, scaler or vocabulary, and whether
//!   other batch sizes than the traced one run.
//! - [`ScriptModule`] (`--load model.pt` of a TorchScript archive): a loaded
//!   `torch::jit::Module`, checked at load on a probe input of the example's
//!   shape, run through [`tch::CModule`]; [`UseModel`] is what the use paths
//!   (`--eval-only`, `--predict`, `--forecast`) run: the example's own model
//!   or such a module.
//!
//! A TorchScript file holds a program (TorchScript operators, no Python) that
//! libtorch runs, not a state_dict: it is used only when `--load` names one
//! ([`crate::checkpoint::is_torchscript`]), never in place of the weights a
//! training run expects.

mod export;
mod module;

pub use export::{export, inputs_json_path, probe, ExportReport, Prepare, TraceInput};
pub use module::{ScriptModule, UseModel};
