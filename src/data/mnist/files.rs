//! Finding the four MNIST-format files in the folder layouts people have.
//!
//! For each file, say `train-images-idx3-ubyte`, the names tried in a folder
//! are, in this order:
//!
//! 1. `train-images-idx3-ubyte.gz` (as LeCun's site and torchvision ship it),
//! 2. `train-images-idx3-ubyte` (gunzipped),
//! 3. `train-images.idx3-ubyte.gz` and `train-images.idx3-ubyte` (the dotted
//!    name some archive tools and mirrors use),
//! 4. the four names above inside a folder named `train-images-idx3-ubyte/`
//!    or `train-images.idx3-ubyte/` (Kaggle's "MNIST Dataset" layout).
//!
//! The folders searched are, in this order, `--data-dir` itself, then
//! torchvision's download layout: `DIR/raw/` (`--data-dir` is torchvision's
//! `ROOT/MNIST` itself), `DIR/MNIST/raw/`, `DIR/FashionMNIST/raw/` and
//! `DIR/KMNIST/raw/` (`--data-dir` is torchvision's `root`). All the files of
//! one request come from the first of these folders that holds any of them,
//! so the images and labels of a run never come from two data sets; when
//! `DIR` holds more than one of torchvision's data sets, the choice is left to
//! the user. Whatever the name, the IDX reader gunzips by the magic bytes.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// How many entries of a folder an error lists.
const LISTED_ENTRIES: usize = 20;

/// torchvision's data-set folders below `root` (`root/NAME/raw/`), all of
/// which hold files with MNIST's names (torchvision's `MNIST.raw_folder`).
const TORCHVISION_SETS: [&str; 3] = ["MNIST", "FashionMNIST", "KMNIST"];

/// One split of an MNIST-format data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training files, `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`.
    Train,
    /// The test files, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`.
    Test,
}

impl Split {
    /// The file-name prefix of the split: `train` or `t10k` (LeCun's names).
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }

    /// `[images, labels]` file names of the split, without `.gz`, e.g.
    /// `["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]`.
    pub(crate) fn file_names(self) -> [String; 2] {
        let p = self.prefix();
        [
            format!("{p}-images-idx3-ubyte"),
            format!("{p}-labels-idx1-ubyte"),
        ]
    }
}

/// The files [`MnistFiles::find`] resolved; `None` for a split not asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MnistFiles {
    /// `train-images-idx3-ubyte` (or the name it was found under).
    pub train_images: Option<PathBuf>,
    /// `train-labels-idx1-ubyte` (or the name it was found under).
    pub train_labels: Option<PathBuf>,
    /// `t10k-images-idx3-ubyte` (or the name it was found under).
    pub test_images: Option<PathBuf>,
    /// `t10k-labels-idx1-ubyte` (or the name it was found under).
    pub test_labels: Option<PathBuf>,
    /// One line per file found under another form than `DIR/NAME.gz`, e.g.
    /// `using data/x/MNIST/raw/train-images-idx3-ubyte.gz (torchvision layout)`,
    /// for the run to print.
    pub notes: Vec<String>,
}

impl MnistFiles {
    /// Finds the images and labels of each split of `splits` in `dir` (see
    /// the module header for the names and folders tried).
    ///
    /// Errors when `dir` is missing or is a file, when `dir` holds more than
    /// one torchvision data set with these files, and when a file is not
    /// found: that error names the file, the names and folders tried, and
    /// lists the first 20 entries of the folder searched.
    pub fn find(dir: &Path, splits: &[Split]) -> Result<Self> {
        check_dir(dir)?;
        let stems: Vec<String> = splits.iter().flat_map(|s| s.file_names()).collect();
        let folders = search_folders(dir);
        let (Some(&first), Some(first_stem)) = (splits.first(), stems.first()) else {
            return Ok(Self::default());
        };
        let Some(chosen) = folders.iter().position(|f| holds_any(f, &stems)) else {
            let test_only = holds_test_only(&folders[0], first);
            bail!("{}", not_found(dir, &folders[0], first_stem, test_only));
        };
        check_unambiguous(dir, &folders, chosen, &stems)?;
        let folder = &folders[chosen];
        let mut files = Self::default();
        for &split in splits {
            let [images, labels] = split.file_names();
            let mut get = |stem: &str| -> Result<PathBuf> {
                let Some(c) = candidates(folder, stem)
                    .into_iter()
                    .find(|c| c.path.is_file())
                else {
                    bail!(
                        "{}",
                        not_found(dir, folder, stem, holds_test_only(folder, split))
                    );
                };
                if let Some(note) = c.note() {
                    files.notes.push(note);
                }
                Ok(c.path)
            };
            let found = (Some(get(&images)?), Some(get(&labels)?));
            match split {
                Split::Train => (files.train_images, files.train_labels) = found,
                Split::Test => (files.test_images, files.test_labels) = found,
            }
        }
        Ok(files)
    }

