//! The pictures of `tchport::plot`, written from small synthetic inputs made
//! here: the attention heatmap and the learning curves parse as SVG, have one
//! panel per head (per chart) with their labels, and bad inputs are refused
//! with errors naming the file.

use crate::common;

use std::path::{Path, PathBuf};

use serde_json::json;
use tch::{Device, Kind, Tensor};
use tchport::plot::{curves, heatmap};
use tchport::train::EpochRecord;

/// Dark blue, the colour of a cell at its head's saturation weight.
const DARK_BLUE: &str = "#08306B";

/// Reads `path`, checks it is an XML document whose root is an SVG `<svg>`,
/// and returns the text of every `<text>` element, trimmed, in order.
fn svg_texts(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("the picture was written");
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    root.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

/// The `fill` of every `<rect>` of the SVG at `path`.
fn rect_fills(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("the picture was written");
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("rect"))
        .map(|n| n.attribute("fill").unwrap_or("").to_string())
        .collect()
}

/// Attention weights `[heads, seq, seq]`: each row one-hot on the diagonal.
fn diagonal(heads: i64, seq: i64) -> Tensor {
    Tensor::eye(seq, (Kind::Float, Device::Cpu)).repeat([heads, 1, 1])
}

/// Attention weights `[heads, seq, seq]` as under a causal mask at step 0: row
/// 0 one-hot on key 0, every other row uniform.
fn first_row_one_hot(heads: i64, seq: i64) -> Tensor {
    let row = |i: i64| -> Vec<f32> {
        (0..seq)
            .map(|j| match i {
                0 => f32::from(u8::from(j == 0)),
                _ => 1.0 / seq as f32,
            })
            .collect()
    };
    let head: Vec<f32> = (0..seq).flat_map(row).collect();
    Tensor::from_slice(&head)
        .reshape([1, seq, seq])
        .repeat([heads, 1, 1])
}

fn error_of(result: anyhow::Result<()>) -> String {
    format!("{:#}", result.expect_err("the input is refused"))
}

#[test]
fn the_heatmap_has_one_labelled_panel_per_head_and_layer() {
    let dir = common::scratch("plot-heatmap");
    let path = dir.join("attention.svg");
    let rows = vec![
        ("layer 0,".to_string(), diagonal(3, 10)),
        ("last layer (1),".to_string(), first_row_one_hot(3, 10)),
    ];
    heatmap::write_attention(&path, &rows, "weights <of> a test")
        .unwrap_or_else(|e| panic!("{e:#}"));

    let texts = svg_texts(&path);
    assert!(
        texts.contains(&"weights <of> a test".to_string()),
        "{texts:?}"
    );
    let panels: Vec<&String> = texts.iter().filter(|t| t.contains(" head ")).collect();
    assert_eq!(panels.len(), 6, "{panels:?}");
    for h in 0..3 {
        // The 99th percentile of 100 weights is the second largest: 1 for
        // ten ones on the diagonal, 0.1 when a single weight is 1.
        let first = format!("layer 0, head {h} (dark blue ≥ 1.000)");
        let last = format!("last layer (1), head {h} (dark blue ≥ 0.100)");
        assert!(
            panels.contains(&&first) && panels.contains(&&last),
            "{panels:?}"
        );
    }
    assert_eq!(texts.iter().filter(|t| *t == "key step").count(), 6);

    // Zero cells are left white; every other cell here is at (or beyond) its
    // head's saturation: 3 heads × 10 diagonal cells, then 3 heads × (1 + 90).
    let fills = rect_fills(&path);
    let dark = fills.iter().filter(|f| *f == DARK_BLUE).count();
    assert_eq!(dark, 3 * 10 + 3 * 91);
    let other_cells = fills
        .iter()
        .filter(|f| !["#FFFFFF", "none", DARK_BLUE].contains(&f.as_str()))
        .count();
    assert_eq!(other_cells, 0, "{fills:?}");
}

