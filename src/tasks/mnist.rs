//! The tutorial's CNN on MNIST (section 4.1): train, evaluate, report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Device};

use super::{
    checkpointing, optimizer_and_trainer, parameter_count, prepare_weights, save_final, RunOptions,
    TuneConfig,
};
use crate::checkpoint;
use crate::data::mnist::{self, ImageSet, MNIST_MEAN_STD};
use crate::finetune::FinetuneReport;
use crate::metrics::{ClassificationReport, ConfusionMatrix};
use crate::models::{Cnn, CnnConfig};
use crate::optim::OptimConfig;
use crate::split;
use crate::train::{self, EpochRecord, FitOutcome, LoopConfig, Loss, Progress};

/// Everything that determines a cnn_mnist run; written as `config.json`
/// beside a saved checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MnistConfig {
    /// The model's shape options.
    pub model: CnnConfig,
    /// Optimizer settings.
    pub optim: OptimConfig,
    /// Epochs, batch size, seed.
    pub train: LoopConfig,
    /// Folder of the IDX files.
    pub data_dir: PathBuf,
    /// Normalise pixels with MNIST's mean and std (0.1307, 0.3081) after scaling to [0, 1].
    pub normalize: bool,
    /// Train on the first N training images only.
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test images only.
    pub test_limit: Option<usize>,
    /// Keep only these digits (train and test), relabelled `0..len` in this
    /// order; `model.num_classes` must equal their number. Applied before the limits.
    pub digits: Option<Vec<i64>>,
    /// Hold out this fraction of the training images (stratified, seeded) for
    /// validation; the test set is then evaluated only at the end.
    pub val_fraction: Option<f64>,
    /// Fine-tuning, learning-rate schedule, early stopping on the validation
    /// loss (which needs `val_fraction`).
    pub tune: TuneConfig,
}

impl Default for MnistConfig {
    /// The tutorial's values: SGD, lr 0.001, no momentum, 10 epochs; batch 64.
    fn default() -> Self {
        Self {
            model: CnnConfig::default(),
            optim: OptimConfig {
                lr: 0.001,
                ..OptimConfig::default()
            },
            train: LoopConfig {
                epochs: 10,
                batch_size: 64,
                ..LoopConfig::default()
            },
            data_dir: PathBuf::from("data/mnist"),
            normalize: false,
            train_limit: None,
            test_limit: None,
            digits: None,
            val_fraction: None,
            tune: TuneConfig::default(),
        }
    }
}

impl MnistConfig {
    /// Checks the options that depend on each other.
    pub fn validate(&self) -> Result<()> {
        self.optim.validate()?;
        self.train.validate()?;
        self.tune.validate()?;
        if let Some(d) = &self.digits {
            if d.len() as i64 != self.model.num_classes {
                bail!(
                    "--digits lists {} digits but the model has {} classes",
                    d.len(),
                    self.model.num_classes
                );
            }
        }
        if let Some(f) = self.val_fraction {
            if !(f > 0.0 && f < 1.0) {
                bail!("--val-fraction must be in (0, 1), got {f}");
            }
        }
        match self.tune.early_stopping {
            Some(_) if self.val_fraction.is_none() => bail!(
                "--early-stopping watches the validation loss: add --val-fraction (the test set is not for choosing epochs)"
            ),
            _ => Ok(()),
        }
    }
}

/// Parses `--digits`: `0-4`, `5,7,9` or `0-2,8` (each digit at most once).
pub fn parse_digits(text: &str) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let parse = |t: &str| -> Result<i64> {
            match t.parse::<i64>() {
                Ok(d) if (0..=9).contains(&d) => Ok(d),
                _ => bail!("--digits: `{t}` is not a digit 0-9 (use e.g. 0-4 or 5,6,7)"),
            }
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi {
            bail!("--digits: range {part} is empty");
        }
        for d in lo..=hi {
            if out.contains(&d) {
                bail!("--digits lists {d} twice");
            }
            out.push(d);
        }
    }
    if out.len() < 2 {
        bail!("--digits needs at least two digits, got `{text}`");
    }
    Ok(out)
}

