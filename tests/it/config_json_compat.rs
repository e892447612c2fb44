//! A `config.json` written before the configuration became the command line
//! (issue 18) still loads: the three files below have the shape commit
//! 67563d3 wrote (rnn_series with its series source flattened at the top
//! level, transformer_seq with it under `series`, the split as
//! `train`/`val`, the time options as `column`/`sort`, recall's
//! `train`/`val`/`test`, the sine's `len`/`period`/`noise`), with values
//! edited so that none equals a default: a key read as a default instead of
//! its value fails the test.

use crate::common;

use tchport::cli::Flags;
use tchport::models::{Arch, CellKind};
use tchport::schedule::LrSchedule;
use tchport::session::{RunOptions, TaskConfig};
use tchport::tasks::cnn_mnist;
use tchport::tasks::rnn_series;
use tchport::tasks::transformer_seq::{self, SequenceKind};

const CNN_MNIST: &str = r#"{"model": {"logit_relu": false, "num_classes": 5}, "optim": {"optimizer": "adam", "lr": 0.002, "momentum": 0.0, "weight_decay": 0.0, "dampening": 0.0, "nesterov": false, "beta1": 0.8, "beta2": 0.999, "eps": 1e-08, "clip_grad_norm": 2.0}, "train": {"epochs": 3, "batch_size": 32, "seed": 7, "shuffle": true}, "data_dir": "data/fashion", "normalize": true, "train_limit": 64, "test_limit": 48, "digits": [0, 1, 2, 3, 4], "val_fraction": 0.2, "class_names": ["a", "b", "c", "d", "e"], "tune": {"finetune": {"init_from": null, "freeze": ["conv1"], "reset": [], "lr_backbone": null}, "lr_schedule": {"kind": "step", "step_size": 2, "gamma": 0.5}, "warmup_steps": 4, "early_stopping": 2}}"#;

const RNN_SERIES: &str = r#"{"model": {"cell": "gru", "input_size": 1, "hidden": 12, "layers": 2, "output_size": 1}, "optim": {"optimizer": "sgd", "lr": 0.02, "momentum": 0.5, "weight_decay": 0.0, "dampening": 0.0, "nesterov": false, "beta1": 0.9, "beta2": 0.999, "eps": 1e-08, "clip_grad_norm": null}, "train": {"epochs": 1, "batch_size": 8, "seed": 3, "shuffle": true}, "csv": "data/series/co2.csv", "column": "co2", "missing": "interpolate", "split": {"train": 0.6, "val": 0.2}, "format": {"delimiter": ";", "decimal_comma": true, "skip_rows": 2, "no_header": false, "encoding": "latin1", "thousands": "Auto", "time": {"column": "date", "date_order": "dmy", "sort": true, "duplicates": "mean"}, "sheet": null}, "synthetic": null, "sine": {"len": 500, "period": 25.0, "noise": 0.3}, "window": 12, "horizon": 1, "forecast": 0, "tune": {"finetune": {"init_from": null, "freeze": [], "reset": [], "lr_backbone": null}, "lr_schedule": {"kind": "cosine", "t_max": 1, "eta_min": 0.001}, "warmup_steps": 0, "early_stopping": null}, "scaler": {"mean": 42.900000000000034, "std": 34.19734124384742}, "time_axis": null}"#;

const TRANSFORMER_SEQ: &str = r#"{"arch": "transformer", "task": "series", "seq_len": null, "transformer": {"input_size": 10, "d_model": 16, "heads": 2, "layers": 1, "ff_dim": 32, "dropout": 0.2, "causal": false}, "lstm": {"input_size": 10, "hidden_size": 40}, "optim": {"optimizer": "adamw", "lr": 0.01, "momentum": 0.0, "weight_decay": 0.01, "dampening": 0.0, "nesterov": false, "beta1": 0.9, "beta2": 0.999, "eps": 1e-08, "clip_grad_norm": null}, "train": {"epochs": 1, "batch_size": 16, "seed": 0, "shuffle": true}, "series": {"csv": "data/series/co2.csv", "column": "co2", "missing": "drop", "split": {"train": 0.5, "val": 0.25}, "format": {"delimiter": null, "decimal_comma": false, "skip_rows": 0, "no_header": false, "encoding": null, "thousands": "Auto", "time": {"column": "none", "date_order": null, "sort": false, "duplicates": "error"}, "sheet": null}}, "recall": {"delay": 8, "train": 200, "val": 50, "test": 60, "data_seed": 5}, "tune": {"finetune": {"init_from": null, "freeze": [], "reset": [], "lr_backbone": null}, "lr_schedule": {"kind": "constant"}, "warmup_steps": 0, "early_stopping": null}, "time_axis": null}"#;

/// `text` as the run path reads it: upgraded, then deserialised.
fn read<C: TaskConfig>(text: &str) -> C {
    let mut json: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
    C::upgrade(&mut json);
    serde_json::from_value(json).unwrap_or_else(|e| panic!("loads: {e}"))
}

