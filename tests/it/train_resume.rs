//! Never losing work: a run stopped (Ctrl-C's flag) after *every* step and
//! resumed from its checkpoint (weights, `optimizer.safetensors` +
//! `optimizer.json`, `train_state.json`) each time ends with exactly the
//! weights of an uninterrupted run: the CNN with plain SGD, and a Transformer
//! with and without dropout 0.1 under SGD with momentum, Adam and AdamW (with
//! a warm-up and StepLR), whose moments and step counts come back from the
//! checkpoint, whose rates follow the global step and whose dropout
//! masks come from the per-step seeds (`LoopConfig::step_seed`), which the
//! PyTorch twins derive the same way.

use crate::common;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use common::check_tensor;
use tch::{nn, Device, Kind, Tensor};
use tchport::checkpoint;
use tchport::data::mnist;
use tchport::models::{Cnn, CnnConfig, SeqTransformer, TransformerConfig};
use tchport::optim::{OptimConfig, OptimizerKind};
use tchport::schedule::LrSchedule;
use tchport::train::{
    load_optimizer, Checkpointing, Interrupted, LoopConfig, Loss, Progress, TrainState, Trainer,
};

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
    build(seed, |p| {
        Cnn::new(
            p,
            &CnnConfig {
                logit_relu: false,
                ..CnnConfig::default()
            },
        )
    })
}

/// A model built by `new` right after `manual_seed(seed)`.
fn build<M>(seed: i64, new: impl Fn(&nn::Path) -> M) -> (nn::VarStore, M) {
    let _lock = common::rng_lock();
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = new(&vs.root());
    (vs, m)
}

/// A small Transformer with `dropout` everywhere `nn.TransformerEncoderLayer` has it.
fn transformer(seed: i64, dropout: f64) -> (nn::VarStore, SeqTransformer) {
    build(seed, |p| {
        SeqTransformer::new(
            p,
            &TransformerConfig {
                d_model: 16,
                heads: 2,
                layers: 1,
                ff_dim: 32,
                dropout,
                ..TransformerConfig::default()
            },
        )
    })
}

/// 45 random sequences of 6 steps (5 batches of 10 at batch size 10, the last of 5).
fn sequences() -> (Tensor, Tensor) {
    let _lock = common::rng_lock();
    tch::manual_seed(11);
    let xs = Tensor::randn([45, 6, 10], (Kind::Float, Device::Cpu));
    let ys = xs.narrow(2, 0, 1).cumsum(1, Kind::Float);
    (xs, ys)
}

fn sgd() -> OptimConfig {
    OptimConfig {
        lr: 0.05,
        ..OptimConfig::default()
    }
}

/// The loop reseeds libtorch's global generator every step: one test at a
/// time (data, models and runs), or another test's draws (its data, its
/// trainer's seeds) could land between a seed and a dropout draw. Held by each
/// test for its whole length.
fn one_test_at_a_time() -> MutexGuard<'static, ()> {
    static RUNS: Mutex<()> = Mutex::new(());
    RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// An epoch schedule with a warm-up of that many optimizer steps, or none.
type Warmup = Option<(LrSchedule, usize)>;

/// `t` setting `optim.lr`'s rates as `warm` says.
fn scheduled<'a>(t: Trainer<'a>, optim: &OptimConfig, warm: Warmup) -> Trainer<'a> {
    match warm {
        Some((schedule, steps)) => t
            .with_lr_schedule(schedule, vec![(0, optim.lr)])
            .with_warmup(steps),
        None => t,
    }
}

