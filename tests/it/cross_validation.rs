//! Cross-validation on the one run path: `cnn_mnist --folds K` (stratified
//! folds of the training images) and `--folds K` of the series examples
//! (rolling origin: expanding training windows, each scored on the next block).

use crate::common;

use common::quiet_cpu;

use tchport::session::{cross_validation, RunOptions};
use tchport::tasks::cnn_mnist::{self, CnnMnist};
use tchport::tasks::rnn_series::{self, RnnSeries};
use tchport::tasks::transformer_seq::{self, TransformerSeq};

#[test]
fn kfold_trains_k_fresh_cnns_on_stratified_folds() {
    let _rng = common::rng_lock();
    let mut cfg = cnn_mnist::Config::default();
    cfg.run.train.epochs = 1;
    cfg.train_limit = Some(300);
    cfg.test_limit = Some(10);
    let dir = common::scratch("kfold");
    let opts = RunOptions {
        metrics_json: Some(dir.join("kfold.json")),
        ..quiet_cpu()
    };
    let r = cross_validation::run(&CnnMnist, &cfg, &opts, 3).expect("3-fold CV runs");
    assert_eq!(r.k, 3);
    assert_eq!(r.folds.len(), 3, "three folds trained and reported");
    let held: usize = r.folds.iter().map(|f| f.held_out_samples).sum();
    assert_eq!(held, 300, "every training image is held out exactly once");
    for f in &r.folds {
        assert_eq!(f.train_samples + f.held_out_samples, 300);
        assert_eq!(f.epochs, 1);
        assert!((0.0..=1.0).contains(&f.score));
    }
    let mean = r.folds.iter().map(|f| f.score).sum::<f64>() / 3.0;
    assert!((r.mean - mean).abs() < 1e-12);
    assert!(r.std >= 0.0);
    let json = common::read_json(&dir.join("kfold.json"));
    assert_eq!(json["folds"].as_array().map(Vec::len), Some(3));
    assert_eq!(json["metric"], "held-out accuracy");
    // Fresh, same-seed models: the same call gives the same scores.
    let again = cross_validation::run(&CnnMnist, &cfg, &quiet_cpu(), 3).unwrap();
    let scores = |r: &cross_validation::CrossValidationReport<cnn_mnist::Config>| {
        r.folds.iter().map(|f| f.score).collect::<Vec<_>>()
    };
    assert_eq!(scores(&r), scores(&again));
}

#[test]
fn kfold_refuses_what_names_one_model() {
    let cfg = cnn_mnist::Config::default();
    let opts = RunOptions {
        save: Some("x.safetensors".into()),
        ..quiet_cpu()
    };
    let err = cross_validation::run(&CnnMnist, &cfg, &opts, 3).unwrap_err();
    assert!(err.to_string().contains("--save"), "{err}");
    let err = cross_validation::run(&CnnMnist, &cfg, &quiet_cpu(), 1).unwrap_err();
    assert!(err.to_string().contains("at least 2 folds"), "{err}");
}

#[test]
fn rnn_series_rolling_origin_expands_the_training_window() {
    let _rng = common::rng_lock();
    let mut cfg = rnn_series::Config::default();
    cfg.run.train.epochs = 2;
    let r = cross_validation::run(&RnnSeries::default(), &cfg, &quiet_cpu(), 3)
        .expect("rolling-origin CV runs");
    assert_eq!(r.folds.len(), 3, "three folds trained and reported");
    assert_eq!(r.metric, "held-out RMSE");
    // sunspots: 309 values, test part 47 values: blocks of 47 targets.
    for f in &r.folds {
        assert_eq!(f.held_out_samples, 47);
        assert!(f.score.is_finite() && f.score > 0.0);
    }
    assert!(
        r.folds
            .windows(2)
            .all(|w| w[1].train_samples == w[0].train_samples + 47),
        "each fold trains on the previous one's data plus its block"
    );
    // The last fold trains on everything before the series' last 47 values.
    assert_eq!(r.folds[2].train_samples, 309 - 47 - 20);
}

#[test]
fn transformer_seq_rolling_origin_scores_each_block() {
    let _rng = common::rng_lock();
    let mut cfg = transformer_seq::Config::default();
    cfg.run.train.epochs = 1;
    cfg.transformer.dropout = 0.0;
    let r = cross_validation::run(&TransformerSeq::default(), &cfg, &quiet_cpu(), 2)
        .expect("rolling-origin CV runs");
    assert_eq!(r.folds.len(), 2, "two folds trained and reported");
    for f in &r.folds {
        assert_eq!(f.held_out_samples, 47);
        assert!(f.score.is_finite() && f.score > 0.0);
    }
    assert!(r.folds[1].train_samples > r.folds[0].train_samples);
    let mut recall =
        transformer_seq::Config::for_task(tchport::tasks::transformer_seq::SequenceKind::Recall);
    recall.run.train.epochs = 1;
    let err =
        cross_validation::run(&TransformerSeq::default(), &recall, &quiet_cpu(), 2).unwrap_err();
    assert!(err.to_string().contains("--task series"), "{err}");
}
