//! MNIST as CSV (issue 21): `mnist_train.csv` + `mnist_test.csv` with and
//! without a header, and Kaggle's Digit Recognizer `train.csv`, written at
//! test time from the first images of the bundled IDX files, load exactly the
//! IDX tensors and give a `cnn_mnist` run the IDX run's numbers; bad rows are
//! refused naming the file and the line; Kaggle's unlabelled `test.csv` gives
//! a `--submission` file of the model's answers.

use crate::common;

use common::assert_has;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tchport::data::idx::{read_idx_file, IdxArray};
use tchport::data::mnist::{self, ImageSet};

/// Training and test images kept: a few hundred real digits. The Kaggle
/// file holds both, and its last 1/7 (50 of 350) is its test set.
const TRAIN_N: usize = 300;
const TEST_N: usize = 50;

/// `(train images, train labels, test images, test labels)` of the bundled
/// MNIST, the first TRAIN_N / TEST_N.
fn small_mnist() -> &'static [IdxArray; 4] {
    static FILES: OnceLock<[IdxArray; 4]> = OnceLock::new();
    FILES.get_or_init(|| {
        let root = common::repo_root().join("data/mnist");
        let stems = [
            ("train-images-idx3-ubyte", TRAIN_N),
            ("train-labels-idx1-ubyte", TRAIN_N),
            ("t10k-images-idx3-ubyte", TEST_N),
            ("t10k-labels-idx1-ubyte", TEST_N),
        ];
        stems.map(|(stem, n)| {
            let full =
                read_idx_file(&root.join(format!("{stem}.gz"))).unwrap_or_else(|e| panic!("{e:#}"));
            let per_item: usize = full.dims[1..].iter().product();
            let mut dims = full.dims.clone();
            dims[0] = n;
            IdxArray {
                dims,
                data: full.data[..n * per_item].to_vec(),
            }
        })
    })
}

/// The IDX folder of the small set (uncompressed files).
fn write_idx(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ];
    for (name, array) in names.iter().zip(small_mnist()) {
        let bytes = array.to_bytes().unwrap_or_else(|e| panic!("{e:#}"));
        std::fs::write(dir.join(name), bytes).expect("write");
    }
}

/// CSV text of images (`[n, 28, 28]`) with labels first (unless `None`),
/// after `header` when given; `eol` ends each line.
fn csv_text(
    images: &IdxArray,
    labels: Option<&IdxArray>,
    header: Option<&str>,
    eol: &str,
) -> String {
    let mut out = String::new();
    if let Some(h) = header {
        out += h;
        out += eol;
    }
    for (i, px) in images.data.chunks(784).enumerate() {
        if let Some(l) = labels {
            write!(out, "{},", l.data[i]).expect("to a string");
        }
        let row: Vec<String> = px.iter().map(u8::to_string).collect();
        out += &row.join(",");
        out += eol;
    }
    out
}

fn header(first: &str, pixel: impl Fn(usize) -> String) -> String {
    let mut names = vec![first.to_string()];
    names.extend((0..784).map(pixel));
    names.join(",")
}

/// Kaggle's `label,pixel0,...,pixel783`.
fn kaggle_header() -> String {
    header("label", |i| format!("pixel{i}"))
}

/// The "MNIST in CSV" download's `label,1x1,...,28x28`.
fn rc_header() -> String {
    header("label", |i| format!("{}x{}", i / 28 + 1, i % 28 + 1))
}

/// Writes `mnist_train.csv` and `mnist_test.csv` into `dir`.
fn write_pair(dir: &Path, header: Option<&str>, eol: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let [ti, tl, ei, el] = small_mnist();
    std::fs::write(
        dir.join("mnist_train.csv"),
        csv_text(ti, Some(tl), header, eol),
    )
    .expect("write");
    std::fs::write(
        dir.join("mnist_test.csv"),
        csv_text(ei, Some(el), header, eol),
    )
    .expect("write");
}

/// Writes Kaggle's `train.csv` (train then test images) into `dir`.
fn write_kaggle(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let [ti, tl, ei, el] = small_mnist();
    let mut text = csv_text(ti, Some(tl), Some(&kaggle_header()), "\n");
    text += &csv_text(ei, Some(el), None, "\n");
    std::fs::write(dir.join("train.csv"), text).expect("write");
}

fn assert_same(a: &ImageSet, b: &ImageSet, what: &str) {
    assert_eq!(a.images.size(), b.images.size(), "{what}: image shapes");
    assert_eq!(a.images.kind(), b.images.kind(), "{what}: image dtype");
    assert!(a.images.equal(&b.images), "{what}: images differ");
    assert!(a.labels.equal(&b.labels), "{what}: labels differ");
}

fn load(dir: &Path) -> mnist::Mnist {
    mnist::load_dir(dir).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()))
}

