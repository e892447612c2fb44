//! Using a trained image classifier on your own image files (issue 11):
//! find the files ([`files`]), decode them ([`decode`]), turn each into the
//! 28×28 input the model expects ([`mod@preprocess`]), classify them ([`mod@classify`])
//! and draw what the model saw ([`sheet`]).
//!
//! [`predict_paths`] does it all for `cnn_mnist --load M --predict PATH...`:
//!
//! ```no_run
//! # fn demo(model: &tchport::models::Cnn) -> anyhow::Result<()> {
//! use tchport::predict::{predict_paths, ModelInfo, PredictConfig};
//! let cfg = PredictConfig {
//!     paths: vec!["my_digits".into()],
//!     show: Some("sheet.png".into()),
//!     ..PredictConfig::default()
//! };
//! let info = ModelInfo { num_classes: 10, normalize: None, device: tch::Device::Cpu };
//! let report = predict_paths(model, &cfg, &info)?;
//! print!("{report}");
//! # Ok(()) }
//! ```
//!
//! `parity/predict.py` is the PyTorch/numpy twin of the whole path.

pub mod classify;
pub mod decode;
pub mod files;
pub mod ink;
pub mod preprocess;
pub mod sheet;
pub mod table;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

pub use classify::{classify, ClassProb, FilePrediction, PredictSummary, Prediction, Skipped};
pub use decode::{read_image, GreyImage, MAX_PIXELS};
pub use files::{default_class_names, find_images, FoundImages, ImageFile};
pub use preprocess::{preprocess, preprocess_image, Prepared, Preprocess, SIDE};

/// What to predict and how (`--predict`, `--preprocess`, `--class-names`, `--show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PredictConfig {
    /// Image files and folders (searched recursively), in order.
    pub paths: Vec<PathBuf>,
    /// How each image becomes a 28×28 input.
    pub preprocess: Preprocess,
    /// Names of the classes, in class order, matched against `ImageFolder`
    /// sub-folder names and printed; `None`: "0", "1"... up to the model's classes.
    pub class_names: Option<Vec<String>>,
    /// Write the picture of the inputs as the model saw them here (`.png` or `.svg`).
    pub show: Option<PathBuf>,
    /// Write Kaggle's `ImageId,Label` submission file here (`--submission`).
    pub submission: Option<PathBuf>,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl Default for PredictConfig {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            preprocess: Preprocess::Digit,
            class_names: None,
            show: None,
            submission: None,
            batch_size: 256,
        }
    }
}

/// What [`predict_paths`] needs to know about the loaded model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelInfo {
    /// Number of output classes.
    pub num_classes: i64,
    /// `(mean, std)` the model's inputs were normalised with at training
    /// (from its `config.json`; `MNIST_MEAN_STD` when `normalize` was on), or
    /// `None` for raw [0, 1] pixels.
    pub normalize: Option<(f64, f64)>,
    /// Where the model's weights are.
    pub device: Device,
}

/// Images decoded and preprocessed, ready for the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreparedInputs {
    /// One line per input that needs saying how it was read (a CSV file).
    pub notes: Vec<String>,
    /// The images that could be used, in order.
    pub files: Vec<ImageFile>,
    /// One `SIDE * SIDE` = 784-value row-major image in [0, 1] per file.
    pub pixels: Vec<Vec<f32>>,
    /// Per file: the box cropped (`digit`), in the decoded image's pixels.
    pub crops: Vec<Option<ink::PixelBox>>,
    /// Per file: the decoded image and its crop box, small, for `--show`
    /// (`None` where nothing was cropped).
    pub previews: Vec<Option<sheet::Preview>>,
    /// Per file: its decoding notes and preprocessing warnings.
    pub warnings: Vec<Vec<String>>,
    /// Images in folders that could not be used, with their error.
    pub skipped: Vec<Skipped>,
    /// Files in the folders that are not images.
    pub ignored: usize,
    /// `ImageFolder` sub-folder names that name no class.
    pub unmatched_folders: Vec<String>,
}

impl PreparedInputs {
    /// The images as one `[n, 1, 28, 28]` float tensor in [0, 1] on the CPU.
    pub fn tensor(&self) -> Tensor {
        let side = SIDE as i64;
        let flat: Vec<f32> = self.pixels.concat();
        Tensor::from_slice(&flat).view([self.pixels.len() as i64, 1, side, side])
    }
}

