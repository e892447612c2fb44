//! The tutorial's CNN on MNIST (section 4.1): train, evaluate, report.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use crate::data::mnist::{self, ImageSet, MNIST_MEAN_STD};
use crate::metrics::{ClassificationReport, ConfusionMatrix};
use crate::models::{Cnn, CnnConfig};
use crate::optim::OptimConfig;
use crate::session::{RunReport, Task, TaskConfig, Trained, TuneConfig};
use crate::split;
use crate::train::{self, LoopConfig, Loss};

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
    /// Folder of the IDX files (or of MNIST as CSV, see `data::mnist::csv_files`).
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
    /// Names of the classes, label 0 first (`--class-names`); `None`: the
    /// digits (those of `digits`, or 0–9).
    pub class_names: Option<Vec<String>>,
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
            class_names: None,
            tune: TuneConfig::default(),
        }
    }
}

impl TaskConfig for MnistConfig {
    fn optim(&self) -> &OptimConfig {
        &self.optim
    }

    fn train(&self) -> &LoopConfig {
        &self.train
    }

    fn tune(&self) -> &TuneConfig {
        &self.tune
    }

    fn validate_folds(&self) -> Result<()> {
        self.check_kfold()
    }

    fn input_differences(&self, saved: &Self) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        if saved.normalize != self.normalize {
            out.push((
                "--normalize",
                self.normalize.to_string(),
                saved.normalize.to_string(),
            ));
        }
        if saved.digits != self.digits {
            let show = |d: &Option<Vec<i64>>| {
                d.as_ref()
                    .map_or("0-9 (all)".to_string(), |d| format!("{d:?}"))
            };
            out.push(("--digits", show(&self.digits), show(&saved.digits)));
        }
        if saved.class_names.is_some() && saved.class_names != self.class_names {
            let show =
                |n: &Option<Vec<String>>| n.as_ref().map_or("(digits)".into(), |n| n.join(","));
            out.push((
                "--class-names",
                show(&self.class_names),
                show(&saved.class_names),
            ));
        }
        out
    }

    fn adopt_inputs(&mut self, saved: &Self) {
        self.normalize = saved.normalize;
        if saved.class_names.is_some() {
            self.class_names = saved.class_names.clone();
        }
        self.digits = saved.digits.clone();
        if let Some(d) = &self.digits {
            self.model.num_classes = d.len() as i64;
        }
    }

    fn model_flags(&self) -> &'static [&'static str] {
        &["--no-logit-relu"]
    }

    fn adopt_model(&mut self, saved: &Self) {
        self.model = saved.model.clone();
    }

    fn model_mismatch(&self, saved: &Self) -> Option<String> {
        (saved.model != self.model).then(|| {
            format!(
                "{:?}, but this run uses {:?} (check --no-logit-relu and --digits)",
                saved.model, self.model
            )
        })
    }

    /// Checks the options that depend on each other.
    fn validate(&self) -> Result<()> {
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
        if let Some(names) = &self.class_names {
            if names.len() as i64 != self.model.num_classes {
                bail!(
                    "--class-names gives {} names but the model has {} classes",
                    names.len(),
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

/// The data of a run: training, validation (`--val-fraction`) and test
/// images, on the run's device.
#[derive(Debug)]
pub struct MnistData {
    /// Training images (after `--digits`, `--train-limit`, the validation split).
    pub train: ImageSet,
    /// Validation images (`--val-fraction`, or the held-out fold).
    pub val: Option<ImageSet>,
    /// Test images.
    pub test: ImageSet,
    /// Which files of which layout were read (see `MnistFiles::notes`).
    pub notes: Vec<String>,
}

/// What cnn_mnist reports beyond the shared summary.
#[derive(Debug, Clone, Serialize)]
pub struct MnistResults {
    /// Images used for training and validation.
    pub train_images: i64,
    /// Validation images (0 without `--val-fraction`).
    pub val_images: i64,
    /// Validation accuracy of the final (with early stopping: best) weights.
    pub val_accuracy: Option<f64>,
    /// Accuracy, per-class scores and confusion matrix on the test images.
    pub test: ClassificationReport,
    /// The class names, label 0 first (rows and columns of the confusion matrix).
    pub class_names: Vec<String>,
}

/// The report of a cnn_mnist run.
pub type MnistReport = RunReport<MnistConfig, MnistResults>;

/// The CNN behind the pixel pipeline: uint8 batches `[n, 1, 28, 28]` (the
/// data sets stay uint8, see [`ImageSet`]) are scaled to [0, 1] and, with
/// `--normalize`, standardised with MNIST's mean and std, batch by batch, then
/// go through the CNN; float inputs (already prepared, e.g. by `--predict`)
/// go straight to the CNN. Adds no variables: its names are the CNN's.
#[derive(Debug)]
pub struct MnistModel {
    /// The tutorial's CNN.
    pub cnn: Cnn,
    /// `(mean, std)` of `--normalize`.
    pub normalize: Option<(f64, f64)>,
}

impl MnistModel {
    /// The CNN of `cfg` under `p`, with its input pipeline.
    pub fn new(p: &nn::Path, cfg: &MnistConfig) -> Self {
        Self {
            cnn: Cnn::new(p, &cfg.model),
            normalize: cfg.normalize.then_some(MNIST_MEAN_STD),
        }
    }
}

impl nn::ModuleT for MnistModel {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        if xs.kind() != tch::Kind::Uint8 {
            return self.cnn.forward_t(xs, train);
        }
        let x = mnist::pixels_to_float(xs); // [n, 1, 28, 28] in [0, 1]
        self.cnn
            .forward_t(&mnist::normalize(&x, self.normalize), train)
    }
}

/// Loads MNIST as the configuration asks (digits, limits), on the
/// CPU: `(train, test, notes)`. Without `training` only the two test files are
/// read and the training set is empty.
pub fn load_data(cfg: &MnistConfig, training: bool) -> Result<(ImageSet, ImageSet, Vec<String>)> {
    let (mut train, mut test, notes) = if training {
        let data = mnist::load_dir(&cfg.data_dir)?;
        (data.train, data.test, data.notes)
    } else {
        let (test, notes) = mnist::load_test(&cfg.data_dir)?;
        (test.select(&[]), test, notes)
    };
    if let Some(digits) = &cfg.digits {
        train = train.filter_classes(digits);
        test = test.filter_classes(digits);
    }
    let (train, test) = (
        // --eval-only reads no training images: --train-limit does not apply.
        train.take(cfg.train_limit.filter(|_| training), "--train-limit")?,
        test.take(cfg.test_limit, "--test-limit")?,
    );
    let side = Cnn::IMAGE_SIDE;
    if test.images.size()[2..] != [side, side] {
        bail!(
            "images in {} are {:?} pixels; this CNN expects {side}×{side}",
            cfg.data_dir.display(),
            &test.images.size()[2..]
        );
    }
    Ok((train, test, notes))
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

/// The loss and classification report of `model` on `set`, every image
/// included (batches of at least 256).
pub fn evaluate(
    model: &MnistModel,
    set: &ImageSet,
    cfg: &MnistConfig,
    device: Device,
) -> (f64, ClassificationReport) {
    let bs = cfg.train.batch_size.max(256);
    let eval = train::evaluate(
        model,
        &set.images,
        &set.labels,
        bs,
        device,
        Loss::CrossEntropy,
    );
    let predicted = Vec::<i64>::try_from(eval.outputs.argmax(1, false)).unwrap_or_default();
    let truth = Vec::<i64>::try_from(&eval.targets).unwrap_or_default();
    (
        eval.loss,
        ConfusionMatrix::new(&truth, &predicted, cfg.model.num_classes as usize).report(),
    )
}

fn to_device(set: ImageSet, device: Device) -> ImageSet {
    ImageSet {
        images: set.images.to_device(device),
        labels: set.labels.to_device(device),
    }
}

/// The cnn_mnist example on the shared run path.
#[derive(Debug, Clone, Copy, Default)]
pub struct CnnMnist;

impl Task for CnnMnist {
    const NAME: &'static str = "cnn_mnist";
    type Config = MnistConfig;
    type Data = MnistData;
    type Model = MnistModel;
    type Results = MnistResults;

    fn load_data(&self, cfg: &MnistConfig, device: Device, training: bool) -> Result<MnistData> {
        let (train, test, notes) = load_data(cfg, training)?;
        let (train, val) = split_train(cfg, train)?;
        // The whole data set lives on the run's device; batches are slices of it.
        Ok(MnistData {
            train: to_device(train, device),
            val: val.map(|v| to_device(v, device)),
            test: to_device(test, device),
            notes,
        })
    }

    fn data_notes(&self, data: &MnistData) -> Vec<String> {
        data.notes.clone()
    }

    fn describe(&self, cfg: &MnistConfig, data: &MnistData) -> String {
        format!(
            "{} train / {} validation / {} test images{}",
            data.train.len(),
            data.val.as_ref().map_or(0, ImageSet::len),
            data.test.len(),
            cfg.digits.as_ref().map_or(String::new(), |d| format!(
                " (digits {d:?} as classes 0..{})",
                d.len()
            )),
        )
    }

    fn build_model(&self, p: &nn::Path, cfg: &MnistConfig) -> MnistModel {
        MnistModel::new(p, cfg)
    }

    fn training_set<'d>(&self, data: &'d MnistData) -> (&'d Tensor, &'d Tensor) {
        (&data.train.images, &data.train.labels)
    }

    fn loss(&self) -> Loss {
        Loss::CrossEntropy
    }

    fn early_metric(&self) -> &'static str {
        "val loss"
    }

    /// The validation loss and accuracy with `--val-fraction`, else the test
    /// accuracy (the tutorial's habit, kept as the default).
    fn after_epoch(&self, t: &Trained<'_, Self>) -> Result<Vec<(String, f64)>> {
        Ok(match &t.data.val {
            Some(v) => {
                let (loss, report) = evaluate(t.model, v, t.cfg, t.device);
                vec![
                    ("val loss".to_string(), loss),
                    ("val acc".to_string(), report.accuracy),
                ]
            }
            None => {
                let (_, report) = evaluate(t.model, &t.data.test, t.cfg, t.device);
                vec![("test acc".to_string(), report.accuracy)]
            }
        })
    }

    fn evaluate(&self, t: &Trained<'_, Self>) -> Result<(f64, MnistResults)> {
        let val = t.data.val.as_ref();
        let val_accuracy = val.map(|v| evaluate(t.model, v, t.cfg, t.device).1.accuracy);
        let (test_loss, test) = evaluate(t.model, &t.data.test, t.cfg, t.device);
        let val_images = val.map_or(0, ImageSet::len);
        Ok((
            test_loss,
            MnistResults {
                train_images: t.data.train.len() + val_images,
                val_images,
                val_accuracy,
                test,
                class_names: t.cfg.names(),
            },
        ))
    }

    fn print(&self, r: &MnistReport) {
        print_report(r);
    }

    /// Stratified K-fold over the training images (after `--digits` and
    /// `--train-limit`), seeded by `--seed`.
    fn folds(&self, cfg: &MnistConfig, data: &MnistData, k: usize) -> Result<Vec<MnistData>> {
        let all = &data.train;
        let folds = split::stratified_kfold(&all.label_vec(), k, cfg.train.seed)?;
        Ok((0..k)
            .map(|i| MnistData {
                train: all.select(&split::complement(&folds, i)),
                val: Some(all.select(&folds[i])),
                test: data.test.select(&[]),
                notes: Vec::new(),
            })
            .collect())
    }

    fn fold_score(&self, t: &Trained<'_, Self>) -> Result<(usize, f64)> {
        let Some(held) = &t.data.val else {
            bail!("a fold has no held-out images");
        };
        let (_, report) = evaluate(t.model, held, t.cfg, t.device);
        Ok((held.len() as usize, report.accuracy))
    }

    fn fold_metric(&self) -> &'static str {
        "held-out accuracy"
    }
}

impl MnistConfig {
    /// The class names in force: `--class-names`, else the digits.
    pub fn names(&self) -> Vec<String> {
        self.class_names
            .clone()
            .unwrap_or_else(|| mnist::digit_names(self.digits.as_deref()))
    }

    /// [`TaskConfig::validate`] for `--kfold`, where the folds are the validation sets.
    fn check_kfold(&self) -> Result<()> {
        if self.val_fraction.is_some() {
            bail!("--kfold holds out each fold in turn: drop --val-fraction");
        }
        let mut with_val = self.clone();
        with_val.val_fraction = Some(0.5);
        with_val.validate()
    }
}

/// Trains (unless `--eval-only`) and evaluates the CNN on the shared run path.
pub fn run(cfg: &MnistConfig, opts: &crate::session::RunOptions) -> Result<MnistReport> {
    crate::session::run(&CnnMnist, cfg, opts)
}

/// What `--predict` reports: the predictions and the configuration used.
#[derive(Debug, Clone, Serialize)]
pub struct PredictionReport {
    /// The model's configuration (from the checkpoint's `config.json`).
    pub config: MnistConfig,
    /// Every prediction, skipped file and summary.
    #[serde(flatten)]
    pub predict: crate::predict::PredictReport,
}

/// Classifies the image files of `predict` with the model of `--load` (no
/// training data is read): preprocessing, the checkpoint's normalisation and
/// class names; prints one line per image and a summary, writes
/// `--metrics-json` with the `predictions` list.
pub fn predict(
    cfg: &MnistConfig,
    opts: &crate::session::RunOptions,
    predict: &crate::predict::PredictConfig,
) -> Result<PredictionReport> {
    let loaded = crate::session::load_for_use(&CnnMnist, cfg, opts, "--predict")?;
    let cfg = loaded.cfg;
    let mut predict = predict.clone();
    predict.class_names = Some(predict.class_names.unwrap_or_else(|| cfg.names()));
    let info = crate::predict::ModelInfo {
        num_classes: cfg.model.num_classes,
        normalize: loaded.model.normalize,
        device: loaded.device,
    };
    let report = PredictionReport {
        predict: crate::predict::predict_paths(&loaded.model, &predict, &info)?,
        config: cfg,
    };
    if let Some(path) = &opts.metrics_json {
        crate::checkpoint::write_json(path, &report)?;
    }
    Ok(report)
}

/// The end-of-run summary: accuracy, macro scores, confusion matrix, speed.
pub fn print_report(r: &MnistReport) {
    let (s, t) = (&r.summary, &r.results);
    println!("\n== cnn_mnist report ({}) ==", s.device);
    println!(
        "test accuracy     {:.2}%  ({} images)",
        100.0 * t.test.accuracy,
        t.test.macro_avg.support
    );
    println!(
        "macro precision   {:.4}   recall {:.4}   F1 {:.4}",
        t.test.macro_avg.precision, t.test.macro_avg.recall, t.test.macro_avg.f1
    );
    println!("test loss         {:.4}", s.test_loss);
    if let Some(acc) = t.val_accuracy {
        println!(
            "val accuracy      {:.2}%  ({} images{})",
            100.0 * acc,
            t.val_images,
            s.best_epoch
                .map_or(String::new(), |e| format!(", weights of epoch {e}"))
        );
    }
    if let Some(line) = s.speed_line("samples") {
        println!("{line}");
    }
    let noun = mnist::class_noun(&t.class_names);
    println!("\nconfusion matrix (rows: true {noun}, columns: predicted)\n");
    if !mnist::names_are_digits(&t.class_names) {
        for (c, name) in t.class_names.iter().enumerate() {
            println!("  {c:>2} = {name}");
        }
        println!();
    }
    print!(
        "{}",
        ConfusionMatrix {
            counts: t.test.confusion.clone()
        }
    );
    println!(
        "\nper {noun}:  {:>14}  precision  recall     F1  support",
        noun
    );
    for (c, s) in t.test.per_class.iter().enumerate() {
        let name = t.class_names.get(c).map_or("?", String::as_str);
        println!(
            "          {name:>20}  {:>9.4}  {:>6.4}  {:>5.4}  {:>7}",
            s.precision, s.recall, s.f1, s.support
        );
    }
}