/// The result of a run, as printed and written to `--metrics-json`.
#[derive(Debug, Clone, Serialize)]
pub struct MnistReport {
    /// The configuration that produced it.
    pub config: MnistConfig,
    /// Device name.
    pub device: String,
    /// Trainable parameters.
    pub parameters: i64,
    /// Seconds spent reading and decoding the data.
    pub data_seconds: f64,
    /// One record per epoch (empty for `--eval-only`).
    pub epochs: Vec<EpochRecord>,
    /// Mean training seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Mean training samples per second.
    pub samples_per_sec: f64,
    /// Mean test loss.
    pub test_loss: f64,
    /// Accuracy, per-class scores and confusion matrix on the test images.
    pub test: ClassificationReport,
    /// Peak resident memory of the process, MiB.
    pub peak_rss_mb: f64,
    /// Images used for training and validation.
    pub train_images: i64,
    /// Validation images (0 without `--val-fraction`).
    pub val_images: i64,
    /// Validation accuracy of the final (with early stopping: best) weights.
    pub val_accuracy: Option<f64>,
    /// With early stopping: the epoch whose weights were kept.
    pub best_epoch: Option<usize>,
    /// Whether early stopping ended training before `--epochs`.
    pub stopped_early: bool,
    /// What `--init-from`/`--freeze`/`--reset`/`--lr-backbone` did.
    pub finetune: Option<FinetuneReport>,
}

/// Loads MNIST as the configuration asks (limits, normalisation).
pub fn load_data(cfg: &MnistConfig) -> Result<(ImageSet, ImageSet)> {
    let mut data = mnist::load_dir(&cfg.data_dir)?;
    if let Some(digits) = &cfg.digits {
        data.train = data.train.filter_classes(digits);
        data.test = data.test.filter_classes(digits);
    }
    let (mut train, mut test) = (
        data.train.take(cfg.train_limit, "--train-limit")?,
        data.test.take(cfg.test_limit, "--test-limit")?,
    );
    let side = Cnn::IMAGE_SIDE;
    if train.images.size()[2..] != [side, side] {
        bail!(
            "images in {} are {:?} pixels; this CNN expects {side}×{side}",
            cfg.data_dir.display(),
            &train.images.size()[2..]
        );
    }
    if cfg.normalize {
        let (mean, std) = MNIST_MEAN_STD;
        train = train.normalize(mean, std);
        test = test.normalize(mean, std);
    }
    Ok((train, test))
}

/// Test-set classification report of `model`.
pub fn evaluate(
    model: &Cnn,
    test: &ImageSet,
    batch_size: usize,
    device: Device,
    num_classes: i64,
) -> (f64, ClassificationReport) {
    let eval = train::evaluate(
        model,
        &test.images,
        &test.labels,
        batch_size,
        device,
        Loss::CrossEntropy,
    );
    let predicted =
        Vec::<i64>::try_from(eval.outputs.argmax(1, false)).expect("argmax yields int64");
    let truth = Vec::<i64>::try_from(&eval.targets).expect("labels are int64");
    (
        eval.loss,
        ConfusionMatrix::new(&truth, &predicted, num_classes as usize).report(),
    )
}

/// Refuses a checkpoint whose `config.json` describes another model.
fn check_checkpoint_config(path: &Path, model: &CnnConfig) -> Result<()> {
    if let Some(saved) = checkpoint::read_config::<MnistConfig>(path)? {
        if &saved.model != model {
            bail!(
                "{} was saved with model options {:?}, but this run uses {:?} (check --no-logit-relu)",
                checkpoint::config_path(path).display(),
                saved.model,
                model
            );
        }
    }
    Ok(())
}

/// A model trained by [`train_model`].
struct Trained {
    vs: nn::VarStore,
    model: Cnn,
    outcome: FitOutcome,
    finetune: Option<FinetuneReport>,
}

