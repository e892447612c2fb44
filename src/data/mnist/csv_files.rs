//! MNIST as CSV: one image per row, a label (0–9) then 784 pixels (0–255,
//! row-major 28×28), with or without a header.
//!
//! The files people have: `mnist_train.csv` + `mnist_test.csv` (the common
//! "MNIST in CSV" downloads, headerless or with `label,1x1,…,28x28`), and
//! Kaggle's Digit Recognizer `train.csv` (header `label,pixel0,…,pixel783`)
//! with its unlabelled `test.csv` (784 pixel columns, read by `--predict`).
//!
//! Parsing is the `csv` crate's through [`crate::data::csv`] (gzip found by
//! its magic bytes, a UTF-8 byte-order mark dropped, LF/CRLF/CR line ends,
//! the delimiter detected among `,` `;` tab `|`, blank lines skipped, line
//! numbers the file's physical lines). The first row is a header when none
//! of its fields is a number, data when all are; a mix is refused.
//!
//! Kaggle's `train.csv` is the only labelled file of its competition, so the
//! test set is formed from it: its last `n / 7` rows (integer division; 6000
//! of 42000, MNIST's own 60000/10000 proportion), the rows before them train.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tch::{Kind, Tensor};

use super::{ImageSet, Split};
use crate::data::csv as table;

/// Pixels per row: one 28×28 image.
pub(crate) const PIXELS: usize = 784;

/// Side of the images, in pixels.
const SIDE: i64 = 28;

/// Largest file read (1 GiB; MNIST's training CSV is about 110 MB).
const MAX_BYTES: u64 = 1 << 30;

/// Kaggle's test set is the last `1 / KAGGLE_TEST_PART` of `train.csv`.
pub const KAGGLE_TEST_PART: usize = 7;

/// The names tried for the common pair of files, gzipped or not.
const PAIR_NAMES: [(&str, Split); 2] = [
    ("mnist_train.csv", Split::Train),
    ("mnist_test.csv", Split::Test),
];

/// Kaggle Digit Recognizer's labelled file.
const KAGGLE_TRAIN: &str = "train.csv";

/// Kaggle Digit Recognizer's unlabelled file.
const KAGGLE_TEST: &str = "test.csv";

/// Whether a file must have the label column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelColumn {
    /// A label then 784 pixels per row (training and evaluation).
    Required,
    /// 785 fields (label first) or 784 pixels only (`--predict`).
    Optional,
}

/// The image rows of one MNIST CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvImages {
    /// `len() * 784` pixels, 0–255, image after image, each row-major.
    pub pixels: Vec<u8>,
    /// One label 0–9 per image, when the file has the label column.
    pub labels: Option<Vec<u8>>,
    /// Physical line (1-based) of each image's row.
    pub lines: Vec<u64>,
    /// Whether line 1 (after blank lines) was a header.
    pub header: bool,
}

impl CsvImages {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the file held no image row.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// `with a header` or `no header`, for the notes.
    pub(crate) fn header_note(&self) -> &'static str {
        if self.header {
            "with a header"
        } else {
            "no header"
        }
    }

    /// The images of rows `rows` as an [`ImageSet`] (`[n, 1, 28, 28]` uint8,
    /// `[n]` int64), bit for bit what the IDX files of the same digits give.
    ///
    /// # Errors
    /// When the file has no label column (`path` names it).
    pub(crate) fn to_set(&self, rows: Range<usize>, path: &Path) -> Result<ImageSet> {
        let Some(labels) = &self.labels else {
            bail!("{}: no label column", path.display());
        };
        let n = rows.len() as i64;
        let pixels = &self.pixels[rows.start * PIXELS..rows.end * PIXELS];
        Ok(ImageSet {
            images: Tensor::from_slice(pixels).view([n, 1, SIDE, SIDE]),
            labels: Tensor::from_slice(&labels[rows]).to_kind(Kind::Int64),
        })
    }
}

