//! `--predict`: a trained CNN on the user's image files.

use anyhow::Result;
use serde::Serialize;

use super::*;

/// What `--predict` reports: the predictions and the configuration used.
#[derive(Debug, Clone, Serialize)]
pub struct PredictionReport {
    /// The model's configuration (from the checkpoint's `config.json`).
    pub config: Config,
    /// Every prediction, skipped file and summary.
    #[serde(flatten)]
    pub predict: crate::predict::PredictReport,
}

/// Classifies the image files of `predict` with the model of `--load` (no
/// training data is read): preprocessing, the checkpoint's normalisation and
/// class names; prints one line per image and a summary, writes
/// `--metrics-json` with the `predictions` list.
pub fn predict(
    cfg: &Config,
    opts: &crate::session::RunOptions,
    predict: &crate::predict::PredictConfig,
) -> Result<PredictionReport> {
    let loaded = crate::session::load_for_use(&CnnMnist, cfg, opts, "--predict")?;
    let cfg = loaded.cfg;
    let mut predict = predict.clone();
    predict.class_names = Some(predict.class_names.unwrap_or_else(|| cfg.names()));
    let info = crate::predict::ModelInfo {
        num_classes: cfg.model.num_classes,
        normalize: cfg.normalize.then_some(crate::data::mnist::MNIST_MEAN_STD),
        device: loaded.device,
    };
    let report = PredictionReport {
        predict: crate::predict::predict_paths(&loaded.model, &predict, &info)?,
        config: cfg,
    };
    if let Some(path) = &opts.metrics_json {
        crate::io::write_metrics_json(path, &report)?;
    }
    Ok(report)
}
