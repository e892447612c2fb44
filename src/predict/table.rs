//! `--predict` on MNIST as CSV (Kaggle's `test.csv`: header
//! `pixel0,…,pixel783`, one 28×28 image per row; or a labelled file, a label
//! then 784 pixels) and `--submission`, the competition's `ImageId,Label` file.
//!
//! The rows are MNIST-format already (centred 28×28 digits, ink high), so
//! they are used as they are: `pixels / 255`, as the data sets are at
//! training; `--preprocess` does not apply to them (the note says so).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::classify::FilePrediction;
use super::files::ImageFile;
use super::PreparedInputs;
use crate::data::mnist::{read_csv_images, CsvImages, LabelColumn};

/// Whether `path` names a CSV file (`.csv` or `.csv.gz`, any case).
pub(crate) fn is_csv_name(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    name.ends_with(".csv") || name.ends_with(".csv.gz")
}

/// The rows of the CSV files `paths`, in order, as prepared inputs: one
/// [`ImageFile`] per row, named `FILE:LINE`, labelled when the file has the
/// label column (a label names the class whose name it is, as "7" for a
/// digit model); one note per file.
///
/// # Errors
/// Every error of [`read_csv_images`] (file and line named).
pub fn prepare_csv(paths: &[PathBuf], class_names: &[String]) -> Result<PreparedInputs> {
    let mut prepared = PreparedInputs::default();
    for path in paths {
        let images = read_csv_images(path, LabelColumn::Optional)?;
        prepared.notes.push(note(path, &images));
        let labels = images.labels.as_deref();
        for (i, (line, px)) in images
            .lines
            .iter()
            .zip(images.pixels.chunks(784))
            .enumerate()
        {
            let label = labels.and_then(|l| {
                let name = l[i].to_string();
                class_names
                    .iter()
                    .position(|c| *c == name)
                    .map(|c| c as i64)
            });
            prepared.files.push(ImageFile {
                path: PathBuf::from(format!("{}:{line}", path.display())),
                label,
                direct: true,
            });
            prepared
                .pixels
                .push(px.iter().map(|&v| f32::from(v) / 255.0).collect());
            prepared.crops.push(None);
            prepared.previews.push(None);
            prepared.warnings.push(Vec::new());
        }
    }
    Ok(prepared)
}

fn note(path: &Path, images: &CsvImages) -> String {
    format!(
        "{}: {} images of 28×28 pixels, one per row ({}, {}), used as they are (MNIST \
         format: pixels / 255; --preprocess does not apply to CSV rows)",
        path.display(),
        images.len(),
        images.header_note(),
        if images.labels.is_some() {
            "a label then 784 pixels"
        } else {
            "784 pixels, no label"
        }
    )
}

/// Writes Kaggle's submission file to `path`: the line `ImageId,Label`, then
/// one line per prediction in input order, `ImageId` counting from 1 and
/// `Label` the predicted class's name when it is a whole number (a digit
/// model's "7"), else the class index. Written atomically.
///
/// # Errors
/// Skipped inputs (the ids would no longer match the inputs' order); the file
/// cannot be written.
pub(crate) fn write_submission(
    path: &Path,
    predictions: &[FilePrediction],
    skipped: usize,
) -> Result<()> {
    if skipped > 0 {
        bail!(
            "--submission {}: {skipped} input(s) were skipped, so ImageId would not number the \
             inputs; fix or remove them first",
            path.display()
        );
    }
    let mut text = String::from("ImageId,Label\n");
    for (i, p) in predictions.iter().enumerate() {
        let label = match p.class_name.trim().parse::<i64>() {
            Ok(n) => n,
            Err(_) => p.prediction.class,
        };
        text += &format!("{},{label}\n", i + 1);
    }
    crate::io::write_atomic(path, |tmp| {
        std::fs::write(tmp, &text).with_context(|| format!("cannot write {}", path.display()))
    })
}