/// Reads `path` and preprocesses it (see [`read_image`] and [`preprocess()`]).
///
/// # Errors
/// Every error of those two, naming the file.
pub fn prepare_file(path: &Path, mode: Preprocess) -> Result<Vec<f32>> {
    Ok(prepare_image(path, mode)?.pixels)
}

/// Reads `path` and preprocesses it, keeping the crop box; the decoding
/// notes come first in `warnings`.
///
/// # Errors
/// Every error of [`read_image`] and [`preprocess_image`], naming the file.
pub fn prepare_image(path: &Path, mode: Preprocess) -> Result<Prepared> {
    Ok(prepare_with_preview(path, mode)?.0)
}

/// [`prepare_image`], and the [`sheet::Preview`] of the image when a box was cropped.
fn prepare_with_preview(
    path: &Path,
    mode: Preprocess,
) -> Result<(Prepared, Option<sheet::Preview>)> {
    let image = read_image(path)?;
    let mut prepared =
        preprocess_image(&image, mode).with_context(|| format!("{}", path.display()))?;
    let preview = prepared.crop.map(|c| sheet::Preview::new(&image, c));
    let mut warnings = image.notes;
    warnings.append(&mut prepared.warnings);
    prepared.warnings = warnings;
    Ok((prepared, preview))
}

/// How many failures the "none could be read" error lists before "and N more".
pub(crate) const LISTED_FAILURES: usize = 5;

/// Reads and preprocesses every found image. An image found in a folder that
/// fails is skipped and recorded; one given directly is an error.
///
/// # Errors
/// A failing file given directly (the message names it), or no image usable
/// at all (the message lists the first failures).
pub fn prepare_inputs(found: FoundImages, mode: Preprocess) -> Result<PreparedInputs> {
    let mut prepared = PreparedInputs {
        ignored: found.ignored,
        unmatched_folders: found.unmatched_folders,
        ..PreparedInputs::default()
    };
    for file in found.images {
        match prepare_with_preview(&file.path, mode) {
            Ok((p, preview)) => {
                prepared.pixels.push(p.pixels);
                prepared.crops.push(p.crop);
                prepared.previews.push(preview);
                prepared.warnings.push(p.warnings);
                prepared.files.push(file);
            }
            Err(e) if file.direct => return Err(e),
            Err(e) => prepared.skipped.push(Skipped {
                path: file.path,
                error: format!("{e:#}"),
            }),
        }
    }
    if prepared.files.is_empty() {
        let n = prepared.skipped.len();
        let mut lines: Vec<String> = prepared
            .skipped
            .iter()
            .take(LISTED_FAILURES)
            .map(|s| s.error.clone())
            .collect();
        if n > LISTED_FAILURES {
            lines.push(format!("and {} more", n - LISTED_FAILURES));
        }
        bail!(
            "none of the {n} image file(s) could be read:\n  {}",
            lines.join("\n  ")
        );
    }
    Ok(prepared)
}

pub use crate::data::mnist::normalize;

/// The result of [`predict_paths`]; its `Display` is the terminal report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictReport {
    /// How inputs were read, one line each (CSV files).
    pub notes: Vec<String>,
    /// The preprocessing used.
    pub preprocess: Preprocess,
    /// The class names, in class order.
    pub class_names: Vec<String>,
    /// One entry per classified image, in order (the JSON `predictions` list).
    pub predictions: Vec<FilePrediction>,
    /// Images that could not be used, with their error.
    pub skipped: Vec<Skipped>,
    /// `ImageFolder` sub-folder names that name no class.
    pub unmatched_folders: Vec<String>,
    /// Counts, accuracy and confusion matrix.
    pub summary: PredictSummary,
    /// The picture written for `--show`, if any.
    pub sheet: Option<PathBuf>,
    /// The `ImageId,Label` file written for `--submission`, if any.
    pub submission: Option<PathBuf>,
}

