//! rnn_series end to end: bad CSVs fail with clear messages, the PyTorch twin
//! (`parity/rnn_series.py`) computes the very same run, checkpoints round-trip,
//! forecasts and plots are written.

use crate::common;
use tchport::cli::Flags;

use common::quiet_cpu;

use std::path::{Path, PathBuf};

use tchport::data::series::MissingPolicy;
use tchport::models::CellKind;
use tchport::session::RunOptions;
use tchport::tasks::rnn_series::{self, SeriesReport, Synthetic};

fn config(epochs: usize) -> rnn_series::Config {
    let mut cfg = rnn_series::Config::default();
    cfg.run.train.epochs = epochs;
    cfg
}

fn run(
    cfg: &rnn_series::Config,
    opts: &RunOptions,
    plot: Option<&Path>,
) -> anyhow::Result<SeriesReport> {
    let _lock = common::rng_lock();
    let task = rnn_series::RnnSeries {
        plot: plot.map(Path::to_path_buf),
    };
    tchport::session::run(&task, cfg, opts)
}

/// The error of a run on a CSV with `text`, as `{:#}` prints it.
fn csv_error(name: &str, text: &str, column: &str) -> (PathBuf, String) {
    let dir = common::scratch(name);
    let path = dir.join("bad.csv");
    std::fs::write(&path, text).expect("scratch file");
    let mut cfg = config(1);
    cfg.source.csv = path.clone();
    cfg.source.column = column.into();
    let err = run(&cfg, &quiet_cpu(), None).expect_err("a bad CSV must fail");
    (path, format!("{err:#}"))
}

fn numbers(n: usize) -> String {
    (0..n)
        .map(|i| format!("{i},{}\n", (i as f64 * 0.3).sin()))
        .collect()
}

#[test]
fn missing_file_names_the_file() {
    let mut cfg = config(1);
    cfg.source.csv = "no/such/series.csv".into();
    let err = format!("{:#}", run(&cfg, &quiet_cpu(), None).unwrap_err());
    assert!(
        err.contains("cannot read series file no/such/series.csv"),
        "{err}"
    );
}

#[test]
fn missing_column_lists_the_header() {
    let (path, err) = csv_error("csv-column", &format!("t,value\n{}", numbers(200)), "price");
    assert!(
        err.contains(&format!("{} has no column \"price\"", path.display())),
        "{err}"
    );
    assert!(err.contains("names \"t\", \"value\""), "{err}");
}