fn err(result: anyhow::Result<impl std::fmt::Debug>) -> String {
    format!("{:#}", result.expect_err("this input should be refused"))
}

#[test]
fn every_csv_layout_loads_the_idx_tensors_and_says_which_files_it_used() {
    let root = common::scratch("mnist-csv-layouts");
    write_idx(&root.join("idx"));
    let idx = load(&root.join("idx"));
    assert_eq!(
        (idx.train.len(), idx.test.len()),
        (TRAIN_N as i64, TEST_N as i64)
    );

    let cases: [(&str, Option<String>, &str, &str); 3] = [
        ("no-header", None, "\n", "no header, 300 rows) and "),
        (
            "rc-header-crlf",
            Some(rc_header()),
            "\r\n",
            "with a header, 300 rows",
        ),
        (
            "kaggle-header",
            Some(kaggle_header()),
            "\n",
            "with a header",
        ),
    ];
    for (name, header, eol, part) in cases {
        let dir = root.join(name);
        write_pair(&dir, header.as_deref(), eol);
        let data = load(&dir);
        assert_same(&data.train, &idx.train, name);
        assert_same(&data.test, &idx.test, name);
        assert_eq!(data.notes.len(), 1, "one line: {:?}", data.notes);
        assert_has(
            &data.notes[0],
            &[
                &format!("using {}", dir.join("mnist_train.csv").display()),
                &dir.join("mnist_test.csv").display().to_string(),
                part,
                "MNIST as CSV: a label then 784 pixels per row",
            ],
        );
        // Evaluation reads only the test file.
        std::fs::remove_file(dir.join("mnist_train.csv")).expect("remove");
        let (test, notes) = mnist::load_test(&dir).unwrap_or_else(|e| panic!("{e:#}"));
        assert_same(&test, &idx.test, name);
        assert!(!notes[0].contains("mnist_train"), "{notes:?}");
        assert_has(
            &err(mnist::load_train(&dir)),
            &[
                "mnist_test.csv is there but not mnist_train.csv",
                "training needs it",
            ],
        );
    }

    let dir = root.join("kaggle");
    write_kaggle(&dir);
    let data = load(&dir);
    assert_same(&data.train, &idx.train, "kaggle");
    assert_same(&data.test, &idx.test, "kaggle");
    assert_has(
        &data.notes[0],
        &[
            "train.csv (Kaggle Digit Recognizer layout, with a header, 350 rows)",
            "the first 300 rows train, the last 50 (lines 302-351) are the test set",
        ],
    );
    let (test, _) = mnist::load_test(&dir).unwrap_or_else(|e| panic!("{e:#}"));
    assert_same(&test, &idx.test, "kaggle test split");
}

/// `dir/NAME` holding `text` (replacing one row of a good file).
fn bad_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// The good test CSV (header, then 50 rows) with row `row` (0-based) changed by `edit`.
fn edited(edit: impl Fn(&mut Vec<String>)) -> String {
    let [_, _, ei, el] = small_mnist();
    let text = csv_text(ei, Some(el), Some(&kaggle_header()), "\n");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut fields: Vec<String> = lines[3].split(',').map(str::to_string).collect();
    edit(&mut fields);
    lines[3] = fields.join(",");
    lines.join("\n") + "\n"
}