/// Finds, prepares and classifies the images of `cfg.paths` with `model`,
/// and writes the `--show` picture.
///
/// # Errors
/// No path given; class names that do not match the model's classes; every
/// error of [`find_images`], [`prepare_inputs`] and [`sheet::write_sheet`].
pub fn predict_paths(
    model: &impl tch::nn::ModuleT,
    cfg: &PredictConfig,
    info: &ModelInfo,
) -> Result<PredictReport> {
    if cfg.paths.is_empty() {
        bail!("--predict needs an image file or a folder of images");
    }
    let class_names = class_names(cfg.class_names.as_deref(), info.num_classes)?;
    let prepared = prepare_any(&cfg.paths, &class_names, cfg.preprocess)?;
    let inputs = normalize(&prepared.tensor(), info.normalize);
    let answers = classify(model, &inputs, cfg.batch_size.max(1), info.device);
    let predictions: Vec<FilePrediction> = prepared
        .files
        .iter()
        .zip(answers)
        .zip(prepared.crops.iter().zip(&prepared.warnings))
        .map(|((f, p), (crop, warnings))| {
            let mut fp = FilePrediction::new(f.path.clone(), f.label, p, &class_names);
            fp.crop = *crop;
            fp.warnings.clone_from(warnings);
            fp
        })
        .collect();
    let summary = PredictSummary::new(
        &predictions,
        prepared.skipped.len(),
        prepared.ignored,
        info.num_classes as usize,
    );
    if let Some(path) = &cfg.show {
        sheet::write_sheet(path, &prepared.pixels, &prepared.previews, &predictions)?;
    }
    if let Some(path) = &cfg.submission {
        table::write_submission(path, &predictions, prepared.skipped.len())?;
    }
    Ok(PredictReport {
        notes: prepared.notes,
        preprocess: cfg.preprocess,
        class_names,
        predictions,
        skipped: prepared.skipped,
        unmatched_folders: prepared.unmatched_folders,
        summary,
        sheet: cfg.show.clone(),
        submission: cfg.submission.clone(),
    })
}

/// The inputs of `paths`: rows of CSV files ([`table::prepare_csv`]) or image
/// files and folders ([`find_images`], [`prepare_inputs`]).
///
/// # Errors
/// CSV files mixed with images; every error of those functions.
fn prepare_any(
    paths: &[PathBuf],
    class_names: &[String],
    mode: Preprocess,
) -> Result<PreparedInputs> {
    let csv = paths
        .iter()
        .filter(|p| table::is_csv_name(p) && p.is_file())
        .count();
    if csv == 0 {
        return prepare_inputs(find_images(paths, class_names)?, mode);
    }
    if csv < paths.len() {
        bail!("--predict: give CSV files (MNIST rows) or images and folders, not both in one run");
    }
    table::prepare_csv(paths, class_names)
}

/// The given class names, checked against the model, or "0".."n-1".
///
/// # Errors
/// When their number differs from `num_classes`, or a name repeats.
pub fn class_names(given: Option<&[String]>, num_classes: i64) -> Result<Vec<String>> {
    let Some(names) = given else {
        return Ok(default_class_names(num_classes));
    };
    if names.len() as i64 != num_classes {
        bail!(
            "--class-names lists {} name(s) but the model has {num_classes} classes",
            names.len()
        );
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            bail!("--class-names lists {name:?} twice");
        }
    }
    Ok(names.to_vec())
}

impl fmt::Display for PredictReport {
    /// The notes, one line per image (with `--submission` one line naming the
    /// file instead), the skipped files, then the summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        match &self.submission {
            // The answers are in the file; thousands of lines would bury the summary.
            Some(path) => writeln!(
                f,
                "wrote {} predictions to {} (ImageId,Label; ImageId from 1 in input order)",
                self.predictions.len(),
                path.display()
            )?,
            None => {
                for p in &self.predictions {
                    writeln!(f, "{p}")?;
                }
            }
        }
        for s in &self.skipped {
            writeln!(f, "skipped: {}", s.error)?;
        }
        if !self.unmatched_folders.is_empty() {
            writeln!(
                f,
                "note: sub-folder(s) {} name no class ({}), their images are unlabelled",
                self.unmatched_folders.join(", "),
                self.class_names.join(", ")
            )?;
        }
        write!(f, "{}", self.summary)?;
        if let Some(sheet) = &self.sheet {
            writeln!(f, "inputs as the model saw them: {}", sheet.display())?;
        }
        Ok(())
    }
}
