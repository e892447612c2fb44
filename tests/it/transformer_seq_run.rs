//! The whole transformer_seq run against its PyTorch twin
//! (`parity/transformer_seq.py`), run at test time: with dropout 0, the same
//! data, initial weights and batch order give the same test metrics; plus the
//! checkpoint round trip and its mismatch error.
//!
//! Runs are short (2 epochs, small recall sets) and single-threaded on both
//! sides: on a loaded 2-core machine libtorch's OpenMP threads otherwise spin
//! against each other and a run takes 20× longer.

use crate::common;
use tchport::cli::Flags;

use common::quiet_cpu;

use serde_json::Value;
use tchport::models::Arch;
use tchport::session::RunOptions;
use tchport::tasks::transformer_seq::{self as sequence, SequenceKind, SequenceReport};

fn config(arch: Arch, task: SequenceKind) -> sequence::Config {
    let mut cfg = sequence::Config::for_task(task);
    cfg.arch = arch;
    cfg.transformer.dropout = 0.0;
    cfg.run.train.epochs = 2;
    if task == SequenceKind::Recall {
        cfg.seq_len = Some(40);
        cfg.recall.train = 48;
        cfg.recall.val = 16;
        cfg.recall.test = 16;
        cfg.recall.data_seed = 5;
    }
    cfg
}

fn rust_run(cfg: &sequence::Config, opts: &RunOptions) -> SequenceReport {
    let _lock = common::rng_lock();
    tch::set_num_threads(1);
    tchport::session::run(&sequence::TransformerSeq::default(), cfg, opts)
        .unwrap_or_else(|e| panic!("{e:#}"))
}

fn twin(cfg: &sequence::Config, name: &str) -> Value {
    twin_in(cfg, &common::scratch(name), &[])
}

fn twin_in(cfg: &sequence::Config, dir: &std::path::Path, extra: &[&str]) -> Value {
    let json = dir.join("metrics.json");
    let arch = format!("{:?}", cfg.arch).to_lowercase();
    let task = format!("{:?}", cfg.task).to_lowercase();
    let (seq_len, epochs) = (cfg.seq_len().to_string(), cfg.run.train.epochs.to_string());
    let (train, val, test) = (
        cfg.recall.train.to_string(),
        cfg.recall.val.to_string(),
        cfg.recall.test.to_string(),
    );
    let data_seed = cfg.recall.data_seed.to_string();
    let mut args = vec![
        "--arch",
        &arch,
        "--task",
        &task,
        "--seq-len",
        &seq_len,
        "--epochs",
        &epochs,
        "--dropout",
        "0",
        "--train-sequences",
        &train,
        "--val-sequences",
        &val,
        "--test-sequences",
        &test,
        "--data-seed",
        &data_seed,
        "--threads",
        "1",
        "--quiet",
        "--metrics-json",
        json.to_str().expect("UTF-8 scratch path"),
    ];
    args.extend_from_slice(extra);
    common::python("transformer_seq.py", &args);
    common::read_json(&json)
}

fn same_as_twin(arch: Arch, task: SequenceKind) {
    let cfg = config(arch, task);
    let rust = rust_run(&cfg, &quiet_cpu());
    let torch = twin(&cfg, &format!("twin-{arch:?}-{task:?}"));
    let want = |k: &str, m: &str| torch[k][m].as_f64().expect("a number");
    assert_eq!(
        rust.summary.parameters,
        torch["parameters"].as_i64().unwrap()
    );
    assert_eq!(
        rust.results.test_sequences as i64,
        torch["test_sequences"].as_i64().unwrap()
    );
    // The data and the baseline are computed the same way: equal to rounding.
    assert!(
        (rust.results.baseline.rmse - want("baseline", "rmse")).abs()
            <= 1e-9 * rust.results.baseline.rmse.max(1.0)
    );
    // Two epochs of identical float32 training: the same model up to summation order.
    for (m, got) in [
        ("rmse", rust.results.test.rmse),
        ("mae", rust.results.test.mae),
    ] {
        let w = want("test", m);
        println!("{arch:?} {task:?} test {m}: rust {got:.6}, pytorch {w:.6}");
        assert!(
            (got - w).abs() <= 1e-4 * w.abs().max(1e-3),
            "{m}: rust {got} vs pytorch {w}"
        );
    }
}

#[test]
fn transformer_on_series_matches_the_pytorch_twin() {
    same_as_twin(Arch::Transformer, SequenceKind::Series);
}

#[test]
fn lstm_on_series_matches_the_pytorch_twin() {
    same_as_twin(Arch::Lstm, SequenceKind::Series);
}

#[test]
fn transformer_on_recall_matches_the_pytorch_twin() {
    same_as_twin(Arch::Transformer, SequenceKind::Recall);
}

#[test]
fn lstm_on_recall_matches_the_pytorch_twin() {
    same_as_twin(Arch::Lstm, SequenceKind::Recall);
}