#[test]
fn bad_rows_are_refused_naming_the_file_and_the_line() {
    let root = common::scratch("mnist-csv-errors");
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "short",
            edited(|f| {
                f.pop();
            }),
            vec!["mnist_test.csv line 4: 784 fields, but line 1 has 785 (a label then 784 pixels)"],
        ),
        (
            "pixel",
            edited(|f| f[200] = "256".into()),
            vec!["mnist_test.csv line 4, column 201 (pixel 199): \"256\" is not a pixel value 0..255"],
        ),
        (
            "scaled",
            edited(|f| f[5] = "0.5".into()),
            vec!["line 4, column 6 (pixel 4): \"0.5\"", "pixels scaled to [0, 1]?"],
        ),
        (
            "label",
            edited(|f| f[0] = "10".into()),
            vec!["mnist_test.csv line 4: label \"10\" is outside 0..9"],
        ),
    ];
    for (name, text, parts) in cases {
        let dir = root.join(name);
        bad_file(&dir, "mnist_test.csv", &text);
        assert_has(&err(mnist::load_test(&dir)), &parts);
    }
    // A header with a pixel count of fields other than 784 or 785.
    let dir = root.join("width");
    bad_file(&dir, "mnist_test.csv", "label,a,b\n1,2,3\n");
    assert_has(
        &err(mnist::load_test(&dir)),
        &["mnist_test.csv line 1: 3 fields; MNIST as CSV has a label then 784 pixels (785 fields)"],
    );
    // A first line of names and numbers.
    let dir = root.join("mixed");
    let text = edited(|_| {}).replacen("label,pixel0", "5,pixel0", 1);
    bad_file(&dir, "mnist_test.csv", &text);
    assert_has(
        &err(mnist::load_test(&dir)),
        &[
            "mnist_test.csv line 1: 1 of its 785 fields are numbers",
            "neither a header",
        ],
    );
    // The label last.
    let dir = root.join("label-last");
    let text = edited(|_| {}).replacen("label,pixel0", "pixel0,label", 1);
    bad_file(&dir, "mnist_test.csv", &text);
    assert_has(
        &err(mnist::load_test(&dir)),
        &["names column 2 `label`", "label first"],
    );
    // Kaggle's unlabelled test.csv alone: named, with the way to use it.
    let dir = root.join("kaggle-test-only");
    let [_, _, ei, _] = small_mnist();
    let pixels: Vec<String> = (0..784).map(|i| format!("pixel{i}")).collect();
    bad_file(
        &dir,
        "test.csv",
        &csv_text(ei, None, Some(&pixels.join(",")), "\n"),
    );
    assert_has(
        &err(mnist::load_dir(&dir)),
        &[
            "no train-images-idx3-ubyte file",
            "MNIST as CSV is read too (mnist_train.csv and mnist_test.csv, or Kaggle's train.csv",
            "test.csv looks like Kaggle's unlabelled test set",
            "--predict",
        ],
    );
    // The same file named like a labelled one.
    std::fs::rename(dir.join("test.csv"), dir.join("mnist_test.csv")).expect("rename");
    assert_has(
        &err(mnist::load_test(&dir)),
        &["mnist_test.csv line 1: 784 fields, pixels only, no label column"],
    );
    // --data-dir given the CSV file itself.
    assert_has(
        &err(mnist::load_test(&dir.join("mnist_test.csv"))),
        &["is a file; pass the folder that holds it (MNIST as CSV is read from"],
    );
}

/// Runs the cnn_mnist example with `args`; its stdout.
fn cnn_mnist(args: &[&str]) -> String {
    let out = Command::new(common::example_binary("cnn_mnist"))
        .args(args)
        .current_dir(common::repo_root())
        .output()
        .expect("the example runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "cnn_mnist {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// The run's output without its notes on the files and its timings.
fn numbers(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| !l.starts_with("using ") && !l.starts_with("seconds / epoch"))
        .map(|l| {
            l.split("  ")
                .filter(|part| !part.ends_with(" s") && !part.ends_with("samples/s"))
                .collect::<Vec<_>>()
                .join("  ")
        })
        .collect()
}

/// The flags of the short run on each folder.
const RUN: [&str; 10] = [
    "--epochs",
    "2",
    "--device",
    "cpu",
    "--optimizer",
    "adam",
    "--no-logit-relu",
    "--seed",
    "5",
    "--normalize",
];

#[test]
fn a_run_on_csv_files_prints_the_numbers_of_the_run_on_idx_files() {
    let root = common::scratch("mnist-csv-run");
    let dirs = [root.join("idx"), root.join("pair"), root.join("kaggle")];
    write_idx(&dirs[0]);
    write_pair(&dirs[1], None, "\n");
    write_kaggle(&dirs[2]);
    let outputs: Vec<String> = dirs
        .iter()
        .map(|d| {
            let mut args = RUN.to_vec();
            args.extend(["--data-dir", d.to_str().expect("UTF-8 path")]);
            cnn_mnist(&args)
        })
        .collect();
    let reference = numbers(&outputs[0]);
    assert!(
        reference.iter().any(|l| l.starts_with("test accuracy")),
        "{}",
        outputs[0]
    );
    for (dir, out) in dirs.iter().zip(&outputs).skip(1) {
        assert_eq!(
            numbers(out),
            reference,
            "{}:\n{out}\nIDX run:\n{}",
            dir.display(),
            outputs[0]
        );
        assert!(out.contains("using "), "the files used are named:\n{out}");
    }
    println!("{}", outputs[2]);
}

/// `--predict` lines `FILE:LINE  -> 7 (98.1%)  top3: …`: the predicted names.
fn predicted(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find("  -> ")? + 5..];
            Some(rest[..rest.find(" (")?].to_string())
        })
        .collect()
}