#[test]
fn junk_cell_names_file_line_and_cell() {
    let text = format!("t,value\n1,2.5\n2,3.5\n3,abc\n{}", numbers(200));
    let (path, err) = csv_error("csv-junk", &text, "value");
    assert!(
        err.contains(&format!(
            "{} line 4: column \"value\" holds \"abc\", not a finite number",
            path.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("--missing drop or --missing interpolate"),
        "{err}"
    );
}

#[test]
fn empty_cell_in_co2_asks_for_a_policy() {
    let mut cfg = config(1);
    cfg.source.csv = "data/series/co2.csv".into();
    cfg.source.column = "co2".into();
    let err = format!("{:#}", run(&cfg, &quiet_cpu(), None).unwrap_err());
    assert!(
        err.contains("data/series/co2.csv line 8: column \"co2\" is empty"),
        "{err}"
    );
}

#[test]
fn too_few_rows_for_one_window() {
    let (_, err) = csv_error("csv-short", &format!("t,value\n{}", numbers(25)), "value");
    // 25 values: training 17, validation 3, test 5; a window of 20 plus 1 needs 21.
    assert!(err.contains("too few values for one window"), "{err}");
    assert!(
        err.contains("the series has 25 values, so its training part has 17"),
        "{err}"
    );
    assert!(err.contains("needs 21"), "{err}");
}

#[test]
fn short_validation_and_test_parts_are_all_targets() {
    // 40 values: training 28, validation 6, test 6 — shorter than one window,
    // yet every one of their values is a target (inputs reach back).
    let dir = common::scratch("csv-40");
    let path = dir.join("short.csv");
    std::fs::write(&path, format!("t,value\n{}", numbers(40))).expect("scratch file");
    let mut cfg = config(1);
    cfg.source.csv = path;
    cfg.source.column = "value".into();
    let report = run(&cfg, &quiet_cpu(), None).unwrap();
    assert_eq!(report.results.data.windows, [8, 6, 6]);
    assert_eq!(report.results.test_positions, (34..40).collect::<Vec<_>>());
}

#[test]
fn windows_split_by_target_time() {
    let cfg = rnn_series::Config::default();
    let data = rnn_series::prepare(&cfg).unwrap();
    let values = &data.series.values;
    // Sunspots: 309 values, split 0.70 / 0.15 → 216 train / 46 val / 47 test values.
    assert_eq!(values.len(), 309);
    let counts = [&data.train, &data.val, &data.test].map(|s| s.windows.len());
    assert_eq!(counts, [196, 46, 47], "216 − 20 training windows");
    // Every value after the first window's reach is the target of exactly one
    // window, and the validation and test targets are exactly their parts.
    let positions: Vec<usize> = [&data.train, &data.val, &data.test]
        .iter()
        .flat_map(|s| s.target_positions())
        .collect();
    assert_eq!(positions, (20..309).collect::<Vec<_>>());
    assert_eq!(data.val.target_positions(), (216..262).collect::<Vec<_>>());
    assert_eq!(data.test.target_positions(), (262..309).collect::<Vec<_>>());
    for set in [&data.train, &data.val, &data.test] {
        for (i, p) in set.target_positions().into_iter().enumerate() {
            assert_eq!(set.windows.targets[i], values[p], "target at {p}");
            assert_eq!(set.windows.inputs[i], values[p - 20..p], "inputs of {p}");
        }
    }
    // The first test window's inputs are the validation part's last 20 values;
    // the scaler is fitted on the training part only.
    assert_eq!((data.val.start, data.test.start), (196, 242));
    let train_only = tchport::data::series::Scaler::fit(&values[..216]).unwrap();
    assert_eq!(data.scaler, train_only);
}

#[test]
fn constant_series_cannot_be_scaled() {
    let text: String = std::iter::once("t,value\n".to_string())
        .chain((0..200).map(|i| format!("{i},7\n")))
        .collect();
    let (_, err) = csv_error("csv-constant", &text, "value");
    assert!(err.contains("constant (all 140 values equal 7)"), "{err}");
    assert!(err.contains("zero standard deviation"), "{err}");
}

#[test]
fn empty_file_and_forecast_needing_horizon_one() {
    let (path, err) = csv_error("csv-empty", "", "value");
    assert!(
        err.contains(&format!("{} is empty", path.display())),
        "{err}"
    );
    let mut cfg = config(1);
    cfg.source.csv = "data/series/co2.csv".into();
    cfg.source.column = "co2".into();
    cfg.source.missing = MissingPolicy::Drop;
    cfg.horizon = 3;
    cfg.forecast = 2;
    let err = format!("{:#}", run(&cfg, &quiet_cpu(), None).unwrap_err());
    assert!(err.contains("--forecast needs --horizon 1"), "{err}");
}

/// Runs the twin with `args` (plus the epochs) and returns its JSON.
fn twin(name: &str, args: &[&str]) -> serde_json::Value {
    let json = common::scratch(name).join("twin.json");
    let mut all: Vec<&str> = args.to_vec();
    let json_s = json.to_str().expect("UTF-8 path").to_string();
    all.extend(["--quiet", "--json", &json_s]);
    common::python("rnn_series.py", &all);
    common::read_json(&json)
}

fn same_run(rust: &SeriesReport, torch: &serde_json::Value) {
    let f = |v: &serde_json::Value| v.as_f64().expect("a number");
    let losses: Vec<f64> = torch["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| f(&e["train_loss"]))
        .collect();
    assert_eq!(losses.len(), rust.summary.epochs.len());
    for (r, t) in rust.summary.epochs.iter().zip(&losses) {
        assert!(
            (r.train_loss - t).abs() <= 1e-6 * t.abs().max(1.0),
            "epoch {}: train loss {} (rust) vs {t} (pytorch)",
            r.epoch,
            r.train_loss
        );
    }
    let preds: Vec<f64> = torch["test_predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .collect();
    assert_eq!(preds.len(), rust.results.test_predictions.len());
    let windows: Vec<usize> = torch["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().expect("a count") as usize)
        .collect();
    assert_eq!(windows, rust.results.data.windows, "train/val/test windows");
    let scale = rust.results.data.scaler.std;
    for (i, (r, t)) in rust.results.test_predictions.iter().zip(&preds).enumerate() {
        assert!(
            (r - t).abs() <= 1e-5 * scale,
            "test prediction {i}: {r} (rust) vs {t} (pytorch)"
        );
    }
    for (name, r) in [
        ("test", &rust.results.test),
        ("persistence", &rust.results.persistence),
        ("train_mean", &rust.results.train_mean),
    ] {
        let t = f(&torch[name]["rmse"]);
        assert!(
            (r.rmse - t).abs() <= 1e-5 * scale,
            "{name} RMSE {} (rust) vs {t} (pytorch)",
            r.rmse
        );
    }
    println!(
        "rust test RMSE {:.6}, pytorch twin {:.6}",
        rust.results.test.rmse,
        f(&torch["test"]["rmse"])
    );
}

#[test]
fn twin_matches_rnn_on_sunspots() {
    let report = run(&config(3), &quiet_cpu(), None).unwrap();
    same_run(&report, &twin("twin-rnn", &["--epochs", "3"]));
}

#[test]
fn twin_matches_gru_on_the_synthetic_sine() {
    let mut cfg = config(3);
    cfg.synthetic = Some(Synthetic::Sine);
    cfg.sine.len = 300;
    cfg.model.cell = CellKind::Gru;
    cfg.run.train.seed = 5;
    let report = run(&cfg, &quiet_cpu(), None).unwrap();
    same_run(
        &report,
        &twin(
            "twin-gru",
            &[
                "--synthetic",
                "sine",
                "--sine-len",
                "300",
                "--cell",
                "gru",
                "--seed",
                "5",
                "--epochs",
                "3",
            ],
        ),
    );
}

#[test]
fn twin_matches_lstm_on_interpolated_co2() {
    let mut cfg = config(1);
    cfg.source.csv = "data/series/co2.csv".into();
    cfg.source.column = "co2".into();
    cfg.source.missing = MissingPolicy::Interpolate;
    cfg.model.cell = CellKind::Lstm;
    cfg.model.layers = 2;
    let report = run(&cfg, &quiet_cpu(), None).unwrap();
    assert_eq!(
        (
            report.results.data.missing,
            report.results.data.interpolated
        ),
        (59, 59)
    );
    same_run(
        &report,
        &twin(
            "twin-lstm",
            &[
                "--csv",
                "data/series/co2.csv",
                "--column",
                "co2",
                "--missing",
                "interpolate",
                "--cell",
                "lstm",
                "--layers",
                "2",
                "--epochs",
                "1",
            ],
        ),
    );
}

#[test]
fn save_load_eval_only_forecast_and_plot() {
    let dir = common::scratch("series-ckpt");
    let ckpt = dir.join("model.safetensors");
    let plot = dir.join("plot.svg");
    let metrics = dir.join("metrics.json");
    let mut cfg = config(2);
    cfg.forecast = 7;
    let trained = run(
        &cfg,
        &RunOptions {
            save: Some(ckpt.clone()),
            metrics_json: Some(metrics.clone()),
            ..quiet_cpu()
        },
        Some(&plot),
    )
    .unwrap();
    assert_eq!(trained.results.forecast.len(), 7);
    assert!(trained.results.forecast.iter().all(|v| v.is_finite()));
    assert!(dir.join("config.json").is_file());
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("persistence"),
        "not an SVG plot"
    );
    let json = common::read_json(&metrics);
    assert_eq!(json["forecast"].as_array().unwrap().len(), 7);
    assert_eq!(
        json["beats_persistence"].as_bool(),
        Some(trained.results.beats_persistence)
    );

    let reloaded = run(
        &cfg,
        &RunOptions {
            load: Some(ckpt.clone()),
            eval_only: true,
            ..quiet_cpu()
        },
        None,
    )
    .unwrap();
    assert!(reloaded.summary.epochs.is_empty());
    assert_eq!(
        reloaded.results.test_predictions,
        trained.results.test_predictions
    );
    assert_eq!(reloaded.results.forecast, trained.results.forecast);

    let mut other = cfg.clone();
    other.model.cell = CellKind::Gru;
    let err = format!(
        "{:#}",
        run(
            &other,
            &RunOptions {
                load: Some(ckpt),
                eval_only: true,
                given: Flags::given_ids::<rnn_series::Config>(["cell"]),
                ..quiet_cpu()
            },
            None
        )
        .unwrap_err()
    );
    assert!(
        err.contains("saved with model options") && err.contains("--cell"),
        "{err}"
    );

    let err = format!(
        "{:#}",
        run(&cfg, &quiet_cpu(), Some(&dir.join("plot.png"))).unwrap_err()
    );
    assert!(err.contains("only SVG"), "{err}");
}

/// `--load M --forecast N` on a series the model never saw: no training, the
/// checkpoint's scaler, and value for value the forecast of the PyTorch twin
/// (`parity/forecast_series.py`) from the same checkpoint and scaler.
#[test]
fn a_loaded_model_forecasts_an_unseen_series_as_pytorch_does() {
    let dir = common::scratch("forecast-unseen");
    let ckpt = dir.join("m.safetensors");
    let mut cfg = config(3);
    cfg.model.cell = CellKind::Gru;
    run(
        &cfg,
        &RunOptions {
            save: Some(ckpt.clone()),
            ..quiet_cpu()
        },
        None,
    )
    .expect("trains and saves");
    let saved = common::read_json(&dir.join("config.json"));
    assert!(
        saved["scaler"]["std"].as_f64().is_some(),
        "the scaler is saved"
    );

    // A new series, with other flags: the model's settings come from config.json.
    let mut mine = rnn_series::Config::default();
    mine.source.csv = common::repo_root().join("data/series/co2.csv");
    mine.source.column = "co2".into();
    mine.source.missing = MissingPolicy::Interpolate;
    mine.forecast = 12;
    let csv = dir.join("forecast.csv");
    let load = RunOptions {
        load: Some(ckpt.clone()),
        ..quiet_cpu()
    };
    let rust = rnn_series::forecast_only(&mine, &load, Some(&csv)).expect("forecasts");
    assert_eq!(rust.forecast.len(), 12);
    assert_eq!(
        rust.config.model.cell,
        CellKind::Gru,
        "model options from config.json"
    );
    let written = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        written.lines().count(),
        13,
        "header and 12 steps:\n{written}"
    );

    let out = dir.join("twin.json");
    common::python(
        "forecast_series.py",
        &[
            "--load",
            ckpt.to_str().unwrap(),
            "--csv",
            "data/series/co2.csv",
            "--column",
            "co2",
            "--missing",
            "interpolate",
            "--steps",
            "12",
            "--json",
            out.to_str().unwrap(),
        ],
    );
    let twin = common::read_json(&out);
    let twin: Vec<f64> = twin["forecast"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let (worst, at) = rust
        .forecast
        .iter()
        .zip(&twin)
        .enumerate()
        .map(|(i, (a, b))| ((a - b).abs(), i))
        .fold((0.0, 0), |m, x| if x.0 > m.0 { x } else { m });
    println!(
        "forecast: worst |rust - torch| = {worst:e} at step {} (rust {}, torch {})",
        at + 1,
        rust.forecast[at],
        twin[at]
    );
    // Same kernels, same float32 inputs, same float64 scaling: identical up
    // to serde_json's float parsing (not correctly rounded without its
    // `float_roundtrip` feature: at most an ulp or two).
    assert_eq!(rust.forecast.len(), twin.len());
    for (a, b) in rust.forecast.iter().zip(&twin) {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs(),
            "value for value: {a} vs {b}"
        );
    }

    // Without a saved scaler (an older config.json): a clear refusal.
    let mut old = saved.clone();
    old.as_object_mut().unwrap().remove("scaler");
    std::fs::write(dir.join("config.json"), old.to_string()).unwrap();
    let err = rnn_series::forecast_only(&mine, &load, None).unwrap_err();
    assert!(
        format!("{err:#}").contains("needs the scaler saved"),
        "{err:#}"
    );
}

/// A newest-first export (issue 21) trains, scores and forecasts exactly as
/// the same file in time order, and the forecast steps carry their times;
/// `config.json` records the time column and its frequency.
#[test]
fn newest_first_forecasts_like_time_order() {
    let dir = common::scratch("series-newest-first");
    let rows: Vec<String> = (0..120)
        .map(|i| {
            let v = 50.0 + 10.0 * (i as f64 * 0.5).sin() + i as f64 * 0.2;
            format!("{}-{:02},{v}", 2000 + i / 12, i % 12 + 1)
        })
        .collect();
    let asc = dir.join("asc.csv");
    let desc = dir.join("desc.csv");
    std::fs::write(&asc, format!("Month,Sales\n{}\n", rows.join("\n"))).unwrap();
    let newest: Vec<&str> = rows.iter().rev().map(String::as_str).collect();
    std::fs::write(&desc, format!("Month,Sales\n{}\n", newest.join("\n"))).unwrap();
    let ckpt = dir.join("model.safetensors");
    let mut cfg = config(2);
    cfg.window = 12;
    cfg.forecast = 3;
    cfg.source.column = "Sales".into();
    cfg.source.csv = asc.clone();
    let save = RunOptions {
        save: Some(ckpt.clone()),
        ..quiet_cpu()
    };
    let a = run(&cfg, &save, None).unwrap();
    cfg.source.csv = desc.clone();
    let d = run(&cfg, &quiet_cpu(), None).unwrap();
    assert_eq!(a.results.test_predictions, d.results.test_predictions);
    assert_eq!(a.results.forecast, d.results.forecast);
    let months = vec!["2010-01".to_string(), "2010-02".into(), "2010-03".into()];
    assert_eq!(d.results.forecast_times.as_ref(), Some(&months));
    assert!(
        d.results.data.time.contains("rows are newest first"),
        "{}",
        d.results.data.time
    );
    let saved = common::read_json(&dir.join("config.json"));
    assert_eq!(saved["time_axis"]["column"], "\"Month\" (YYYY-MM)");
    assert_eq!(
        saved["time_axis"]["frequency"],
        serde_json::json!({"Months": 1})
    );

    // --load M --forecast N on either file: the same values, with their times.
    let load = RunOptions {
        load: Some(ckpt),
        ..quiet_cpu()
    };
    let out = dir.join("forecast.csv");
    cfg.source.csv = asc;
    let fa = rnn_series::forecast_only(&cfg, &load, None).unwrap();
    cfg.source.csv = desc;
    let fd = rnn_series::forecast_only(&cfg, &load, Some(&out)).unwrap();
    assert_eq!(fa.forecast, fd.forecast);
    assert_eq!(fd.times.as_ref(), Some(&months));
    let shown = fd.to_string();
    assert!(
        shown.contains("step  time  value\n   1  2010-01  "),
        "{shown}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("step,time,value\n1,2010-01,"), "{text}");
}
