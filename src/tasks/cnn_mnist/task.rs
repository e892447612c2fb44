//! cnn_mnist on the shared run path: data, model, scoring.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tch::nn;
use tch::{Device, Tensor};

use super::*;
use crate::data::mnist::{self, ImageSet};
use crate::metrics::{ClassificationReport, ConfusionMatrix};
use crate::models::{Cnn, MnistModel};
use crate::session::{CrossValidation, RunReport, Task, Trained};
use crate::split;
use crate::torchscript::TraceInput;
use crate::train::{self, Batch, Loss, Sampler, ShuffledPairs};

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
pub type MnistReport = RunReport<Config, MnistResults>;

/// Loads MNIST as the configuration asks (digits, limits), on the
/// CPU: `(train, test, notes)`. Without `training` only the two test files are
/// read and the training set is empty.
pub(crate) fn read_images(
    cfg: &Config,
    training: bool,
) -> Result<(ImageSet, ImageSet, Vec<String>)> {
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
pub(crate) fn split_train(cfg: &Config, train: ImageSet) -> Result<(ImageSet, Option<ImageSet>)> {
    match cfg.val_fraction {
        None => Ok((train, None)),
        Some(f) => {
            let (t, v) = split::stratified_split(&train.label_vec(), f, cfg.run.train.seed)?;
            Ok((train.select(&t), Some(train.select(&v))))
        }
    }
}

/// The loss and classification report of `model` on `set`, every image
/// included (batches of at least 256).
///
/// # Errors
/// Predictions or labels that are not int64 class indices (a model whose
/// outputs are not `[n, classes]` logits).
pub(crate) fn classification_scores(
    model: &impl nn::ModuleT,
    set: &ImageSet,
    cfg: &Config,
    device: Device,
) -> Result<(f64, ClassificationReport)> {
    let bs = cfg.run.train.batch_size.max(256);
    let eval = train::evaluate(
        model,
        &set.images,
        &set.labels,
        bs,
        device,
        Loss::CrossEntropy,
    );
    let predicted = Vec::<i64>::try_from(eval.outputs.argmax(1, false))
        .context("the model's predicted classes are not int64 indices")?;
    let truth = Vec::<i64>::try_from(&eval.targets).context("the labels are not int64 classes")?;
    Ok((
        eval.loss,
        ConfusionMatrix::new(&truth, &predicted, cfg.model.num_classes as usize).report(),
    ))
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
    type Config = Config;
    type Data = MnistData;
    type Model = MnistModel;
    type Results = MnistResults;

    fn load_data(&self, cfg: &Config, device: Device, training: bool) -> Result<MnistData> {
        let (train, test, notes) = read_images(cfg, training)?;
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

    fn describe(&self, cfg: &Config, data: &MnistData) -> String {
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

    fn build_model(&self, p: &nn::Path, cfg: &Config) -> MnistModel {
        MnistModel::new(p, &cfg.model, cfg.normalize)
    }

    fn batches<'d>(
        &self,
        cfg: &'d Config,
        data: &'d MnistData,
        device: Device,
    ) -> Box<dyn Sampler + 'd> {
        let (xs, ys) = (&data.train.images, &data.train.labels);
        ShuffledPairs::boxed(xs, ys, &cfg.run.train, device)
    }

    fn loss(&self, model: &Self::Model, batch: &Batch) -> Tensor {
        Loss::CrossEntropy.on_batch(model, batch)
    }

    fn cross_validation(&self) -> Option<&dyn CrossValidation<Self>> {
        Some(self)
    }

    fn trace_input(&self, cfg: &Config, device: Device) -> Option<TraceInput> {
        let normalize = cfg.normalize.then_some(mnist::MNIST_MEAN_STD);
        Some(TraceInput {
            example: crate::torchscript::probe(&[1, 1, 28, 28], device),
            input: "28x28 grey images [batch, 1, 28, 28], white ink on black as MNIST, pixel / 255 \
                    in [0, 1], then (x - mean) / std when settings.normalize is set"
                .into(),
            output: format!(
                "[batch, {}] logits of the classes in settings.class_names order (softmax: probabilities)",
                cfg.model.num_classes
            ),
            settings: serde_json::json!({
                "normalize": normalize.map(|(mean, std)| serde_json::json!({"mean": mean, "std": std})),
                "class_names": cfg.names(),
            }),
            prepare: Some(Box::new(move |xs| MnistModel::prepare(xs, normalize))),
        })
    }

    /// The validation loss and accuracy with `--val-fraction`, else the test
    /// accuracy (the tutorial's habit, kept as the default).
    fn after_epoch(&self, t: &Trained<'_, Self>) -> Result<Vec<(String, f64)>> {
        Ok(match &t.data.val {
            Some(v) => {
                let (loss, report) = classification_scores(t.model, v, t.cfg, t.device)?;
                vec![
                    ("val loss".to_string(), loss),
                    ("val acc".to_string(), report.accuracy),
                ]
            }
            None => {
                let (_, report) = classification_scores(t.model, &t.data.test, t.cfg, t.device)?;
                vec![("test acc".to_string(), report.accuracy)]
            }
        })
    }

    fn evaluate(&self, t: &Trained<'_, Self>) -> Result<(f64, MnistResults)> {
        let val = t.data.val.as_ref();
        let val_accuracy = match val {
            Some(v) => Some(
                classification_scores(t.model, v, t.cfg, t.device)?
                    .1
                    .accuracy,
            ),
            None => None,
        };
        let (test_loss, test) = classification_scores(t.model, &t.data.test, t.cfg, t.device)?;
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
}

impl CrossValidation<CnnMnist> for CnnMnist {
    /// Stratified K-fold over the training images (after `--digits` and
    /// `--train-limit`), seeded by `--seed`.
    fn folds(&self, cfg: &Config, data: &MnistData, k: usize) -> Result<Vec<MnistData>> {
        let all = &data.train;
        let folds = split::stratified_kfold(&all.label_vec(), k, cfg.run.train.seed)?;
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
        let (_, report) = classification_scores(t.model, held, t.cfg, t.device)?;
        Ok((held.len() as usize, report.accuracy))
    }

    fn fold_metric(&self) -> &'static str {
        "held-out accuracy"
    }
}