    /// `(images, labels)` of `split`, when it was asked for.
    pub fn split(&self, split: Split) -> Option<(&Path, &Path)> {
        let (images, labels) = match split {
            Split::Train => (&self.train_images, &self.train_labels),
            Split::Test => (&self.test_images, &self.test_labels),
        };
        Some((images.as_deref()?, labels.as_deref()?))
    }
}

/// A folder searched: `--data-dir` itself or one of torchvision's `raw/`.
#[derive(Debug)]
struct Folder {
    path: PathBuf,
    /// `None` for `--data-dir` itself.
    layout: Option<&'static str>,
}

/// A path a file may be found under, with what makes it not the first form.
struct Candidate {
    path: PathBuf,
    reasons: Vec<&'static str>,
}

impl Candidate {
    fn note(&self) -> Option<String> {
        (!self.reasons.is_empty()).then(|| {
            format!(
                "using {} ({})",
                self.path.display(),
                self.reasons.join("; ")
            )
        })
    }
}

fn check_dir(dir: &Path) -> Result<()> {
    if dir.is_file() {
        let csv = dir.to_string_lossy().to_ascii_lowercase().contains(".csv");
        bail!(
            "--data-dir {} is a file; pass the folder that holds {}",
            dir.display(),
            if csv {
                "it (MNIST as CSV is read from mnist_train.csv and mnist_test.csv, or from \
                 Kaggle's train.csv, in that folder)"
            } else {
                "the four MNIST files"
            }
        );
    }
    if !dir.is_dir() {
        bail!(
            "MNIST directory {} not found: the repository ships MNIST in data/mnist/ \
             (run from the repository root or pass --data-dir DIR holding \
             train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz \
             and t10k-labels-idx1-ubyte.gz)",
            dir.display()
        );
    }
    Ok(())
}

fn search_folders(dir: &Path) -> Vec<Folder> {
    let mut folders = vec![
        Folder {
            path: dir.to_path_buf(),
            layout: None,
        },
        Folder {
            path: dir.join("raw"),
            layout: Some("torchvision layout"),
        },
    ];
    folders.extend(TORCHVISION_SETS.iter().map(|set| Folder {
        path: dir.join(set).join("raw"),
        layout: Some("torchvision layout"),
    }));
    folders
}

/// `train-images-idx3-ubyte` → `train-images.idx3-ubyte`.
fn dotted(stem: &str) -> String {
    match stem.rfind("-idx") {
        Some(i) => format!("{}.{}", &stem[..i], &stem[i + 1..]),
        None => stem.to_string(),
    }
}