/// Reads the MNIST CSV file `path` (see the module header for what is
/// accepted).
///
/// # Errors
/// Each names the file and, for a row, its line: an unreadable or empty file,
/// a row count of fields other than 785 (or 784 with [`LabelColumn::Optional`]),
/// a first line mixing names and numbers, a header naming `label` in another
/// column than the first, a pixel that is not an integer 0–255, a label outside 0–9.
pub fn read_csv_images(path: &Path, labels: LabelColumn) -> Result<CsvImages> {
    let bytes = read_bytes(path)?;
    let source = path.display().to_string();
    let data = table::decode(&bytes, &source)?;
    let delimiter = table::detect_delimiter(&data, false);
    let mut rows = table::records(&data, delimiter, 0);
    let broken = || format!("{source}: not readable as CSV");
    let Some((first_line, first)) = rows.next().transpose().with_context(broken)? else {
        bail!("{source} is empty: MNIST as CSV has a label then 784 pixels per row");
    };
    let header = first_is_header(&first, &source, first_line)?;
    let width = first.len();
    let labelled = has_label_column(width, labels, &source, first_line)?;
    if header && labelled {
        check_label_first(&first, &source)?;
    }
    let mut out = CsvImages {
        pixels: Vec::new(),
        labels: labelled.then(Vec::new),
        lines: Vec::new(),
        header,
    };
    let first_row = (!header).then_some((first_line, first));
    for row in first_row.into_iter().map(Ok).chain(rows) {
        let (line, rec) = row.with_context(broken)?;
        if rec.len() != width {
            bail!(
                "{source} line {line}: {} fields, but line {first_line} has {width}{}",
                rec.len(),
                if labelled {
                    " (a label then 784 pixels)"
                } else {
                    " (784 pixels)"
                }
            );
        }
        push_row(&mut out, &rec, &source, line)?;
    }
    if out.is_empty() {
        bail!("{source} has a header but no image row");
    }
    Ok(out)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let what = || format!("cannot read MNIST CSV file {}", path.display());
    let file = File::open(path).with_context(what)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(what)?;
    if bytes.len() as u64 > MAX_BYTES {
        bail!(
            "{} is larger than 1 GiB, the limit for an MNIST CSV file",
            path.display()
        );
    }
    Ok(bytes)
}

fn is_number(field: &[u8]) -> bool {
    std::str::from_utf8(field).is_ok_and(|s| s.trim().parse::<f64>().is_ok())
}

/// A header when no field is a number, a row when all are; a mix is refused.
fn first_is_header(rec: &::csv::ByteRecord, source: &str, line: u64) -> Result<bool> {
    let numbers = rec.iter().filter(|f| is_number(f)).count();
    if numbers == 0 {
        Ok(true)
    } else if numbers == rec.len() {
        Ok(false)
    } else {
        bail!(
            "{source} line {line}: {numbers} of its {} fields are numbers and the others are not: \
             neither a header (names only) nor an image row (numbers only)",
            rec.len()
        )
    }
}

fn has_label_column(width: usize, labels: LabelColumn, source: &str, line: u64) -> Result<bool> {
    match (width, labels) {
        (w, _) if w == PIXELS + 1 => Ok(true),
        (PIXELS, LabelColumn::Optional) => Ok(false),
        (PIXELS, LabelColumn::Required) => bail!(
            "{source} line {line}: 784 fields, pixels only, no label column (as Kaggle's \
             unlabelled test.csv): training and evaluation need a label then 784 pixels per \
             row; classify this file with --load M --predict {source} [--submission out.csv]"
        ),
        _ => bail!(
            "{source} line {line}: {width} fields; MNIST as CSV has a label then 784 pixels \
             (785 fields) per row{}",
            if labels == LabelColumn::Optional {
                ", or 784 pixels without a label"
            } else {
                ""
            }
        ),
    }
}

/// Refuses a header whose `label` column is not the first.
fn check_label_first(header: &::csv::ByteRecord, source: &str) -> Result<()> {
    let is_label = |f: &[u8]| f.trim_ascii().eq_ignore_ascii_case(b"label");
    match header.iter().position(is_label) {
        Some(i) if i > 0 => bail!(
            "{source}: the header names column {} `label`, but MNIST as CSV has the label \
             first (then 784 pixels); reorder the columns",
            i + 1
        ),
        _ => Ok(()),
    }
}

fn push_row(out: &mut CsvImages, rec: &::csv::ByteRecord, source: &str, line: u64) -> Result<()> {
    let mut fields = rec.iter();
    if let Some(labels) = &mut out.labels {
        let field = fields.next().unwrap_or_default();
        match parse_int(field).filter(|&l| l <= 9) {
            Some(l) => labels.push(l as u8),
            None => bail!(
                "{source} line {line}: label {:?} is outside 0..9 (the first field is the label)",
                String::from_utf8_lossy(field.trim_ascii())
            ),
        }
    }
    let offset = usize::from(out.labels.is_some());
    for (i, field) in fields.enumerate() {
        match parse_int(field).filter(|&v| v <= 255) {
            Some(v) => out.pixels.push(v as u8),
            None => bail!(
                "{source} line {line}, column {} (pixel {i}): {:?} is not a pixel value 0..255{}",
                i + 1 + offset,
                String::from_utf8_lossy(field.trim_ascii()),
                if field.contains(&b'.') {
                    " (pixels scaled to [0, 1]? MNIST as CSV holds the bytes 0..255)"
                } else {
                    ""
                }
            ),
        }
    }
    out.lines.push(line);
    Ok(())
}

/// A non-negative decimal integer (surrounding whitespace allowed), or `None`.
fn parse_int(field: &[u8]) -> Option<u32> {
    let digits = field.trim_ascii();
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, &d| n * 10 + u32::from(d - b'0')))
}

