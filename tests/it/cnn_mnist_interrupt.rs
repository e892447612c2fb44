//! Ctrl-C end to end (its own test binary: the signal flag is process-wide):
//! a real SIGINT stops cnn_mnist's run after the current step with a
//! checkpoint; `--resume` finishes it with the uninterrupted run's weights.

use crate::common;
use tchport::session;

use std::time::{Duration, Instant};

use tchport::device::DeviceChoice;
use tchport::session::RunOptions;
use tchport::tasks::cnn_mnist::{self, CnnMnist};

use tchport::train::{install_interrupt_handler, interrupt_flag, Interrupted};

#[test]
fn sigint_writes_a_checkpoint_and_resume_finishes_the_run_exactly() {
    let dir = common::scratch("sigint");
    let mut cfg = cnn_mnist::Config {
        data_dir: common::repo_root().join("data/mnist"),
        train_limit: Some(640),
        test_limit: Some(100),
        ..cnn_mnist::Config::default()
    };
    cfg.run.train.epochs = 2;
    let quiet = RunOptions {
        device: DeviceChoice::Cpu,
        quiet: true,
        ..RunOptions::default()
    };

    let reference = dir.join("reference/model.safetensors");
    session::run(
        &CnnMnist,
        &cfg,
        &RunOptions {
            save: Some(reference.clone()),
            ..quiet.clone()
        },
    )
    .expect("the uninterrupted run");

    install_interrupt_handler().expect("the handler installs");
    // SAFETY: sending SIGINT to ourselves; the handler above only raises a flag.
    unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
    let start = Instant::now();
    while !interrupt_flag().load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the handler saw the signal"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let ckpt = dir.join("run/model.safetensors");
    let err = session::run(
        &CnnMnist,
        &cfg,
        &RunOptions {
            save: Some(ckpt.clone()),
            ..quiet.clone()
        },
    )
    .expect_err("the run stops");
    let stopped = err
        .downcast_ref::<Interrupted>()
        .expect("an interruption, not a failure");
    println!("{stopped}");
    assert_eq!(
        (stopped.epoch, stopped.steps),
        (1, 1),
        "it stopped after the step under way"
    );
    assert!(stopped.to_string().contains("--resume"));
    for f in ["model.safetensors", "config.json", "train_state.json"] {
        assert!(dir.join("run").join(f).exists(), "{f} was written");
    }

    interrupt_flag().store(false, std::sync::atomic::Ordering::SeqCst);
    let report = session::run(
        &CnnMnist,
        &cnn_mnist::Config::default(),
        &RunOptions {
            resume: Some(ckpt.clone()),
            ..quiet
        },
    )
    .expect("the resumed run finishes with the saved configuration");
    assert_eq!(report.summary.epochs.len(), 2);
    assert_eq!(
        report.config.train_limit,
        Some(640),
        "the configuration came from config.json"
    );

    let got = common::read(&ckpt);
    let want = common::read(&reference);
    for (name, t) in &want {
        common::check_tensor(&format!("resumed {name}"), &got[name], t, 0.0);
    }
}
