//! The tutorial's CNN on MNIST (section 4.1): train, evaluate, report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Device};

use super::{parameter_count, RunOptions};
use crate::checkpoint;
use crate::data::mnist::{self, ImageSet, MNIST_MEAN_STD};
use crate::metrics::{ClassificationReport, ConfusionMatrix};
use crate::models::{Cnn, CnnConfig};
use crate::optim::{OptimConfig, OptimizerKind};
use crate::train::{
    self, Checkpointing, EpochRecord, LoopConfig, Loss, Progress, TrainState, Trainer,
};

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
        }
    }
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
}

/// Loads MNIST as the configuration asks (limits, normalisation).
pub fn load_data(cfg: &MnistConfig) -> Result<(ImageSet, ImageSet)> {
    let data = mnist::load_dir(&cfg.data_dir)?;
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

/// Trains (unless `eval_only`) and evaluates the CNN. With `opts.resume` the
/// configuration, weights and position come from that checkpoint.
pub fn run(cfg: &MnistConfig, opts: &RunOptions) -> Result<MnistReport> {
    let cfg = &opts.resolve_config(cfg)?;
    cfg.optim.validate()?;
    cfg.train.validate()?;
    let device = opts.device.resolve()?;
    let progress = Progress { quiet: opts.quiet };
    tch::manual_seed(cfg.train.seed as i64);

    let t0 = Instant::now();
    let (train_set, test_set) = load_data(cfg)?;
    // The whole data set lives on the run's device; batches are slices of it.
    let (train_x, train_y) = (
        train_set.images.to_device(device),
        train_set.labels.to_device(device),
    );
    let test_set = ImageSet {
        images: test_set.images.to_device(device),
        labels: test_set.labels.to_device(device),
    };
    let data_seconds = t0.elapsed().as_secs_f64();

    let mut vs = nn::VarStore::new(device);
    let model = Cnn::new(&vs.root(), &cfg.model);
    let mut state = TrainState::default();
    if let Some(path) = opts.resume.as_ref().or(opts.load.as_ref()) {
        check_checkpoint_config(path, &cfg.model)?;
        checkpoint::load(&mut vs, path)?;
        progress.line(format!("loaded {}", path.display()));
    }
    if let Some(path) = &opts.resume {
        state = TrainState::read(path)?;
        progress.line(format!(
            "resuming at epoch {} step {} of {} (configuration from {})",
            state.epochs_done + 1,
            state.steps_done,
            cfg.train.epochs,
            checkpoint::config_path(path).display()
        ));
        if cfg.optim.momentum > 0.0 || cfg.optim.optimizer == OptimizerKind::Adam {
            progress.line("note: momentum buffers / Adam moments are not checkpointed; they restart from zero");
        }
    }
    progress.line(format!(
        "cnn_mnist: {} train / {} test images, {} parameters, {} on {}",
        train_set.len(),
        test_set.len(),
        parameter_count(&vs),
        if opts.eval_only {
            "evaluating"
        } else {
            "training"
        },
        crate::device::name(device)
    ));

    let mut epochs = state.history.clone();
    if !opts.eval_only {
        let mut opt = cfg.optim.build(&vs)?;
        let (bs, classes) = (cfg.train.batch_size, cfg.model.num_classes);
        let checkpointing = Checkpointing {
            vs: &vs,
            path: opts.checkpoint_path("cnn_mnist"),
            every: opts.checkpoint_every.unwrap_or(0),
            config: serde_json::to_value(cfg).context("cannot serialise the configuration")?,
        };
        let trainer = Trainer::new(&cfg.train, Loss::CrossEntropy, device, progress)
            .with_checkpointing(Some(checkpointing));
        epochs = trainer.fit(&model, &mut opt, &train_x, &train_y, state, |_, _| {
            let (_, report) = evaluate(&model, &test_set, bs.max(256), device, classes);
            Ok(vec![("test acc".to_string(), report.accuracy)])
        })?;
    }
    let (test_loss, test) = evaluate(
        &model,
        &test_set,
        cfg.train.batch_size.max(256),
        device,
        cfg.model.num_classes,
    );

    // A resumed run saves where it resumed from unless told otherwise.
    if let Some(path) = opts.save.as_ref().or(opts.resume.as_ref()) {
        checkpoint::save_with_config(&vs, path, cfg)?;
        let done = TrainState {
            epochs_done: epochs.len(),
            history: epochs.clone(),
            ..TrainState::default()
        };
        checkpoint::write_json(&TrainState::path(path), &done)?;
        progress.line(format!(
            "saved {} and {}",
            path.display(),
            checkpoint::config_path(path).display()
        ));
    }
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
    };
    if let Some(path) = &opts.metrics_json {
        checkpoint::write_json(path, &report)?;
    }
    Ok(report)
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