/// Where MNIST as CSV was found in a `--data-dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvLayout {
    /// `mnist_train.csv` and/or `mnist_test.csv` (or `.csv.gz`).
    Pair {
        /// The training file, when there.
        train: Option<PathBuf>,
        /// The test file, when there.
        test: Option<PathBuf>,
    },
    /// Kaggle's `train.csv` (its `test.csv` has no labels).
    Kaggle {
        /// `train.csv` (or `train.csv.gz`).
        train: PathBuf,
    },
}

/// The first of `name`, `name.gz` in `dir` that is a file.
fn existing(dir: &Path, name: &str) -> Option<PathBuf> {
    [name.to_string(), format!("{name}.gz")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Looks for MNIST as CSV directly in `dir`: `mnist_train.csv` /
/// `mnist_test.csv` first, then Kaggle's `train.csv`; `None` when neither is there.
pub(crate) fn find_csv(dir: &Path) -> Option<CsvLayout> {
    let [train, test] = PAIR_NAMES.map(|(name, _)| existing(dir, name));
    if train.is_some() || test.is_some() {
        return Some(CsvLayout::Pair { train, test });
    }
    existing(dir, KAGGLE_TRAIN).map(|train| CsvLayout::Kaggle { train })
}

/// What an error about a folder without MNIST files adds about CSV.
pub(crate) fn missing_hint(dir: &Path) -> String {
    let mut hint = " MNIST as CSV is read too (mnist_train.csv and mnist_test.csv, or Kaggle's \
                    train.csv: a label then 784 pixels per row), but none is there either."
        .to_string();
    if let Some(test) = existing(dir, KAGGLE_TEST) {
        hint += &format!(
            " {} looks like Kaggle's unlabelled test set: it cannot train or evaluate; \
             classify it with --load M --predict {} --submission out.csv.",
            test.display(),
            test.display()
        );
    }
    hint
}

/// Loads `splits` from `layout`, in that order, with the one line that says
/// which files and layout were used.
///
/// # Errors
/// A split whose file is missing (naming the folder and the file needed),
/// every error of [`read_csv_images`], a Kaggle `train.csv` of fewer than 7 rows.
pub fn load_csv(layout: &CsvLayout, splits: &[Split]) -> Result<(Vec<ImageSet>, String)> {
    match layout {
        CsvLayout::Pair { train, test } => load_pair(train.as_deref(), test.as_deref(), splits),
        CsvLayout::Kaggle { train } => load_kaggle(train, splits),
    }
}

fn load_pair(
    train: Option<&Path>,
    test: Option<&Path>,
    splits: &[Split],
) -> Result<(Vec<ImageSet>, String)> {
    let (mut sets, mut used) = (Vec::new(), Vec::new());
    for &split in splits {
        let (path, other) = match split {
            Split::Train => (train, test),
            Split::Test => (test, train),
        };
        let name = PAIR_NAMES
            .iter()
            .find(|(_, s)| *s == split)
            .map_or("", |(n, _)| *n);
        let Some(path) = path else {
            let there = other.map_or_else(String::new, |p| p.display().to_string());
            bail!(
                "{there} is there but not {name} (nor {name}.gz) beside it{}",
                if split == Split::Train {
                    ": training needs it (evaluating a saved model needs only mnist_test.csv)"
                } else {
                    ""
                }
            );
        };
        let images = read_csv_images(path, LabelColumn::Required)?;
        sets.push(images.to_set(0..images.len(), path)?);
        used.push(format!(
            "{} ({}, {} rows)",
            path.display(),
            images.header_note(),
            images.len()
        ));
    }
    let note = format!(
        "using {} (MNIST as CSV: a label then 784 pixels per row)",
        used.join(" and ")
    );
    Ok((sets, note))
}

fn load_kaggle(path: &Path, splits: &[Split]) -> Result<(Vec<ImageSet>, String)> {
    let images = read_csv_images(path, LabelColumn::Required)?;
    let n = images.len();
    let n_test = n / KAGGLE_TEST_PART;
    if n_test == 0 {
        bail!(
            "{}: {n} rows; the test set is its last 1/7, which needs at least 7 rows",
            path.display()
        );
    }
    let cut = n - n_test;
    let sets = splits
        .iter()
        .map(|split| match split {
            Split::Train => images.to_set(0..cut, path),
            Split::Test => images.to_set(cut..n, path),
        })
        .collect::<Result<Vec<_>>>()?;
    let note = format!(
        "using {} (Kaggle Digit Recognizer layout, {}, {n} rows): the first {cut} rows train, \
         the last {n_test} (lines {}-{}) are the test set, as Kaggle's test.csv has no labels",
        path.display(),
        images.header_note(),
        images.lines[cut],
        images.lines[n - 1]
    );
    Ok((sets, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_parsed_strictly() {
        assert_eq!(parse_int(b" 255 "), Some(255));
        assert_eq!(parse_int(b"0"), Some(0));
        for bad in [&b""[..], b"-1", b"0.5", b"1e3", b"x"] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
    }
}
