//! MNIST-format folders in the layouts people download them in: plain,
//! gunzipped, dotted names, Kaggle's folders, torchvision's `MNIST/raw/` and
//! `FashionMNIST/raw/`. Each layout is written at test time from the first
//! images of the bundled `data/mnist/` and must load exactly the same tensors
//! as the plain layout, saying which file it used.

use crate::common;

use common::assert_has;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flate2::write::GzEncoder;
use tchport::data::idx::{read_idx_file, IdxArray};
use tchport::data::mnist::{self, ImageSet, MnistFiles, Split};

/// Images kept per split: small, but real digits with varied labels.
const TRAIN_N: usize = 40;
const TEST_N: usize = 24;

const STEMS: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The first images and labels of the bundled MNIST, as uncompressed IDX
/// bytes in the order of [`STEMS`].
fn small_mnist() -> &'static [Vec<u8>; 4] {
    static FILES: OnceLock<[Vec<u8>; 4]> = OnceLock::new();
    FILES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
        STEMS.map(|stem| {
            let full =
                read_idx_file(&root.join(format!("{stem}.gz"))).unwrap_or_else(|e| panic!("{e:#}"));
            let n = if stem.starts_with("train") {
                TRAIN_N
            } else {
                TEST_N
            };
            let per_item: usize = full.dims[1..].iter().product();
            let mut dims = full.dims.clone();
            dims[0] = n;
            let small = IdxArray {
                dims,
                data: full.data[..n * per_item].to_vec(),
            };
            small.to_bytes().unwrap_or_else(|e| panic!("{e:#}"))
        })
    })
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("writing to memory");
    e.finish().expect("finishing gzip in memory")
}

/// Writes the four files; `place(stem)` gives the path relative to `dir` and
/// whether to gzip it.
fn write_layout(dir: &Path, place: impl Fn(&str) -> (String, bool)) {
    for (stem, bytes) in STEMS.iter().zip(small_mnist()) {
        let (rel, zip) = place(stem);
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("mkdir");
        let content = if zip { gz(bytes) } else { bytes.clone() };
        std::fs::write(&path, content).expect("write");
    }
}

fn dotted(stem: &str) -> String {
    stem.replace("-idx", ".idx")
}

fn load(dir: &Path) -> mnist::Mnist {
    mnist::load_dir(dir).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()))
}

fn assert_same(a: &ImageSet, b: &ImageSet, what: &str) {
    assert_eq!(a.images.size(), b.images.size(), "{what}: image shapes");
    assert!(a.images.equal(&b.images), "{what}: images differ");
    assert!(a.labels.equal(&b.labels), "{what}: labels differ");
}

fn err(result: anyhow::Result<impl std::fmt::Debug>) -> String {
    format!("{:#}", result.expect_err("this folder should be refused"))
}

/// The reference: `NAME.gz` for all four, which gives no note.
fn plain(root: &Path) -> (PathBuf, mnist::Mnist) {
    let dir = root.join("plain");
    write_layout(&dir, |s| (format!("{s}.gz"), true));
    let data = load(&dir);
    assert!(data.notes.is_empty(), "{:?}", data.notes);
    assert_eq!(data.train.len(), TRAIN_N as i64);
    assert_eq!(data.test.len(), TEST_N as i64);
    (dir, data)
}

/// Loads `dir` (by `data_dir`), checks the tensors against `reference` and
/// that every note holds `note_part` and names one of the four files.
fn check_layout(reference: &mnist::Mnist, dir: &Path, data_dir: &Path, note_part: &str) {
    let data = load(data_dir);
    let what = dir.display().to_string();
    assert_same(&data.train, &reference.train, &what);
    assert_same(&data.test, &reference.test, &what);
    assert_eq!(
        data.notes.len(),
        4,
        "{what}: one note per file: {:?}",
        data.notes
    );
    for (note, stem) in data.notes.iter().zip(STEMS) {
        let dotted = dotted(stem);
        assert!(
            note.starts_with(&format!("using {}", dir.display()))
                && (note.contains(stem) || note.contains(&dotted))
                && note.contains(note_part),
            "{what}: note {note:?} lacks {note_part:?} or the file"
        );
    }
    println!("{what}: {:?}", data.notes);
}

#[test]
fn every_layout_loads_the_same_tensors_and_says_which_file_it_used() {
    let root = common::scratch("mnist-layouts");
    let (_, reference) = plain(&root);

    let dir = root.join("gunzipped");
    write_layout(&dir, |s| (s.to_string(), false));
    check_layout(&reference, &dir, &dir, "name without .gz");

    let dir = root.join("dotted");
    write_layout(&dir, |s| (dotted(s), false));
    check_layout(&reference, &dir, &dir, "dotted name");

    let dir = root.join("dotted-gz");
    write_layout(&dir, |s| (format!("{}.gz", dotted(s)), true));
    check_layout(&reference, &dir, &dir, "dotted name");

    let dir = root.join("kaggle");
    write_layout(&dir, |s| (format!("{s}/{s}"), false));
    check_layout(&reference, &dir, &dir, "Kaggle layout");

    let dir = root.join("kaggle-dotted");
    write_layout(&dir, |s| (format!("{s}/{}", dotted(s)), false));
    check_layout(&reference, &dir, &dir, "Kaggle layout");

    for set in ["MNIST", "FashionMNIST"] {
        let data_root = root.join(format!("torchvision-{set}"));
        let raw = data_root.join(set).join("raw");
        write_layout(&raw, |s| (s.to_string(), false));
        check_layout(&reference, &raw, &data_root, "torchvision layout");
        // --data-dir ROOT/MNIST (the data set's own folder) works too.
        check_layout(&reference, &raw, &data_root.join(set), "torchvision layout");
    }
}

