//! MNIST (and Fashion-MNIST, same files and format) as tensors.
//!
//! `mnist/files.rs` finds the four IDX files in the layouts people download them in,
//! `mnist/csv_files.rs` reads MNIST as CSV (tried when no IDX file is there),
//! `mnist/class_names.rs` names the classes for reports; this file turns the files
//! into [`ImageSet`]s.

mod class_names;
pub mod csv_files;
mod files;

use std::path::Path;

use anyhow::{bail, Result};
use tch::{Kind, Tensor};

use super::idx::{read_idx_file, IdxArray};

pub use class_names::{
    class_noun, digit_names, names_are_digits, parse_class_names, FASHION_MNIST_CLASSES,
};
pub use csv_files::{read_csv_images, CsvImages, CsvLayout, LabelColumn};
pub use files::{MnistFiles, Split};

/// Mean and standard deviation of the MNIST training pixels (after scaling to
/// [0, 1]), the values torchvision's examples use.
pub const MNIST_MEAN_STD: (f64, f64) = (0.1307, 0.3081);

/// One split of an image classification set.
///
/// The pixels stay `uint8`, as in the files (a quarter of the memory of
/// float32: 47 MB instead of 188 MB for MNIST's training set); they are
/// converted per batch ([`pixels_to_float`]), which gives bit for bit what
/// converting the whole set at once gives.
#[derive(Debug)]
pub struct ImageSet {
    /// `[n, 1, rows, cols]` uint8 pixels, 0–255.
    pub images: Tensor,
    /// `[n]` int64 class labels.
    pub labels: Tensor,
}

impl ImageSet {
    /// Number of samples.
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    /// Whether the set holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` samples (or all of them when `n` is `None`); an error
    /// when more are asked for than the set holds.
    pub fn take(self, n: Option<usize>, flag: &str) -> Result<Self> {
        match n {
            None => Ok(self),
            Some(0) => bail!("{flag} must be at least 1"),
            Some(n) if n as i64 > self.len() => {
                bail!(
                    "{flag} {n} is larger than the {} samples available",
                    self.len()
                )
            }
            Some(n) => Ok(Self {
                images: self.images.narrow(0, 0, n as i64),
                labels: self.labels.narrow(0, 0, n as i64),
            }),
        }
    }

    /// The samples at `idx`, in that order.
    pub fn select(&self, idx: &[i64]) -> Self {
        let idx = Tensor::from_slice(idx).to_device(self.labels.device());
        Self {
            images: self.images.index_select(0, &idx),
            labels: self.labels.index_select(0, &idx),
        }
    }

    /// Labels as a vector.
    pub fn label_vec(&self) -> Vec<i64> {
        Vec::<i64>::try_from(&self.labels.to_device(tch::Device::Cpu)).expect("labels are int64")
    }

    /// Keeps the samples whose label is one of `classes` (in data order) and
    /// relabels them `0..classes.len()` in the order `classes` lists them:
    /// `[5, 6, 7, 8, 9]` makes digit 5 class 0.
    pub(crate) fn filter_classes(&self, classes: &[i64]) -> Self {
        let labels = self.label_vec();
        let idx: Vec<i64> = (0..labels.len() as i64)
            .filter(|&i| classes.contains(&labels[i as usize]))
            .collect();
        let new: Vec<i64> = idx
            .iter()
            .map(|&i| {
                classes
                    .iter()
                    .position(|&c| c == labels[i as usize])
                    .expect("kept labels are listed") as i64
            })
            .collect();
        let kept = self.select(&idx);
        Self {
            images: kept.images,
            labels: Tensor::from_slice(&new).to_device(self.labels.device()),
        }
    }

    /// The images as float32 in [0, 1], `[n, 1, rows, cols]`.
    pub fn float_images(&self) -> Tensor {
        pixels_to_float(&self.images)
    }
}

/// uint8 pixels to float32 in [0, 1]: `x / 255` (torchvision's `ToTensor`).
pub fn pixels_to_float(pixels: &Tensor) -> Tensor {
    pixels.to_kind(Kind::Float) / 255.0
}

/// `(x − mean) / std` with the model's training normalisation (`--normalize`),
/// or `x` itself. `images`: any shape, pixels in [0, 1].
pub fn normalize(images: &Tensor, mean_std: Option<(f64, f64)>) -> Tensor {
    match mean_std {
        Some((mean, std)) => (images - mean) / std,
        None => images.shallow_clone(),
    }
}