/// The four file names tried for `stem`, in order, each with its reason.
fn names(stem: &str) -> [(String, Option<&'static str>); 4] {
    let dot = dotted(stem);
    [
        (format!("{stem}.gz"), None),
        (stem.to_string(), Some("name without .gz")),
        (format!("{dot}.gz"), Some("dotted name")),
        (dot, Some("dotted name")),
    ]
}

/// Every path tried for `stem` in `folder`, in order.
fn candidates(folder: &Folder, stem: &str) -> Vec<Candidate> {
    let with = |path: PathBuf, reasons: [Option<&'static str>; 3]| Candidate {
        path,
        reasons: reasons.into_iter().flatten().collect(),
    };
    let mut out: Vec<Candidate> = names(stem)
        .into_iter()
        .map(|(name, why)| with(folder.path.join(name), [folder.layout, why, None]))
        .collect();
    for sub in [stem.to_string(), dotted(stem)] {
        for (name, why) in names(stem) {
            let kaggle = Some("Kaggle layout: in a folder named like the file");
            out.push(with(
                folder.path.join(&sub).join(name),
                [folder.layout, kaggle, why],
            ));
        }
    }
    out
}

fn holds_any(folder: &Folder, stems: &[String]) -> bool {
    stems
        .iter()
        .any(|s| candidates(folder, s).iter().any(|c| c.path.is_file()))
}

fn holds_test_only(folder: &Folder, split: Split) -> bool {
    split == Split::Train && holds_any(folder, &Split::Test.file_names())
}

/// Refuses a `DIR` whose several torchvision data sets hold these files.
fn check_unambiguous(
    dir: &Path,
    folders: &[Folder],
    chosen: usize,
    stems: &[String],
) -> Result<()> {
    let sets_from = folders.len() - TORCHVISION_SETS.len();
    if chosen < sets_from {
        return Ok(());
    }
    let holding: Vec<&str> = TORCHVISION_SETS
        .iter()
        .zip(&folders[sets_from..])
        .filter(|(_, f)| holds_any(f, stems))
        .map(|(set, _)| *set)
        .collect();
    if holding.len() > 1 {
        let example = dir.join(holding[0]);
        bail!(
            "{} holds several torchvision data sets ({}): pass the one to use, e.g. --data-dir {}",
            dir.display(),
            holding
                .iter()
                .map(|s| format!("{s}/raw/"))
                .collect::<Vec<_>>()
                .join(", "),
            example.display()
        );
    }
    Ok(())
}

/// The "nothing fits" message: what was tried and what the folder holds.
fn not_found(dir: &Path, folder: &Folder, stem: &str, test_only: bool) -> String {
    let tried: Vec<String> = names(stem).into_iter().map(|(n, _)| n).collect();
    let mut msg = format!(
        "no {stem} file in {}: tried {}, the same names inside a folder {stem}/ or {}/ \
         (Kaggle layout)",
        folder.path.display(),
        tried.join(", "),
        dotted(stem)
    );
    if folder.layout.is_none() {
        msg += ", and in raw/, MNIST/raw/, FashionMNIST/raw/ and KMNIST/raw/ below it \
                (torchvision layout)";
    }
    msg += &format!("; none of these exists. {}", describe(&folder.path));
    for sub in [stem.to_string(), dotted(stem)] {
        let path = folder.path.join(sub);
        if path.is_dir() {
            msg += &format!(" {}", describe(&path));
        }
    }
    if test_only {
        msg += " Only the test files are there: training needs train-images-idx3-ubyte and \
                train-labels-idx1-ubyte (evaluating a saved model needs only the t10k files).";
    }
    if folder.layout.is_none() && dir.ends_with("data/mnist") {
        msg += " (MNIST ships in data/mnist/ of the repository.)";
    }
    msg
}

/// `DIR holds: a, b/, … (and N more).` or why it cannot be listed.
fn describe(path: &Path) -> String {
    let shown = path.display();
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return format!("{shown} cannot be listed: {e}."),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                format!("{name}/")
            } else {
                name
            }
        })
        .collect();
    if names.is_empty() {
        return format!("{shown} is a folder, but it is empty.");
    }
    names.sort();
    let more = names.len().saturating_sub(LISTED_ENTRIES);
    names.truncate(LISTED_ENTRIES);
    let tail = if more > 0 {
        format!(" (and {more} more)")
    } else {
        String::new()
    };
    format!("{shown} is a folder holding: {}{tail}.", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_put_a_dot_before_idx() {
        assert_eq!(dotted("train-images-idx3-ubyte"), "train-images.idx3-ubyte");
        assert_eq!(dotted("t10k-labels-idx1-ubyte"), "t10k-labels.idx1-ubyte");
    }

    #[test]
    fn the_first_form_gets_no_note_and_the_others_say_why() {
        let folder = &search_folders(Path::new("d"))[0];
        let c = candidates(folder, "t10k-labels-idx1-ubyte");
        assert_eq!(c.len(), 12);
        assert_eq!(c[0].note(), None);
        assert_eq!(
            c[3].note().as_deref(),
            Some("using d/t10k-labels.idx1-ubyte (dotted name)")
        );
        let kaggle = c[5].note().unwrap_or_default();
        assert!(kaggle.contains("d/t10k-labels-idx1-ubyte/t10k-labels-idx1-ubyte ("));
        assert!(kaggle.contains("Kaggle layout"));
        let tv = &search_folders(Path::new("d"))[2];
        assert_eq!(
            candidates(tv, "t10k-labels-idx1-ubyte")[0]
                .note()
                .as_deref(),
            Some("using d/MNIST/raw/t10k-labels-idx1-ubyte.gz (torchvision layout)")
        );
    }
}