#[test]
fn kaggle_test_csv_gives_a_submission_of_the_models_answers() {
    let root = common::scratch("mnist-csv-submission");
    let idx = root.join("idx");
    write_idx(&idx);
    let model = root.join("m.safetensors");
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    let mut args = RUN.to_vec();
    let (idx_s, model_s) = (path(&idx), path(&model));
    args.extend(["--data-dir", &idx_s, "--save", &model_s]);
    cnn_mnist(&args);
    let eval = cnn_mnist(&[
        "--load",
        &model_s,
        "--eval-only",
        "--data-dir",
        &idx_s,
        "--device",
        "cpu",
    ]);
    let accuracy = eval
        .lines()
        .find_map(|l| l.strip_prefix("test accuracy"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no test accuracy:\n{eval}"))
        .to_string();

    // Kaggle's test.csv: a header pixel0..pixel783, the test images, no labels.
    let [_, _, ei, el] = small_mnist();
    let pixels: Vec<String> = (0..784).map(|i| format!("pixel{i}")).collect();
    let test_csv = root.join("test.csv");
    std::fs::write(&test_csv, csv_text(ei, None, Some(&pixels.join(",")), "\n")).expect("write");
    let (test_s, sub) = (path(&test_csv), root.join("submission.csv"));
    let sub_s = path(&sub);
    let out = cnn_mnist(&[
        "--load",
        &model_s,
        "--predict",
        &test_s,
        "--submission",
        &sub_s,
        "--device",
        "cpu",
    ]);
    assert_has(
        &out,
        &[
            "test.csv: 50 images of 28×28 pixels, one per row (with a header, 784 pixels, no label)",
            "--preprocess does not apply to CSV rows",
            &format!("wrote 50 predictions to {sub_s} (ImageId,Label; ImageId from 1"),
        ],
    );
    assert!(
        !out.contains("top3"),
        "no per-image lines with --submission:\n{out}"
    );
    let text = std::fs::read_to_string(&sub).expect("the submission is written");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ImageId,Label"));
    let rows: Vec<(usize, u8)> = lines
        .map(|l| {
            let (id, label) = l.split_once(',').unwrap_or_else(|| panic!("{l:?}"));
            (id.parse().expect("an id"), label.parse().expect("a digit"))
        })
        .collect();
    let ids: Vec<usize> = rows.iter().map(|r| r.0).collect();
    assert_eq!(ids, (1..=TEST_N).collect::<Vec<_>>());

    // The labels are the model's answers: those printed without --submission,
    // and they score the --eval-only accuracy of the same images' IDX files.
    let lines_out = cnn_mnist(&["--load", &model_s, "--predict", &test_s, "--device", "cpu"]);
    let answers: Vec<String> = rows.iter().map(|r| r.1.to_string()).collect();
    assert_eq!(predicted(&lines_out), answers, "{lines_out}");
    let correct = rows.iter().zip(&el.data).filter(|(r, &l)| r.1 == l).count();
    assert_eq!(
        format!("{:.2}%", 100.0 * correct as f64 / TEST_N as f64),
        accuracy,
        "{eval}"
    );
    // A labelled CSV is scored like the IDX files.
    let labelled = root.join("mnist_test.csv");
    std::fs::write(&labelled, csv_text(ei, Some(el), None, "\n")).expect("write");
    let scored = cnn_mnist(&[
        "--load",
        &model_s,
        "--predict",
        &path(&labelled),
        "--device",
        "cpu",
    ]);
    assert_has(
        &scored,
        &[
            &format!("({correct}/50 labelled)"),
            "a label then 784 pixels",
        ],
    );
    println!(
        "{eval}\n{out}\n{}",
        text.lines().take(4).collect::<Vec<_>>().join("\n")
    );

    let help = cnn_mnist(&["--help"]);
    assert_has(&help, &["--submission <FILE>", "ImageId,Label"]);
}

#[test]
fn truncated_and_scrambled_files_give_errors_not_panics() {
    let dir = common::scratch("mnist-csv-fuzz");
    let [_, _, ei, el] = small_mnist();
    let good = csv_text(ei, Some(el), Some(&kaggle_header()), "\n").into_bytes();
    let path = dir.join("mnist_test.csv");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut refused) = (0, 0);
    for case in 0..200 {
        let mut cut = next() as usize % good.len();
        if case % 2 == 0 {
            // Cut after a whole line: the rows before it are read.
            cut += good[cut..].iter().position(|&b| b == b'\n').unwrap_or(0) + 1;
        }
        let mut bytes = good[..cut.min(good.len())].to_vec();
        if case % 2 == 1 {
            for _ in 0..4 {
                let at = next() as usize % bytes.len().max(1);
                if let Some(b) = bytes.get_mut(at) {
                    let table = b",\n\"x9\r\x00\xff;";
                    *b = table[next() as usize % table.len()];
                }
            }
        }
        std::fs::write(&path, &bytes).expect("write");
        match mnist::read_csv_images(&path, mnist::LabelColumn::Optional) {
            Ok(images) => {
                assert_eq!(images.pixels.len(), 784 * images.len());
                ok += 1;
            }
            Err(e) => {
                assert!(format!("{e:#}").contains("mnist_test.csv"), "{e:#}");
                refused += 1;
            }
        }
    }
    println!("{ok} read, {refused} refused with the file named");
    assert!(ok > 50 && refused > 50, "{ok} read, {refused} refused");
}
