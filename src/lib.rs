//! # tchport
//!
//! Rust ports, on [`tch`] (libtorch), of three classic PyTorch training scripts —
//! a CNN on MNIST, an RNN on a time series and a sequence Transformer — with the
//! pieces they share: dataset loaders and batching ([`data`]), models whose
//! parameter names equal PyTorch's `state_dict` keys ([`models`]), PyTorch's
//! optimizers ([`optim`]), one training/evaluation loop ([`train`]), metrics
//! ([`metrics`]), safetensors checkpoints that PyTorch reads too
//! ([`checkpoint`]) and pictures ([`plot`]). [`session`] is the one run path
//! of the examples; [`tasks`] holds what each example supplies to it.

pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod device;
pub mod finetune;
pub mod metrics;
pub mod models;
pub mod optim;
pub mod plot;
pub mod predict;
pub mod schedule;
pub mod session;
pub mod split;
pub mod tasks;
pub mod train;

pub use tch;