#[test]
fn bad_heatmap_inputs_are_refused_naming_the_flag_or_file() {
    let dir = common::scratch("plot-heatmap-errors");
    let svg = dir.join("a.svg");
    let one = |w: Tensor| vec![("layer 0,".to_string(), w)];

    let err = error_of(heatmap::write_attention(&svg, &[], "t"));
    assert!(
        err.contains("--attention heatmap") && err.contains("no attention weights"),
        "{err}"
    );
    let err = error_of(heatmap::write_attention(
        &svg,
        &one(diagonal(2, 4).narrow(2, 0, 3)),
        "t",
    ));
    assert!(
        err.contains("[heads, seq, seq]") && err.contains("[2, 4, 3]"),
        "{err}"
    );
    let mut rows = one(diagonal(2, 4));
    rows.push(("layer 1,".to_string(), diagonal(3, 4)));
    let err = error_of(heatmap::write_attention(&svg, &rows, "t"));
    assert!(
        err.contains("layer 1,") && err.contains("same shape"),
        "{err}"
    );
    assert!(!svg.exists(), "nothing is written for a refused input");

    let png = dir.join("a.png");
    let err = error_of(heatmap::write_attention(&png, &one(diagonal(1, 2)), "t"));
    assert!(err.contains("a.png") && err.contains("only SVG"), "{err}");
    let blocked = dir.join("a-file");
    std::fs::write(&blocked, "not a folder").expect("scratch is writable");
    let inside = blocked.join("a.svg");
    let err = error_of(heatmap::write_attention(&inside, &one(diagonal(1, 2)), "t"));
    assert!(err.contains(&blocked.display().to_string()), "{err}");
}

/// Writes a report shaped like cnn_mnist's `--metrics-json` (the epochs
/// serialised by the library's own `EpochRecord`), `epochs` epochs long.
fn write_report(dir: &Path, name: &str, epochs: usize, rate: f64) -> PathBuf {
    let records: Vec<EpochRecord> = (1..=epochs)
        .map(|epoch| {
            let acc = 1.0 - 0.5 / (1.0 + rate * epoch as f64);
            EpochRecord {
                epoch,
                train_loss: 2.0 / (1.0 + rate * epoch as f64),
                train_seconds: 1.0,
                samples_per_sec: 500.0,
                metrics: vec![("val loss".into(), 1.0 - acc), ("val acc".into(), acc)],
            }
        })
        .collect();
    let report = json!({
        "config": {"train": {"batch_size": 64, "seed": 0, "epochs": epochs}},
        "device": "cpu",
        "epochs": records,
        "train_images": 1000,
        "val_images": 200,
        "test": {"accuracy": 0.9, "macro_avg": {"support": 500}},
    });
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, report.to_string()).expect("scratch is writable");
    path
}

#[test]
fn the_learning_curves_have_two_panels_and_a_table() {
    let dir = common::scratch("plot-curves");
    let runs = [
        curves::read_run("SGD", &write_report(&dir, "sgd", 3, 0.2)),
        curves::read_run("Adam lr 0.001", &write_report(&dir, "adam", 2, 1.0)),
    ]
    .map(|r| r.unwrap_or_else(|e| panic!("{e:#}")));
    let path = dir.join("curves.svg");
    curves::write_curves(&path, &runs, "val acc").unwrap_or_else(|e| panic!("{e:#}"));

    let texts = svg_texts(&path);
    for title in ["validation accuracy per epoch", "training loss per epoch"] {
        assert_eq!(texts.iter().filter(|t| *t == title).count(), 1, "{texts:?}");
    }
    for label in ["SGD", "Adam lr 0.001"] {
        // One legend entry per panel.
        assert_eq!(texts.iter().filter(|t| *t == label).count(), 2, "{texts:?}");
    }

    let table = curves::markdown_table(&runs, "val acc").unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        table.starts_with("Validation accuracy per epoch"),
        "{table}"
    );
    assert!(
        table.contains("800 training / 200 validation images, batch 64, seed 0"),
        "{table}"
    );
    assert!(
        table.contains("| run | epoch 1 | epoch 2 | epoch 3 | test (end) |"),
        "{table}"
    );
    // Adam ran 2 epochs: its third cell is empty.
    assert!(
        table.contains("| Adam lr 0.001 | 75.00 % (loss 1.000) |"),
        "{table}"
    );
    assert!(table.contains("| – | 90.00 % |"), "{table}");
}

