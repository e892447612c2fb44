//! The running loss read back every N steps (`--log-every`, the GPU path),
//! exercised on the CPU by setting the trainer's `sync_every` directly: the
//! weights equal those of the every-step path, and a NaN injected at step 7
//! is found at the read-back of step 8, which restores the weights after step
//! 4 and names the discarded steps.

use crate::common;

use std::cell::Cell;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::check_tensor;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};
use tchport::models::{Cnn, CnnConfig};
use tchport::optim::OptimConfig;
use tchport::train::{LoopConfig, Loss, Progress, TrainState, Trainer};

const BATCH: i64 = 8;

fn cfg() -> LoopConfig {
    LoopConfig {
        epochs: 1,
        batch_size: BATCH as usize,
        seed: 1,
        shuffle: false,
    }
}

/// `n` random images with random labels (seeded).
fn data(n: i64) -> (Tensor, Tensor) {
    let _lock = common::rng_lock();
    tch::manual_seed(5);
    (
        Tensor::rand([n, 1, 28, 28], (Kind::Float, Device::Cpu)),
        Tensor::randint(10, [n], (Kind::Int64, Device::Cpu)),
    )
}

/// The CNN, whose output turns NaN on the `nan_at`-th forward call (1-based).
#[derive(Debug)]
struct Poisoned {
    cnn: Cnn,
    calls: Cell<usize>,
    nan_at: usize,
}

impl ModuleT for Poisoned {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.calls.set(self.calls.get() + 1);
        let out = self.cnn.forward_t(xs, train);
        if self.calls.get() == self.nan_at {
            out * f64::NAN
        } else {
            out
        }
    }
}

fn model(nan_at: usize) -> (nn::VarStore, Poisoned) {
    let _lock = common::rng_lock();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = CnnConfig {
        logit_relu: false,
        ..CnnConfig::default()
    };
    let cnn = Cnn::new(&vs.root(), &cfg);
    let calls = Cell::new(0);
    (vs, Poisoned { cnn, calls, nan_at })
}

/// One epoch over `xs`/`ys` with the loss read back every `sync_every` steps.
fn train(
    xs: &Tensor,
    ys: &Tensor,
    sync_every: usize,
    nan_at: usize,
) -> (nn::VarStore, anyhow::Result<f64>) {
    let (vs, m) = model(nan_at);
    let mut opt = OptimConfig {
        lr: 0.05,
        ..OptimConfig::default()
    }
    .build(&vs)
    .expect("valid SGD");
    let cfg = cfg();
    let mut trainer = Trainer::new(&cfg, Device::Cpu, Progress { quiet: true });
    trainer.stop = Arc::new(AtomicBool::new(false));
    trainer.sync_every = sync_every;
    trainer.rollback = Some(&vs);
    let out = common::fit_pairs(
        &trainer,
        (&m, &mut opt),
        (xs, ys),
        Loss::CrossEntropy,
        TrainState::default(),
        |_, _| Ok(vec![]),
    )
    .map(|o| o.history[0].train_loss);
    drop(trainer);
    (vs, out)
}

fn same_weights(what: &str, a: &nn::VarStore, b: &nn::VarStore) {
    let b = b.variables();
    for (name, v) in a.variables() {
        check_tensor(&format!("{what} {name}"), &v, &b[&name], 0.0);
    }
}

#[test]
fn reading_back_every_5_steps_trains_the_same_weights() {
    let (xs, ys) = data(12 * BATCH + 3); // 13 steps, the last of 3
    let (every, loss_every) = train(&xs, &ys, 1, 0);
    let (deferred, loss_deferred) = train(&xs, &ys, 5, 0);
    same_weights("deferred", &deferred, &every);
    let (a, b) = (loss_every.unwrap(), loss_deferred.unwrap());
    println!("epoch loss: every step {a:.10}, every 5 steps {b:.10}");
    assert!((a - b).abs() < 1e-9 * a.abs(), "{a} vs {b}");
}

#[test]
fn a_nan_between_read_backs_restores_the_last_read_back() {
    let (xs, ys) = data(12 * BATCH);
    let (vs, out) = train(&xs, &ys, 4, 7);
    let msg = format!("{:#}", out.expect_err("the NaN at step 7 stops the run"));
    println!("{msg}");
    for part in [
        "between steps 5 and 8",
        "steps 5..=8 were discarded",
        "the weights after step 4 were restored",
    ] {
        assert!(msg.contains(part), "`{part}` in: {msg}");
    }
    // The reference: the same first 4 batches, read back every step.
    let first4 = |t: &Tensor| t.narrow(0, 0, 4 * BATCH);
    let (reference, _) = train(&first4(&xs), &first4(&ys), 1, 0);
    same_weights("restored", &vs, &reference);

    // Every step (the CPU default) stops before the bad update, at step 7.
    let (vs, out) = train(&xs, &ys, 1, 7);
    let msg = format!("{:#}", out.unwrap_err());
    assert!(msg.contains("at epoch 1, step 7"), "{msg}");
    let first6 = |t: &Tensor| t.narrow(0, 0, 6 * BATCH);
    let (reference, _) = train(&first6(&xs), &first6(&ys), 1, 0);
    same_weights("every-step", &vs, &reference);
}
