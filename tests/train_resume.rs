//! Never losing work: a run stopped (Ctrl-C's flag) after *every* step and
//! resumed from its checkpoint each time ends with exactly the weights of an
//! uninterrupted run (plain SGD has no optimizer state to lose).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::check_tensor;
use tch::{nn, Device, Tensor};
use tchport::checkpoint;
use tchport::data::mnist;
use tchport::models::{Cnn, CnnConfig};
use tchport::optim::OptimConfig;
use tchport::train::{Checkpointing, Interrupted, LoopConfig, Loss, Progress, TrainState, Trainer};

const CFG: LoopConfig = LoopConfig {
    epochs: 2,
    batch_size: 100,
    seed: 3,
    shuffle: true,
};

fn data() -> (Tensor, Tensor) {
    let set = mnist::load_dir(&common::repo_root().join("data/mnist"))
        .expect("MNIST ships with the repo");
    let train = set
        .train
        .take(Some(450), "--train-limit")
        .expect("450 images exist"); // 5 batches, the last of 50
    (train.float_images(), train.labels)
}

fn model(seed: i64) -> (nn::VarStore, Cnn) {
    let _lock = common::rng_lock();
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Cnn::new(
        &vs.root(),
        &CnnConfig {
            logit_relu: false,
            ..CnnConfig::default()
        },
    );
    (vs, m)
}

fn sgd() -> OptimConfig {
    OptimConfig {
        lr: 0.05,
        ..OptimConfig::default()
    }
}

#[test]
fn resuming_after_every_single_step_reproduces_the_uninterrupted_run() {
    let (xs, ys) = data();
    let quiet = Progress { quiet: true };

    // The uninterrupted run.
    let (vs_ref, m_ref) = model(0);
    let mut opt = sgd().build(&vs_ref).expect("valid SGD");
    let never = Arc::new(AtomicBool::new(false));
    let mut plain = Trainer::new(&CFG, Loss::CrossEntropy, Device::Cpu, quiet);
    plain.stop = never;
    let history = plain
        .fit(&m_ref, &mut opt, &xs, &ys, TrainState::default(), |_, _| {
            Ok(vec![])
        })
        .expect("trains");
    assert_eq!(history.history.len(), 2);

    // The same run, stopped after each step and resumed from disk each time.
    let dir = common::scratch("resume-every-step");
    let path = dir.join("ckpt.safetensors");
    let stop = Arc::new(AtomicBool::new(true)); // raised before the start: one step per call
    let mut resumes = 0;
    let mut state = TrainState::default();
    let vs = loop {
        // After the first call, other initial weights, overwritten by the checkpoint.
        let (mut vs, m) = model(if resumes == 0 { 0 } else { 99 });
        if resumes > 0 {
            checkpoint::load(&mut vs, &path).expect("the checkpoint loads");
            state = TrainState::read(&path).expect("train_state.json reads");
        }
        let mut opt = sgd().build(&vs).expect("valid SGD");
        let ckpt = Checkpointing {
            vs: &vs,
            path: path.clone(),
            every: 0,
            config: serde_json::json!({}),
        };
        let mut trainer = Trainer::new(&CFG, Loss::CrossEntropy, Device::Cpu, quiet)
            .with_checkpointing(Some(ckpt));
        trainer.stop = stop.clone();
        match trainer.fit(&m, &mut opt, &xs, &ys, state.clone(), |_, _| Ok(vec![])) {
            Ok(h) => {
                assert_eq!(h.history.len(), 2, "the resumed history holds both epochs");
                break vs;
            }
            Err(e) => {
                let stopped = e
                    .downcast_ref::<Interrupted>()
                    .expect("stopped by the flag, not failed");
                assert_eq!(stopped.checkpoint, path);
                resumes += 1;
                assert!(
                    resumes <= 20,
                    "a 2 × 5-step run must finish within 20 resumes"
                );
            }
        }
    };
    println!("resumed {resumes} times");
    assert!(
        resumes >= 9,
        "the run was really interrupted step by step ({resumes})"
    );
    for (name, v) in vs.variables() {
        check_tensor(
            &format!("resumed {name}"),
            &v,
            &vs_ref.variables()[&name],
            0.0,
        );
    }
    stop.store(false, Ordering::SeqCst);
}