#[test]
fn bad_curve_inputs_are_refused_naming_the_file() {
    let dir = common::scratch("plot-curves-errors");
    let read = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("scratch is writable");
        format!("{:#}", curves::read_run("x", &path).expect_err("refused"))
    };
    let missing = dir.join("missing.json");
    let err = format!("{:#}", curves::read_run("x", &missing).unwrap_err());
    assert!(err.contains("missing.json"), "{err}");
    let err = read("text.json", "test accuracy 97 %");
    assert!(
        err.contains("text.json") && err.contains("not JSON"),
        "{err}"
    );
    let err = read("other.json", r#"{"loss": 1.0}"#);
    assert!(
        err.contains("other.json") && err.contains("\"epochs\""),
        "{err}"
    );
    let err = read("bad-epochs.json", r#"{"epochs": [{"epoch": 1}]}"#);
    assert!(
        err.contains("bad-epochs.json") && err.contains("epoch records"),
        "{err}"
    );
    let err = read("eval.json", r#"{"epochs": []}"#);
    assert!(
        err.contains("eval.json") && err.contains("no epoch"),
        "{err}"
    );

    let mut report = common::read_json(&write_report(&dir, "r", 2, 1.0));
    report["epochs"][1]["metrics"] = json!([["test acc", 0.5]]);
    let path = dir.join("no-val.json");
    std::fs::write(&path, report.to_string()).expect("scratch is writable");
    let run = curves::read_run("x", &path).unwrap_or_else(|e| panic!("{e:#}"));
    let err = format!(
        "{:#}",
        curves::write_curves(&dir.join("c.svg"), &[run], "val acc").unwrap_err()
    );
    assert!(
        err.contains("no-val.json") && err.contains("epoch 2") && err.contains("\"test acc\""),
        "{err}"
    );

    let run = curves::read_run("x", &write_report(&dir, "ok", 1, 1.0)).expect("a good report");
    let err = format!(
        "{:#}",
        curves::write_curves(&dir.join("c.png"), &[run], "val acc").unwrap_err()
    );
    assert!(err.contains("c.png") && err.contains("only SVG"), "{err}");
    let err = format!("{:#}", curves::parse_spec("runs/sgd.json").unwrap_err());
    assert!(
        err.contains("runs/sgd.json") && err.contains("LABEL=PATH.json"),
        "{err}"
    );
}

/// The `plot_curves` example as `make optim-compare` runs it: `--metric`
/// picks the upper panel's metric, `--table` writes the Markdown table.
#[test]
fn the_plot_curves_command_writes_the_picture_and_the_table() {
    let dir = common::scratch("plot-curves-cli");
    let a = write_report(&dir, "a", 3, 1.0);
    let b = write_report(&dir, "b", 3, 2.0);
    let bin = common::example_binary("plot_curves");
    let (svg, table) = (dir.join("curves.svg"), dir.join("table.md"));
    let out = std::process::Command::new(bin)
        .arg(&svg)
        .arg(format!("Slow={}", a.display()))
        .arg(format!("Fast={}", b.display()))
        .args(["--metric", "val loss", "--table"])
        .arg(&table)
        .output()
        .expect("plot_curves runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let texts = svg_texts(&svg).join(" ");
    assert!(
        texts.contains("val loss"),
        "--metric names the upper panel: {texts}"
    );
    assert!(texts.contains("Slow") && texts.contains("Fast"), "{texts}");
    let md = std::fs::read_to_string(&table).expect("--table wrote the table");
    assert!(md.contains("| Slow") && md.contains("| Fast"), "{md}");
    assert_eq!(md.lines().filter(|l| l.starts_with('|')).count(), 4, "{md}");
}