/// The train and test splits of MNIST-format data.
#[derive(Debug)]
pub struct Mnist {
    /// 60 000 training samples for MNIST.
    pub train: ImageSet,
    /// 10 000 test samples for MNIST.
    pub test: ImageSet,
    /// Which files were used when not found as `DIR/NAME.gz` (see
    /// [`MnistFiles::notes`]), for the run to print.
    pub notes: Vec<String>,
}

/// Loads `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (raw or gzipped,
/// under any name and in any layout [`MnistFiles::find`] accepts) from `dir`.
/// All four come from the same folder. When none is there, MNIST as CSV
/// (`mnist_train.csv` + `mnist_test.csv`, or Kaggle's `train.csv`, see
/// [`csv_files`]) is read instead. Errors name the file and what is wrong.
pub fn load_dir(dir: &Path) -> Result<Mnist> {
    let (mut sets, notes) = load_splits(dir, &[Split::Train, Split::Test])?;
    let (Some(test), Some(train)) = (sets.pop(), sets.pop()) else {
        bail!("internal: two splits asked, fewer read");
    };
    Ok(Mnist { train, test, notes })
}

/// Loads only the training split of `dir` (see [`load_dir`]), with the notes
/// of [`MnistFiles::find`].
pub fn load_train(dir: &Path) -> Result<(ImageSet, Vec<String>)> {
    load_one(dir, Split::Train)
}

/// Loads only the test split of `dir` (see [`load_dir`]), with the notes of
/// [`MnistFiles::find`]: evaluating a saved model needs only
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (or `mnist_test.csv`).
pub fn load_test(dir: &Path) -> Result<(ImageSet, Vec<String>)> {
    load_one(dir, Split::Test)
}

fn load_one(dir: &Path, split: Split) -> Result<(ImageSet, Vec<String>)> {
    let (mut sets, notes) = load_splits(dir, &[split])?;
    let Some(set) = sets.pop() else {
        bail!("internal: one split asked, none read");
    };
    Ok((set, notes))
}

/// `splits` of `dir`, in order, from the IDX files or, when there is none,
/// from MNIST as CSV; with the notes saying which files were used.
fn load_splits(dir: &Path, splits: &[Split]) -> Result<(Vec<ImageSet>, Vec<String>)> {
    let files = match MnistFiles::find(dir, splits) {
        Ok(files) => files,
        Err(idx_error) if dir.is_dir() => {
            let Some(layout) = csv_files::find_csv(dir) else {
                bail!("{idx_error:#}{}", csv_files::missing_hint(dir));
            };
            let (sets, note) = csv_files::load_csv(&layout, splits)?;
            return Ok((sets, vec![note]));
        }
        Err(e) => return Err(e),
    };
    let sets = splits
        .iter()
        .map(|&s| load_split(&files, s))
        .collect::<Result<Vec<_>>>()?;
    Ok((sets, files.notes))
}

/// Reads and checks the images and labels `files` resolved for `split`; an
/// error when `split` was not among the splits `files` was asked to find.
pub(crate) fn load_split(files: &MnistFiles, split: Split) -> Result<ImageSet> {
    let Some((images_path, labels_path)) = files.split(split) else {
        bail!(
            "the {} files were not looked for (internal: pass Split::{split:?} to MnistFiles::find)",
            split.prefix()
        );
    };
    let images = read_idx_file(images_path)?;
    let labels = read_idx_file(labels_path)?;
    images_to_tensor(&images, &labels, images_path, labels_path)
}

/// Converts parsed IDX images and labels to an [`ImageSet`], checking ranks,
/// counts and label values; the paths only serve the error messages.
pub(crate) fn images_to_tensor(
    images: &IdxArray,
    labels: &IdxArray,
    images_path: &Path,
    labels_path: &Path,
) -> Result<ImageSet> {
    let &[n, rows, cols] = images.dims.as_slice() else {
        bail!(
            "{}: expected rank-3 images [count, rows, cols], found dimensions {:?}",
            images_path.display(),
            images.dims
        );
    };
    let &[n_labels] = labels.dims.as_slice() else {
        bail!(
            "{}: expected rank-1 labels [count], found dimensions {:?}",
            labels_path.display(),
            labels.dims
        );
    };
    if n != n_labels {
        bail!(
            "{} holds {n} images but {} holds {n_labels} labels",
            images_path.display(),
            labels_path.display()
        );
    }
    if let Some(bad) = labels.data.iter().find(|&&l| l > 9) {
        bail!("{}: label {bad} is outside 0..=9", labels_path.display());
    }
    let images = Tensor::from_slice(&images.data).view([n as i64, 1, rows as i64, cols as i64]);
    let labels = Tensor::from_slice(&labels.data).to_kind(Kind::Int64);
    Ok(ImageSet { images, labels })
}