/// Builds the CNN (seeded), applies `--load`/`--resume`/`--init-from`/
/// `--freeze`/`--reset`, and trains it (unless `eval_only`) on `train`,
/// reporting the validation loss and accuracy after every epoch when `val` is
/// given, else the test accuracy (the tutorial's habit, kept as the default).
#[allow(clippy::too_many_arguments)]
fn train_model(
    cfg: &MnistConfig,
    opts: &RunOptions,
    device: Device,
    progress: Progress,
    train_set: &ImageSet,
    val: Option<&ImageSet>,
    test: &ImageSet,
    checkpoints: bool,
) -> Result<Trained> {
    tch::manual_seed(cfg.train.seed as i64);
    let mut vs = nn::VarStore::new(device);
    let model = Cnn::new(&vs.root(), &cfg.model);
    if let Some(path) = opts.resume.as_ref().or(opts.load.as_ref()) {
        check_checkpoint_config(path, &cfg.model)?;
    }
    let (ft, state) = prepare_weights(&mut vs, opts, &cfg.tune.finetune, &cfg.optim, progress)?;
    let mut outcome = FitOutcome {
        history: state.history.clone(),
        best_epoch: None,
        stopped_early: false,
    };
    if !opts.eval_only {
        let (bs, classes) = (cfg.train.batch_size.max(256), cfg.model.num_classes);
        let checkpointing = if checkpoints {
            Some(checkpointing(&vs, opts, "cnn_mnist", cfg)?)
        } else {
            None
        };
        let (mut opt, trainer) = optimizer_and_trainer(
            &vs,
            &cfg.optim,
            &ft,
            &cfg.train,
            &cfg.tune,
            "val loss",
            Loss::CrossEntropy,
            device,
            progress,
            checkpointing,
        )?;
        let (xs, ys) = (
            train_set.images.to_device(device),
            train_set.labels.to_device(device),
        );
        outcome = trainer.fit_full(&model, &mut opt, &xs, &ys, state, |_, _| {
            Ok(match val {
                Some(v) => {
                    let (loss, report) = evaluate(&model, v, bs, device, classes);
                    vec![
                        ("val loss".to_string(), loss),
                        ("val acc".to_string(), report.accuracy),
                    ]
                }
                None => {
                    let (_, report) = evaluate(&model, test, bs, device, classes);
                    vec![("test acc".to_string(), report.accuracy)]
                }
            })
        })?;
    }
    Ok(Trained {
        vs,
        model,
        outcome,
        finetune: cfg.tune.finetune.is_active().then_some(ft),
    })
}

/// Splits the training images into `(train, val)` as `--val-fraction` asks.
pub fn split_train(cfg: &MnistConfig, train: ImageSet) -> Result<(ImageSet, Option<ImageSet>)> {
    match cfg.val_fraction {
        None => Ok((train, None)),
        Some(f) => {
            let (t, v) = split::stratified_split(&train.label_vec(), f, cfg.train.seed)?;
            Ok((train.select(&t), Some(train.select(&v))))
        }
    }
}

fn to_device(set: ImageSet, device: Device) -> ImageSet {
    ImageSet {
        images: set.images.to_device(device),
        labels: set.labels.to_device(device),
    }
}