#[test]
fn a_cnn_mnist_config_json_from_before_still_loads() {
    let c: cnn_mnist::Config = read(CNN_MNIST);
    assert!(!c.model.logit_relu);
    assert_eq!(c.model.num_classes, 5);
    assert_eq!((c.run.optim.lr, c.run.optim.beta1), (0.002, 0.8));
    assert_eq!(c.run.optim.clip_grad_norm, Some(2.0));
    assert_eq!(
        (c.run.train.epochs, c.run.train.batch_size, c.run.train.seed),
        (3, 32, 7)
    );
    assert_eq!(c.data_dir.to_str(), Some("data/fashion"));
    assert!(c.normalize);
    assert_eq!((c.train_limit, c.test_limit), (Some(64), Some(48)));
    assert_eq!(c.digits, Some(vec![0, 1, 2, 3, 4]));
    assert_eq!(c.val_fraction, Some(0.2));
    assert_eq!(c.class_names.as_ref().map(Vec::len), Some(5));
    assert_eq!(c.run.tune.finetune.freeze, ["conv1"]);
    assert_eq!(
        c.run.tune.lr_schedule.schedule(),
        LrSchedule::Step {
            step_size: 2,
            gamma: 0.5
        }
    );
    assert_eq!(
        (c.run.tune.warmup_steps, c.run.tune.early_stopping),
        (4, Some(2))
    );
}

#[test]
fn an_rnn_series_config_json_with_its_source_at_the_top_level_still_loads() {
    let c: rnn_series::Config = read(RNN_SERIES);
    assert_eq!(
        (c.model.cell, c.model.hidden, c.model.layers),
        (CellKind::Gru, 12, 2)
    );
    assert_eq!((c.run.optim.lr, c.run.optim.momentum), (0.02, 0.5));
    let s = &c.source;
    assert_eq!(s.csv.to_str(), Some("data/series/co2.csv"));
    assert_eq!(s.column, "co2");
    assert_eq!((s.split.train, s.split.val), (0.6, 0.2));
    let f = &s.format;
    assert_eq!(
        (f.delimiter, f.decimal_comma, f.skip_rows),
        (Some(';'), true, 2)
    );
    assert_eq!(f.encoding.as_deref(), Some("latin1"));
    assert_eq!(f.time.column.as_deref(), Some("date"));
    assert!(f.time.sort);
    assert_eq!(f.time.duplicates, tchport::data::time::Duplicates::Mean);
    assert_eq!((c.sine.len, c.sine.period, c.sine.noise), (500, 25.0, 0.3));
    assert_eq!(c.window, 12);
    assert_eq!(c.scaler.map(|s| s.std), Some(34.19734124384742));
    assert_eq!(
        c.run.tune.lr_schedule.schedule(),
        LrSchedule::Cosine {
            t_max: 1,
            eta_min: 0.001
        }
    );
    // Written again, it has the one shape: the source under `source`.
    let json = serde_json::to_value(&c).expect("serialises");
    assert_eq!(json["source"]["split"]["train_fraction"], 0.6);
    assert!(json.get("csv").is_none());
}

#[test]
fn a_transformer_seq_config_json_with_its_source_under_series_still_loads() {
    let c: transformer_seq::Config = read(TRANSFORMER_SEQ);
    assert_eq!((c.arch, c.task), (Arch::Transformer, SequenceKind::Series));
    assert_eq!(
        c.seq_len,
        Some(32),
        "null: the task's default, written down"
    );
    let t = &c.transformer;
    assert_eq!((t.d_model, t.heads, t.layers, t.ff_dim), (16, 2, 1, 32));
    assert_eq!((t.dropout, t.causal), (0.2, false));
    assert_eq!(c.lstm.hidden_size, 40);
    assert_eq!(c.source.column, "co2");
    assert_eq!((c.source.split.train, c.source.split.val), (0.5, 0.25));
    assert_eq!(c.source.format.time.column.as_deref(), Some("none"));
    let r = &c.recall;
    assert_eq!(
        (r.delay, r.train, r.val, r.test, r.data_seed),
        (8, 200, 50, 60, 5)
    );
}

/// Through the run path: a checkpoint whose `config.json` is the old file
/// evaluates with its settings (GRU, window 12, its scaler), not this run's
/// defaults (RNN, window 20).
#[test]
fn a_checkpoint_with_an_old_config_json_evaluates_with_its_settings() {
    let dir = common::scratch("old-config-json");
    let path = dir.join("m.safetensors");
    let old: rnn_series::Config = read(RNN_SERIES);
    let mut cfg = rnn_series::Config {
        model: old.model.clone(),
        window: old.window,
        ..rnn_series::Config::default()
    };
    cfg.run.train.epochs = 1;
    {
        let _lock = common::rng_lock();
        let task = rnn_series::RnnSeries { plot: None };
        let save = RunOptions {
            save: Some(path.clone()),
            ..common::quiet_cpu()
        };
        tchport::session::run(&task, &cfg, &save).expect("trains and saves");
    }
    std::fs::write(dir.join("config.json"), RNN_SERIES).expect("old config.json");
    let load = RunOptions {
        load: Some(path),
        eval_only: true,
        given: Flags::default(),
        ..common::quiet_cpu()
    };
    let _lock = common::rng_lock();
    let task = rnn_series::RnnSeries { plot: None };
    let report = tchport::session::run(&task, &rnn_series::Config::default(), &load)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(report.config.model.cell, CellKind::Gru);
    assert_eq!(report.config.window, 12);
    assert_eq!(report.config.scaler, old.scaler);
}
