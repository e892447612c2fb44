//! End-to-end runs behind the examples: data preparation, model, training,
//! evaluation and the report, configured by a serde struct and driven by
//! [`RunOptions`]. The examples only turn flags into these.

pub mod mnist;
pub mod sequence;
pub mod series;

use std::path::PathBuf;

use crate::device::DeviceChoice;

/// What a run does besides training, common to every example.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Where to run.
    pub device: DeviceChoice,
    /// Save the final weights here (safetensors, `config.json` beside).
    pub save: Option<PathBuf>,
    /// Start from these weights (safetensors).
    pub load: Option<PathBuf>,
    /// Only evaluate the loaded weights.
    pub eval_only: bool,
    /// Write the report as JSON here.
    pub metrics_json: Option<PathBuf>,
    /// No progress bars or per-epoch lines.
    pub quiet: bool,
}

/// Number of scalar parameters of a VarStore.
pub fn parameter_count(vs: &tch::nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}
