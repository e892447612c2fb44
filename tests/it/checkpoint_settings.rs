//! Settings that change what the inputs mean come from the `config.json`
//! beside a checkpoint loaded for use: a `--normalize` checkpoint evaluates
//! the same with and without the flag; an explicit flag that contradicts the
//! checkpoint is an error naming both values; `--init-from` lets the flags
//! rule and says what differs.

use crate::common;
use tchport::cli::Flags;
use tchport::session;
use tchport::tasks::cnn_mnist::CnnMnist;

use common::quiet_cpu;

use tchport::session::RunOptions;
use tchport::tasks::cnn_mnist;

fn quick() -> cnn_mnist::Config {
    let mut cfg = cnn_mnist::Config::default();
    cfg.run.train.epochs = 1;
    cfg.train_limit = Some(500);
    cfg.test_limit = Some(300);
    cfg.model.logit_relu = false;
    cfg
}

#[test]
fn a_normalize_checkpoint_evaluates_the_same_without_the_flag() {
    let _rng = common::rng_lock();
    let dir = common::scratch("settings-normalize");
    let path = dir.join("m.safetensors");
    let mut cfg = quick();
    cfg.normalize = true;
    session::run(
        &CnnMnist,
        &cfg,
        &RunOptions {
            save: Some(path.clone()),
            ..quiet_cpu()
        },
    )
    .expect("trains and saves");
    let load = RunOptions {
        load: Some(path.clone()),
        eval_only: true,
        ..quiet_cpu()
    };
    let with_flag = session::run(&CnnMnist, &cfg, &load).expect("evaluates with --normalize");
    let without = session::run(&CnnMnist, &quick(), &load).expect("evaluates without the flag");
    assert!(without.config.normalize, "normalize came from config.json");
    let confusion = |r: &cnn_mnist::MnistReport| r.results.test.confusion.clone();
    assert_eq!(confusion(&with_flag), confusion(&without));
    assert_eq!(with_flag.summary.test_loss, without.summary.test_loss);
    println!(
        "accuracy with the flag {:.4}, without {:.4}",
        with_flag.results.test.accuracy, without.results.test.accuracy
    );
}

#[test]
fn an_explicit_flag_that_contradicts_the_checkpoint_names_both_values() {
    let _rng = common::rng_lock();
    let dir = common::scratch("settings-digits");
    let path = dir.join("m.safetensors");
    let mut cfg = quick();
    cfg.digits = Some(vec![0, 1, 2, 3, 4]);
    cfg.model.num_classes = 5;
    session::run(
        &CnnMnist,
        &cfg,
        &RunOptions {
            save: Some(path.clone()),
            ..quiet_cpu()
        },
    )
    .expect("trains and saves");
    // Not given: the checkpoint's digits are used.
    let load = RunOptions {
        load: Some(path.clone()),
        eval_only: true,
        ..quiet_cpu()
    };
    let r = session::run(&CnnMnist, &quick(), &load).expect("evaluates digits 0-4");
    assert_eq!(r.config.digits, Some(vec![0, 1, 2, 3, 4]));
    assert_eq!(r.results.test.per_class.len(), 5);
    // Given explicitly and different: an error naming both values.
    let mut other = quick();
    other.digits = Some(vec![5, 6, 7, 8, 9]);
    other.model.num_classes = 5;
    let err = session::run(
        &CnnMnist,
        &other,
        &RunOptions {
            given: Flags::given_ids::<cnn_mnist::Config>(["digits"]),
            ..load.clone()
        },
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    for part in ["--digits 5,6,7,8,9", "config.json", "--digits 0,1,2,3,4"] {
        assert!(msg.contains(part), "`{part}` in: {msg}");
    }
    // --init-from: the flags rule (a new task on the pre-trained backbone).
    let mut tune = other.clone();
    tune.run.tune.finetune.init_from = Some(path.clone());
    tune.run.tune.finetune.reset = vec!["fc".into()];
    let r = session::run(&CnnMnist, &tune, &quiet_cpu()).expect("fine-tunes on digits 5-9");
    assert_eq!(r.config.digits, Some(vec![5, 6, 7, 8, 9]));
}