/// Trains (unless `eval_only`) and evaluates the CNN. With `opts.resume` the
/// configuration, weights and position come from that checkpoint.
pub fn run(cfg: &MnistConfig, opts: &RunOptions) -> Result<MnistReport> {
    let cfg = &opts.resolve_config(cfg)?;
    cfg.validate()?;
    let device = opts.device.resolve()?;
    let progress = Progress { quiet: opts.quiet };

    let t0 = Instant::now();
    let (train_all, test_set) = load_data(cfg)?;
    let train_images = train_all.len();
    let (train_set, val_set) = split_train(cfg, train_all)?;
    // The whole data set lives on the run's device; batches are slices of it.
    let train_set = to_device(train_set, device);
    let val_set = val_set.map(|v| to_device(v, device));
    let test_set = to_device(test_set, device);
    let data_seconds = t0.elapsed().as_secs_f64();

    progress.line(format!(
        "cnn_mnist: {} train / {} validation / {} test images{}, {} on {}",
        train_set.len(),
        val_set.as_ref().map_or(0, ImageSet::len),
        test_set.len(),
        cfg.digits.as_ref().map_or(String::new(), |d| format!(
            " (digits {d:?} as classes 0..{})",
            d.len()
        )),
        if opts.eval_only {
            "evaluating"
        } else {
            "training"
        },
        crate::device::name(device)
    ));
    let Trained {
        vs,
        model,
        outcome,
        finetune,
    } = train_model(
        cfg,
        opts,
        device,
        progress,
        &train_set,
        val_set.as_ref(),
        &test_set,
        true,
    )?;
    let bs = cfg.train.batch_size.max(256);
    let val_accuracy = val_set.as_ref().map(|v| {
        evaluate(&model, v, bs, device, cfg.model.num_classes)
            .1
            .accuracy
    });
    let (test_loss, test) = evaluate(&model, &test_set, bs, device, cfg.model.num_classes);
    let epochs = outcome.history.clone();

    save_final(&vs, opts, cfg, &epochs, progress)?;
    let n = epochs.len().max(1) as f64;
    let report = MnistReport {
        config: cfg.clone(),
        device: crate::device::name(device),
        parameters: parameter_count(&vs),
        data_seconds,
        seconds_per_epoch: epochs.iter().map(|e| e.train_seconds).sum::<f64>() / n,
        samples_per_sec: epochs.iter().map(|e| e.samples_per_sec).sum::<f64>() / n,
        epochs,
        test_loss,
        test,
        peak_rss_mb: crate::metrics::peak_rss_mb(),
        train_images,
        val_images: val_set.as_ref().map_or(0, ImageSet::len),
        val_accuracy,
        best_epoch: outcome.best_epoch,
        stopped_early: outcome.stopped_early,
        finetune,
    };
    if let Some(path) = &opts.metrics_json {
        checkpoint::write_json(path, &report)?;
    }
    Ok(report)
}

/// One fold of [`run_kfold`].
#[derive(Debug, Clone, Serialize)]
pub struct FoldResult {
    /// 0-based fold number.
    pub fold: usize,
    /// Training images.
    pub train_images: usize,
    /// Held-out images.
    pub val_images: usize,
    /// Accuracy on the held-out fold.
    pub val_accuracy: f64,
    /// Loss on the held-out fold.
    pub val_loss: f64,
    /// With early stopping: the epoch kept.
    pub best_epoch: Option<usize>,
}

/// The result of `--kfold K`.
#[derive(Debug, Clone, Serialize)]
pub struct KfoldReport {
    /// The configuration.
    pub config: MnistConfig,
    /// Number of folds.
    pub k: usize,
    /// Every fold.
    pub folds: Vec<FoldResult>,
    /// Mean held-out accuracy.
    pub mean_accuracy: f64,
    /// Sample standard deviation of the held-out accuracy.
    pub std_accuracy: f64,
}

