//! Cross-validation on the one run path: `--folds K` (cnn_mnist, stratified
//! K-fold over the training images) and `--folds K` (the series examples,
//! rolling-origin evaluation: K expanding training windows, each scored on the
//! block right after it; Hyndman & Athanasopoulos, *Forecasting: Principles
//! and Practice*, §5.10 "time series cross-validation").
//!
//! Each fold trains a fresh, same-seed model with the run's settings (no
//! checkpoints); the test set is not touched.

use anyhow::{bail, Result};
use serde::Serialize;

use super::{Built, CrossValidation, RunOptions, Task, TaskConfig, Trained};
use crate::train::Progress;

/// One fold's result.
#[derive(Debug, Clone, Serialize)]
pub struct FoldResult {
    /// 1-based fold number.
    pub fold: usize,
    /// Training samples of the fold.
    pub train_samples: usize,
    /// Held-out samples scored.
    pub held_out_samples: usize,
    /// The fold's score (see `metric`).
    pub score: f64,
    /// Epochs trained.
    pub epochs: usize,
    /// With early stopping: the epoch kept.
    pub best_epoch: Option<usize>,
}

/// The result of `--folds K`, printed and written to `--metrics-json`.
#[derive(Debug, Clone, Serialize)]
pub struct CrossValidationReport<C> {
    /// The configuration.
    pub config: C,
    /// The example.
    pub example: String,
    /// Number of folds.
    pub k: usize,
    /// What each fold's score measures (`held-out accuracy`, `held-out RMSE`).
    pub metric: String,
    /// Every fold, in order.
    pub folds: Vec<FoldResult>,
    /// Mean of the fold scores.
    pub mean: f64,
    /// Sample standard deviation of the fold scores (n − 1; 0 for one fold).
    pub std: f64,
}

/// Trains one fresh model per fold of the task's [`CrossValidation`] and
/// scores it on the fold's held-out part. Refuses `--resume`, `--eval-only` and `--save`,
/// which name one model.
pub fn run<T: Task>(
    task: &T,
    cfg: &T::Config,
    opts: &RunOptions,
    k: usize,
) -> Result<CrossValidationReport<T::Config>> {
    if opts.resume.is_some() || opts.eval_only || opts.save.is_some() {
        bail!(
            "cross-validation trains {k} fresh models: it does not combine with --resume, \
             --eval-only or --save"
        );
    }
    let Some(cv) = task.cross_validation() else {
        bail!("{} has no cross-validation: drop --folds", T::NAME);
    };
    if k < 2 {
        bail!("cross-validation needs at least 2 folds, got {k}");
    }
    let progress = Progress { quiet: opts.quiet };
    let cfg = &super::saved::resolve(cfg, opts, progress)?;
    cfg.validate_folds()?;
    let device = opts.device.resolve()?;
    let data = task.load_data(cfg, device, true)?;
    let mut folds = Vec::with_capacity(k);
    for (i, fold) in cv.folds(cfg, &data, k)?.iter().enumerate() {
        progress.line(format!("fold {}/{k}: {}", i + 1, task.describe(cfg, fold)));
        let result = train_fold((task, cv), cfg, opts, fold, i + 1)?;
        progress.line(format!(
            "fold {}/{k}: {} {:.4}",
            i + 1,
            cv.fold_metric(),
            result.score
        ));
        folds.push(result);
    }
    let scores: Vec<f64> = folds.iter().map(|f| f.score).collect();
    let (mean, std) = crate::split::mean_std(&scores);
    let report = CrossValidationReport {
        config: cfg.clone(),
        example: T::NAME.to_string(),
        k,
        metric: cv.fold_metric().to_string(),
        folds,
        mean,
        std,
    };
    if let Some(path) = &opts.metrics_json {
        crate::io::write_metrics_json(path, &report)?;
    }
    Ok(report)
}

/// Trains a fresh model on `fold`'s training part and scores it.
fn train_fold<T: Task>(
    (task, cv): (&T, &dyn CrossValidation<T>),
    cfg: &T::Config,
    opts: &RunOptions,
    fold: &T::Data,
    number: usize,
) -> Result<FoldResult> {
    let (built, state) = Built::new(task, cfg, opts, opts.device.resolve()?)?;
    let (outcome, _) = built.fit(task, cfg, fold, state, opts, false)?;
    let (held_out_samples, score) = cv.fold_score(&Trained {
        cfg,
        model: &built.model,
        data: fold,
        device: built.device,
        progress: built.progress,
        history: &outcome.history,
    })?;
    let train_samples = task.batches(cfg, fold, built.device).num_samples();
    Ok(FoldResult {
        fold: number,
        train_samples,
        held_out_samples,
        score,
        epochs: outcome.history.len(),
        best_epoch: outcome.best_epoch,
    })
}

/// Prints the per-fold scores and their mean ± standard deviation.
pub fn print<C>(r: &CrossValidationReport<C>) {
    println!("\n== {} {}-fold cross-validation ==", r.example, r.k);
    println!(
        "fold  train  held-out  {:>18}  epochs  best epoch",
        r.metric
    );
    for f in &r.folds {
        println!(
            "{:>4}  {:>5}  {:>8}  {:>18.4}  {:>6}  {}",
            f.fold,
            f.train_samples,
            f.held_out_samples,
            f.score,
            f.epochs,
            f.best_epoch.map_or("-".to_string(), |e| e.to_string())
        );
    }
    println!(
        "{} over {} folds: mean {:.4} ± {:.4} (sample std)",
        r.metric, r.k, r.mean, r.std
    );
}