/// Trains `make(0)`'s model on `xs`/`ys` uninterrupted, then again stopped
/// after every step and resumed from its checkpoint into a model built with
/// another seed (which also moves libtorch's generator elsewhere); the final
/// weights must be equal to the last bit.
fn resume_every_step_matches<M: nn::ModuleT>(
    make: impl Fn(i64) -> (nn::VarStore, M),
    (xs, ys): (&Tensor, &Tensor),
    (cfg, optim, warm): (&LoopConfig, &OptimConfig, Warmup),
    loss: Loss,
    name: &str,
) {
    let quiet = Progress { quiet: true };
    let steps = cfg.epochs * (xs.size()[0] as usize).div_ceil(cfg.batch_size);

    // The uninterrupted run.
    let (vs_ref, m_ref) = make(0);
    let mut opt = optim.build(&vs_ref).expect("valid optimizer");
    let mut plain = scheduled(Trainer::new(cfg, Device::Cpu, quiet), optim, warm);
    plain.stop = Arc::new(AtomicBool::new(false));
    let history = common::fit_pairs(
        &plain,
        (&m_ref, &mut opt),
        (xs, ys),
        loss,
        TrainState::default(),
        |_, _| Ok(vec![]),
    )
    .expect("trains");
    assert_eq!(history.history.len(), cfg.epochs);

    // The same run, stopped after each step and resumed from disk each time.
    let dir = common::scratch(&format!("resume-every-step-{name}"));
    let path = dir.join("ckpt.safetensors");
    let stop = Arc::new(AtomicBool::new(true)); // raised before the start: one step per call
    let mut resumes = 0;
    let mut state = TrainState::default();
    let vs = loop {
        // After the first call, other initial weights, overwritten by the checkpoint.
        let (mut vs, m) = make(if resumes == 0 { 0 } else { 99 });
        let mut opt = optim.build(&vs).expect("valid optimizer");
        if resumes > 0 {
            checkpoint::load(&mut vs, &path).expect("the checkpoint loads");
            state = TrainState::read(&path).expect("train_state.json reads");
            let loaded = load_optimizer(&path, &mut opt).expect("the optimizer state loads");
            assert!(loaded, "{name}: the checkpoint has its optimizer files");
        }
        let ckpt = Checkpointing {
            vs: &vs,
            path: path.clone(),
            every: 0,
            config: serde_json::json!({}),
        };
        let mut trainer = scheduled(Trainer::new(cfg, Device::Cpu, quiet), optim, warm)
            .with_checkpointing(Some(ckpt));
        trainer.stop = stop.clone();
        match common::fit_pairs(
            &trainer,
            (&m, &mut opt),
            (xs, ys),
            loss,
            state.clone(),
            |_, _| Ok(vec![]),
        ) {
            Ok(h) => {
                assert_eq!(
                    h.history.len(),
                    cfg.epochs,
                    "the resumed history holds every epoch"
                );
                break vs;
            }
            Err(e) => {
                let stopped = e
                    .downcast_ref::<Interrupted>()
                    .expect("stopped by the flag, not failed");
                assert_eq!(stopped.checkpoint, path);
                resumes += 1;
                assert!(
                    resumes <= 2 * steps,
                    "a {steps}-step run must finish within {} resumes",
                    2 * steps
                );
            }
        }
    };
    println!("{name}: resumed {resumes} times");
    assert!(
        resumes >= steps - 1,
        "the run was really interrupted step by step ({resumes})"
    );
    for (var, v) in vs.variables() {
        check_tensor(
            &format!("{name}: resumed {var}"),
            &v,
            &vs_ref.variables()[&var],
            0.0,
        );
    }
}

#[test]
fn resuming_after_every_single_step_reproduces_the_uninterrupted_run() {
    let _serial = one_test_at_a_time();
    let (xs, ys) = data();
    resume_every_step_matches(
        model,
        (&xs, &ys),
        (&CFG, &sgd(), None),
        Loss::CrossEntropy,
        "cnn",
    );
}

/// A Transformer with dropout `dropout`, trained by `optim` (under `warm`)
/// and resumed after every step.
fn transformer_resumes(optim: OptimConfig, dropout: f64, warm: Warmup, name: &str) {
    let _serial = one_test_at_a_time();
    let (xs, ys) = sequences();
    let cfg = LoopConfig {
        batch_size: 10,
        ..CFG
    };
    let make = move |seed| transformer(seed, dropout);
    resume_every_step_matches(make, (&xs, &ys), (&cfg, &optim, warm), Loss::Mse, name);
}

fn momentum() -> OptimConfig {
    OptimConfig {
        momentum: 0.9,
        ..sgd()
    }
}

fn adam(kind: OptimizerKind) -> OptimConfig {
    OptimConfig {
        optimizer: kind,
        lr: 0.01,
        weight_decay: if kind == OptimizerKind::AdamW {
            0.01
        } else {
            0.0
        },
        ..OptimConfig::default()
    }
}

/// StepLR(1, 0.8) after a warm-up of 4 of the run's 10 steps (into epoch 1's
/// fifth step): the resumed run sets the rates of the uninterrupted one.
const WARM: Warmup = Some((
    LrSchedule::Step {
        step_size: 1,
        gamma: 0.8,
    },
    4,
));

#[test]
fn resuming_with_dropout_draws_the_uninterrupted_runs_masks() {
    transformer_resumes(sgd(), 0.1, None, "transformer-dropout");
}

#[test]
fn sgd_momentum_resumes_bit_identically_with_and_without_dropout() {
    transformer_resumes(momentum(), 0.0, None, "momentum");
    transformer_resumes(momentum(), 0.1, WARM, "momentum-dropout-warmup");
}

#[test]
fn adam_resumes_bit_identically_with_and_without_dropout() {
    transformer_resumes(adam(OptimizerKind::Adam), 0.0, WARM, "adam-warmup");
    transformer_resumes(adam(OptimizerKind::Adam), 0.1, WARM, "adam-dropout-warmup");
}

#[test]
fn adamw_resumes_bit_identically_with_and_without_dropout() {
    transformer_resumes(adam(OptimizerKind::AdamW), 0.0, WARM, "adamw-warmup");
    transformer_resumes(
        adam(OptimizerKind::AdamW),
        0.1,
        WARM,
        "adamw-dropout-warmup",
    );
}

#[test]
fn the_twins_derive_the_loops_step_seeds() {
    let printed = common::python("common.py", &["step-seeds", "3", "1", "4"]);
    let twin: Vec<i64> = printed
        .lines()
        .map(|l| l.trim().parse().expect("one seed a line"))
        .collect();
    let rust: Vec<i64> = (0..4).map(|step| CFG.step_seed(1, step)).collect();
    assert_eq!(
        twin, rust,
        "parity/common.py::step_seed against LoopConfig::step_seed"
    );
}