/// Stratified `k`-fold cross-validation over the training images (after
/// `--digits` and `--train-limit`): each fold trains a fresh, same-seed model
/// on the other folds and is scored on its own. The test set is not touched.
/// With `--early-stopping` the held-out fold is also the one that picks the
/// epoch (slightly optimistic; said in the notes).
pub fn run_kfold(cfg: &MnistConfig, opts: &RunOptions, k: usize) -> Result<KfoldReport> {
    cfg.validate_kfold()?;
    if opts.resume.is_some() || opts.eval_only || opts.save.is_some() {
        bail!("--kfold trains K fresh models: it does not combine with --resume, --eval-only or --save");
    }
    let device = opts.device.resolve()?;
    let progress = Progress { quiet: opts.quiet };
    let (train_all, test_set) = load_data(cfg)?;
    let folds = split::stratified_kfold(&train_all.label_vec(), k, cfg.train.seed)?;
    let test_set = to_device(test_set, device);
    let mut results = Vec::new();
    for (i, held) in folds.iter().enumerate() {
        let train_idx = split::complement(&folds, i);
        let train_set = to_device(train_all.select(&train_idx), device);
        let val_set = to_device(train_all.select(held), device);
        progress.line(format!(
            "fold {}/{k}: {} train / {} held-out images",
            i + 1,
            train_set.len(),
            val_set.len()
        ));
        let trained = train_model(
            cfg,
            opts,
            device,
            progress,
            &train_set,
            Some(&val_set),
            &test_set,
            false,
        )?;
        let (val_loss, rep) = evaluate(
            &trained.model,
            &val_set,
            cfg.train.batch_size.max(256),
            device,
            cfg.model.num_classes,
        );
        progress.line(format!(
            "fold {}/{k}: held-out accuracy {:.4}",
            i + 1,
            rep.accuracy
        ));
        results.push(FoldResult {
            fold: i,
            train_images: train_idx.len(),
            val_images: held.len(),
            val_accuracy: rep.accuracy,
            val_loss,
            best_epoch: trained.outcome.best_epoch,
        });
    }
    let accs: Vec<f64> = results.iter().map(|r| r.val_accuracy).collect();
    let (mean, std) = split::mean_std(&accs);
    let report = KfoldReport {
        config: cfg.clone(),
        k,
        folds: results,
        mean_accuracy: mean,
        std_accuracy: std,
    };
    if let Some(path) = &opts.metrics_json {
        checkpoint::write_json(path, &report)?;
    }
    Ok(report)
}

impl MnistConfig {
    /// [`MnistConfig::validate`] for `--kfold`, where the folds are the validation sets.
    fn validate_kfold(&self) -> Result<()> {
        if self.val_fraction.is_some() {
            bail!("--kfold holds out each fold in turn: drop --val-fraction");
        }
        let mut with_val = self.clone();
        with_val.val_fraction = Some(0.5);
        with_val.validate()
    }
}

/// Prints the per-fold accuracies and their mean ± standard deviation.
pub fn print_kfold(r: &KfoldReport) {
    println!(
        "\n== cnn_mnist {}-fold cross-validation (stratified) ==",
        r.k
    );
    println!("fold  train  held-out  accuracy  best epoch");
    for f in &r.folds {
        println!(
            "{:>4}  {:>5}  {:>8}  {:>7.2}%  {}",
            f.fold + 1,
            f.train_images,
            f.val_images,
            100.0 * f.val_accuracy,
            f.best_epoch.map_or("-".to_string(), |e| e.to_string())
        );
    }
    println!(
        "mean ± std (sample) accuracy: {:.2}% ± {:.2}%",
        100.0 * r.mean_accuracy,
        100.0 * r.std_accuracy
    );
}

/// The end-of-run summary: accuracy, macro scores, confusion matrix, speed.
pub fn print_report(r: &MnistReport) {
    println!("\n== cnn_mnist report ({}) ==", r.device);
    println!(
        "test accuracy     {:.2}%  ({} images)",
        100.0 * r.test.accuracy,
        r.test.macro_avg.support
    );
    println!(
        "macro precision   {:.4}   recall {:.4}   F1 {:.4}",
        r.test.macro_avg.precision, r.test.macro_avg.recall, r.test.macro_avg.f1
    );
    println!("test loss         {:.4}", r.test_loss);
    if let Some(acc) = r.val_accuracy {
        println!(
            "val accuracy      {:.2}%  ({} images{})",
            100.0 * acc,
            r.val_images,
            r.best_epoch
                .map_or(String::new(), |e| format!(", weights of epoch {e}"))
        );
    }
    if !r.epochs.is_empty() {
        println!(
            "seconds / epoch   {:.2}   ({:.0} samples/s)",
            r.seconds_per_epoch, r.samples_per_sec
        );
    }
    println!("\nconfusion matrix (rows: true digit, columns: predicted)\n");
    print!(
        "{}",
        ConfusionMatrix {
            counts: r.test.confusion.clone()
        }
    );
    println!("\nper class:  class  precision  recall     F1  support");
    for (c, s) in r.test.per_class.iter().enumerate() {
        println!(
            "            {c:>5}  {:>9.4}  {:>6.4}  {:>5.4}  {:>7}",
            s.precision, s.recall, s.f1, s.support
        );
    }
}
