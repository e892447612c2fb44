//! # tchport
//!
//! Rust ports, on [`tch`] (libtorch), of classic PyTorch training scripts — a
//! CNN on MNIST, an RNN on a time series, a sequence Transformer and a
//! character GPT — that compute what PyTorch computes. A user of the library
//! gets:
//!
//! - **the task contract** ([`session`]): implement [`session::Task`] (six
//!   methods: data, model, training batches, loss, evaluation, report) and
//!   [`session::run`] trains it with the examples' loop — optimizers as
//!   `torch.optim` computes them ([`optim`]), schedules, early stopping,
//!   checkpoints, Ctrl-C and exact resume ([`train`]), cross-validation;
//! - **the models** ([`models`]), whose parameter names equal PyTorch's
//!   `state_dict` keys;
//! - **the readers** ([`data`]): MNIST (IDX or CSV), CSV and workbook series
//!   with their time axis, text corpora; images for prediction ([`predict`]);
//! - **checkpoints** ([`checkpoint`]): safetensors with `config.json` that
//!   PyTorch reads, and PyTorch's own `torch.save` files read back;
//! - **atomic writes** ([`io`]): every file written for the user goes to a
//!   temporary file beside it and is renamed over it, so a crash never leaves
//!   half a file;
//! - **shipping** ([`torchscript`]): TorchScript out (`--export-torchscript`)
//!   and in (`--load` of a `torch.jit.save` archive); int8 weights
//!   ([`quantize`]: `--quantize int8`, `--save-quantized`); the C allocator's
//!   free memory returned after each evaluation batch ([`malloc`]).
//!
//! [`tasks`] holds the four examples built on these; [`metrics`], [`plot`],
//! [`split`], [`schedule`] and [`finetune`] are the pieces they share.

pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod device;
pub mod finetune;
pub mod io;
pub mod malloc;
pub mod metrics;
pub mod models;
pub mod optim;
pub mod plot;
pub mod predict;
pub mod quantize;
pub mod schedule;
pub mod session;
pub mod split;
pub mod tasks;
pub mod torchscript;
pub mod train;

pub use tch;