#[test]
fn checkpoint_round_trip_and_mismatch() {
    let dir = common::scratch("seq-ckpt");
    let path = dir.join("model.safetensors");
    let mut cfg = config(Arch::Transformer, SequenceKind::Recall);
    cfg.run.train.epochs = 1;
    let trained = rust_run(
        &cfg,
        &RunOptions {
            save: Some(path.clone()),
            ..quiet_cpu()
        },
    );
    let load = RunOptions {
        load: Some(path.clone()),
        eval_only: true,
        ..quiet_cpu()
    };
    let reloaded = rust_run(&cfg, &load);
    assert_eq!(trained.results.test, reloaded.results.test);
    let svg_path = dir.join("attention.svg");
    {
        let _lock = common::rng_lock();
        tchport::session::run(
            &sequence::TransformerSeq {
                attention: Some(svg_path.clone()),
            },
            &cfg,
            &load,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
    }
    let svg = std::fs::read_to_string(&svg_path).expect("the heatmap was written");
    assert!(svg.starts_with("<svg") && svg.contains("last layer (1), head 3"));
    assert!(reloaded.summary.epochs.is_empty());

    let mut other = cfg.clone();
    other.arch = Arch::Lstm;
    let _lock = common::rng_lock();
    let given = RunOptions {
        given: Flags::given_ids::<sequence::Config>(["arch"]),
        ..load.clone()
    };
    let err = format!(
        "{:#}",
        tchport::session::run(&sequence::TransformerSeq::default(), &other, &given).unwrap_err()
    );
    assert!(
        err.contains("saved with model options arch = transformer")
            && err.contains("arch = lstm from --arch"),
        "{err}"
    );
    // Not given: the checkpoint's model options are used.
    let adopted = tchport::session::run(&sequence::TransformerSeq::default(), &other, &load)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(adopted.config.arch, Arch::Transformer);
    assert_eq!(adopted.results.test, trained.results.test);
    let attention = dir.join("a.svg");
    let err = format!(
        "{:#}",
        tchport::session::run(
            &sequence::TransformerSeq {
                attention: Some(attention.clone())
            },
            &other,
            &quiet_cpu()
        )
        .unwrap_err()
    );
    assert!(err.contains("needs --arch transformer"), "{err}");
}

#[test]
fn a_pytorch_checkpoint_evaluates_the_same_in_rust() {
    let dir = common::scratch("seq-torch-ckpt");
    let path = dir.join("torch.safetensors");
    let mut cfg = config(Arch::Transformer, SequenceKind::Recall);
    cfg.run.train.epochs = 1;
    let torch = twin_in(&cfg, &dir, &["--save", path.to_str().expect("UTF-8 path")]);
    let rust = rust_run(
        &cfg,
        &RunOptions {
            load: Some(path),
            eval_only: true,
            ..quiet_cpu()
        },
    );
    let want = torch["test"]["rmse"].as_f64().expect("a number");
    println!(
        "PyTorch-trained weights: test rmse rust {:.7}, pytorch {want:.7}",
        rust.results.test.rmse
    );
    assert!(
        (rust.results.test.rmse - want).abs() <= 1e-5 * want,
        "{} vs {want}",
        rust.results.test.rmse
    );
}

#[test]
fn resuming_from_an_epoch_checkpoint_reproduces_the_uninterrupted_run() {
    // Uninterrupted: 2 epochs (dropout 0, plain SGD: no optimizer state to lose).
    let cfg = config(Arch::Transformer, SequenceKind::Series);
    let whole = rust_run(&cfg, &quiet_cpu());

    // The checkpoint --checkpoint-every 1 leaves after epoch 1 of the same run:
    // weights and train_state.json of epoch 1, config.json of the 2-epoch run.
    let dir = common::scratch("seq-resume");
    let path = dir.join("checkpoint.safetensors");
    let mut first = cfg.clone();
    first.run.train.epochs = 1;
    rust_run(
        &first,
        &RunOptions {
            save: Some(path.clone()),
            ..quiet_cpu()
        },
    );
    tchport::io::write_json(&tchport::checkpoint::config_path(&path), &cfg)
        .expect("config.json rewritten");

    let resumed = rust_run(
        &sequence::Config::default(), // ignored: --resume uses the saved configuration
        &RunOptions {
            resume: Some(path),
            ..quiet_cpu()
        },
    );
    assert_eq!(resumed.summary.epochs.len(), 2);
    // The report's configuration also has what was fitted: the time axis.
    assert!(resumed.config.time_axis.is_some());
    // A config.json's unset `seq_len` (null: the task's default) is read as
    // the length in force.
    let fitted = sequence::Config {
        time_axis: None,
        ..resumed.config.clone()
    };
    let effective = sequence::Config {
        seq_len: Some(cfg.seq_len()),
        ..cfg.clone()
    };
    assert_eq!(fitted, effective);
    println!(
        "test rmse: uninterrupted {:.6}, resumed {:.6}",
        whole.results.test.rmse, resumed.results.test.rmse
    );
    assert!(
        (whole.results.test.rmse - resumed.results.test.rmse).abs()
            <= 1e-9 * whole.results.test.rmse
    );
}

/// `config.json` of a series run records the time column and its frequency
/// (issue 21): sunspots' `YEAR`, yearly; a recall run has none.
#[test]
fn config_json_names_the_time_axis() {
    let dir = common::scratch("seq-time-axis");
    let path = dir.join("model.safetensors");
    let mut cfg = config(Arch::Lstm, SequenceKind::Series);
    cfg.run.train.epochs = 1;
    let save = RunOptions {
        save: Some(path.clone()),
        ..quiet_cpu()
    };
    rust_run(&cfg, &save);
    let saved = common::read_json(&dir.join("config.json"));
    assert_eq!(saved["time_axis"]["column"], "\"YEAR\" (YYYY)");
    assert_eq!(
        saved["time_axis"]["frequency"],
        serde_json::json!({"Years": 1})
    );
    assert_eq!(saved["time_axis"]["last"], "2008");
}