#[test]
fn a_folder_with_only_the_test_files_serves_evaluation_but_not_training() {
    let root = common::scratch("mnist-test-only");
    let (_, reference) = plain(&root);
    let dir = root.join("test-only");
    write_layout(&dir, |s| (format!("{s}.gz"), true));
    for stem in &STEMS[..2] {
        std::fs::remove_file(dir.join(format!("{stem}.gz"))).expect("remove");
    }
    let (test, notes) = mnist::load_test(&dir).unwrap_or_else(|e| panic!("{e:#}"));
    assert_same(&test, &reference.test, "test-only folder");
    assert!(notes.is_empty(), "{notes:?}");
    assert_has(
        &err(mnist::load_train(&dir)),
        &[
            "no train-images-idx3-ubyte file in",
            "none of these exists",
            "is a folder holding: t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz.",
            "Only the test files are there",
        ],
    );
    // load_dir needs all four.
    assert_has(
        &err(mnist::load_dir(&dir)),
        &["no train-images-idx3-ubyte file"],
    );
}

#[test]
fn nothing_fits_lists_the_folder_and_the_names_tried() {
    let dir = common::scratch("mnist-nothing-fits");
    for i in 0..25 {
        std::fs::write(dir.join(format!("file{i:02}.png")), b"png").expect("write");
    }
    std::fs::create_dir_all(dir.join("images")).expect("mkdir");
    let msg = err(mnist::load_dir(&dir));
    assert_has(
        &msg,
        &[
            "no train-images-idx3-ubyte file in",
            "tried train-images-idx3-ubyte.gz, train-images-idx3-ubyte, \
             train-images.idx3-ubyte.gz, train-images.idx3-ubyte",
            "inside a folder train-images-idx3-ubyte/ or train-images.idx3-ubyte/",
            "MNIST/raw/, FashionMNIST/raw/",
            "none of these exists",
            "is a folder holding: file00.png, file01.png",
            "file19.png (and 6 more)",
        ],
    );
    assert!(
        !msg.contains("file20.png"),
        "only 20 entries are listed:\n{msg}"
    );
}

#[test]
fn a_folder_named_like_a_file_is_never_reported_missing() {
    let root = common::scratch("mnist-empty-kaggle-folder");
    let dir = root.join("data");
    write_layout(&dir, |s| (format!("{s}.gz"), true));
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).expect("remove");
    let folder = dir.join("t10k-labels-idx1-ubyte");
    std::fs::create_dir_all(&folder).expect("mkdir");
    let msg = err(mnist::load_dir(&dir));
    assert_has(
        &msg,
        &[
            "no t10k-labels-idx1-ubyte file in",
            "t10k-labels-idx1-ubyte/, train-images-idx3-ubyte.gz",
            &format!("{} is a folder, but it is empty.", folder.display()),
        ],
    );
    for wrong in ["does not exist", "not found"] {
        assert!(
            !msg.contains(wrong),
            "an existing folder is reported as {wrong:?}:\n{msg}"
        );
    }
    // The same folder holding something else is listed.
    std::fs::write(folder.join("README.txt"), b"readme").expect("write");
    assert_has(
        &err(mnist::load_dir(&dir)),
        &[&format!(
            "{} is a folder holding: README.txt.",
            folder.display()
        )],
    );
}

#[test]
fn data_dir_that_is_a_file_or_holds_two_torchvision_sets_is_refused() {
    let root = common::scratch("mnist-refused-dirs");
    let (plain_dir, _) = plain(&root);
    let file = plain_dir.join("train-images-idx3-ubyte.gz");
    assert_has(
        &err(mnist::load_dir(&file)),
        &["train-images-idx3-ubyte.gz is a file", "pass the folder"],
    );
    let both = root.join("torchvision-both");
    for set in ["MNIST", "FashionMNIST"] {
        write_layout(&both.join(set).join("raw"), |s| (format!("{s}.gz"), true));
    }
    assert_has(
        &err(mnist::load_dir(&both)),
        &[
            "holds several torchvision data sets (MNIST/raw/, FashionMNIST/raw/)",
            "--data-dir",
        ],
    );
    // Files directly in the folder come first: no ambiguity then.
    write_layout(&both, |s| (format!("{s}.gz"), true));
    let found = MnistFiles::find(&both, &[Split::Test]).unwrap_or_else(|e| panic!("{e:#}"));
    let (images, _) = found
        .split(Split::Test)
        .expect("the test split was asked for");
    assert_eq!(images, both.join("t10k-images-idx3-ubyte.gz"));
    assert!(found.split(Split::Train).is_none());
}

#[test]
fn a_torchvision_folder_missing_a_file_names_that_folder() {
    let root = common::scratch("mnist-torchvision-partial");
    let raw = root.join("FashionMNIST").join("raw");
    write_layout(&raw, |s| (s.to_string(), false));
    std::fs::remove_file(raw.join("t10k-images-idx3-ubyte")).expect("remove");
    assert_has(
        &err(mnist::load_dir(&root)),
        &[
            &format!("no t10k-images-idx3-ubyte file in {}", raw.display()),
            "none of these exists",
            "t10k-labels-idx1-ubyte, train-images-idx3-ubyte",
        ],
    );
}
