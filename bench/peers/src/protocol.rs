//! The worker protocol shared with the project's own benchmark worker
//! (`examples/bench.rs`): one JSON case per stdin line, one JSON answer per
//! stdout line, so `bench/peers/bench_peers.py` drives every framework alike.
//!
//! ```text
//! {"model":"cnn","mode":"train","batch":64}
//! {"model":"lstm","mode":"infer","batch":1,"seq":50,"hidden":64}
//! {"model":"transformer","mode":"check","batch":8,"seq":16,"weights":"w.safetensors"}
//! ```
//!
//! `train`: forward in training mode, loss, backward, one SGD step, the loss read
//! back to the host (as the examples' training loop does). `infer`: a forward
//! pass in evaluation mode without autograd, one output value read back.
//! `check`: the model's weights and a batch come from `weights` (a safetensors
//! file holding the PyTorch `state_dict` plus `__xs` and `__ys`); the answer holds
//! the loss before and after one SGD step (learning rate `lr`) with dropout off.

use std::io::{BufRead, Write};
use std::time::Instant;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// The models every framework of this package implements.
pub const MODELS: &[&str] = &["cnn", "rnn", "lstm", "transformer"];

/// One measurement, as sent by the driver (`examples/bench.rs` reads the same fields).
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// `cnn`, `rnn`, `lstm` or `transformer`.
    pub model: String,
    /// `train`, `infer` or `check`.
    pub mode: String,
    /// Samples per step.
    pub batch: usize,
    /// Time steps of the recurrent models (default 20) and the Transformer (default 32).
    #[serde(default)]
    pub seq: Option<usize>,
    /// Hidden size of the recurrent models (default 10, rnn_series's).
    #[serde(default)]
    pub hidden: Option<usize>,
    /// Width of the Transformer (default 64; feed-forward 2 × d_model, 4 heads, 2 layers).
    #[serde(default)]
    pub d_model: Option<usize>,
    /// Dropout of the Transformer (default 0.1, transformer_seq's).
    #[serde(default)]
    pub dropout: Option<f64>,
    /// `check` only: the safetensors file with the weights and the batch.
    #[serde(default)]
    pub weights: Option<String>,
    /// SGD learning rate (default: the example's, see [`Settings::lr`]).
    #[serde(default)]
    pub lr: Option<f64>,
    /// Untimed steps before the timed ones (default 3).
    #[serde(default = "default_warmup")]
    pub warmup: usize,
    /// Timed steps at least (default 10).
    #[serde(default = "default_min_steps")]
    pub min_steps: usize,
    /// Timed seconds at least (default 1).
    #[serde(default = "default_min_seconds")]
    pub min_seconds: f64,
}

fn default_warmup() -> usize {
    3
}
fn default_min_steps() -> usize {
    10
}
fn default_min_seconds() -> f64 {
    1.0
}

/// A case's model sizes and training settings, with the defaults of
/// `examples/bench.rs` filled in (the driver always sends the sizes it times).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Samples per step.
    pub batch: usize,
    /// Time steps per sample (recurrent models and Transformer).
    pub seq: usize,
    /// Hidden size of the recurrent layer.
    pub hidden: usize,
    /// Width of the Transformer.
    pub d_model: usize,
    /// Attention heads of the Transformer (4, transformer_seq's).
    pub heads: usize,
    /// Encoder layers of the Transformer (2).
    pub layers: usize,
    /// Features per time step of transformer_seq's windows (10).
    pub input_size: usize,
    /// Transformer dropout; 0 in a `check`.
    pub dropout: f64,
    /// SGD learning rate: the case's, else the example's (cnn_mnist 0.001, the series examples 0.01).
    pub lr: f64,
}

impl Settings {
    /// Fills in the defaults of `examples/bench.rs` for `case.model`.
    pub fn of(case: &Case) -> Self {
        let transformer = case.model == "transformer";
        let example_lr = if case.model == "cnn" { 0.001 } else { 0.01 };
        Self {
            batch: case.batch,
            seq: case.seq.unwrap_or(if transformer { 32 } else { 20 }),
            hidden: case.hidden.unwrap_or(10),
            d_model: case.d_model.unwrap_or(64),
            heads: 4,
            layers: 2,
            input_size: 10,
            dropout: if case.mode == "check" {
                0.0
            } else {
                case.dropout.unwrap_or(0.1)
            },
            lr: case.lr.unwrap_or(example_lr),
        }
    }

    /// Feed-forward width of the Transformer: 2 × d_model, as transformer_seq.
    pub fn ff_dim(&self) -> usize {
        2 * self.d_model
    }
}

/// Where a training step's time goes, in seconds; the same split as
/// `examples/bench.rs`.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Phases {
    /// Forward pass and loss.
    pub forward_s: f64,
    /// Backward pass (with collecting the gradients).
    pub backward_s: f64,
    /// Optimizer step and reading the loss value back.
    pub step_s: f64,
}

impl Phases {
    /// Adds one step timed at the phase boundaries `[start, forward, backward, end]`.
    pub fn add(&mut self, t: [Instant; 4]) {
        self.forward_s += (t[1] - t[0]).as_secs_f64();
        self.backward_s += (t[2] - t[1]).as_secs_f64();
        self.step_s += (t[3] - t[2]).as_secs_f64();
    }

    /// The means over `steps` steps.
    fn per_step(self, steps: usize) -> Self {
        let n = steps.max(1) as f64;
        Self {
            forward_s: self.forward_s / n,
            backward_s: self.backward_s / n,
            step_s: self.step_s / n,
        }
    }
}

/// A built model with its synthetic batch, loss and optimizer.
pub trait Workload {
    /// One training step, timed into `phases`; returns the loss computed before the step.
    fn train_step(&mut self, phases: &mut Phases) -> Result<f32>;
    /// One forward pass in evaluation mode; returns the first output value.
    fn infer(&mut self) -> Result<f32>;
}

/// A framework: builds a [`Workload`] for a case.
pub trait Framework {
    /// Builds the case's model on synthetic inputs (`train`, `infer`) or on the
    /// weights and batch of `case.weights` (`check`).
    fn build(&self, case: &Case, settings: &Settings) -> Result<Box<dyn Workload>>;
}

/// The answer to a `train` or `infer` case.
#[derive(Debug, Serialize)]
pub struct Measured {
    /// Timed steps.
    pub steps: usize,
    /// Their wall time.
    pub seconds: f64,
    /// `steps / seconds`.
    pub steps_per_sec: f64,
    /// `steps · batch / seconds`.
    pub samples_per_sec: f64,
    /// Threads of the framework's pool.
    pub threads: usize,
    /// Training cases: mean seconds per step in each phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phases: Option<Phases>,
}

/// Runs `warmup` steps, then steps until both `min_steps` and `min_seconds` are reached.
pub fn measure(case: &Case, work: &mut dyn Workload, threads: usize) -> Result<Measured> {
    let train = match case.mode.as_str() {
        "train" => true,
        "infer" => false,
        other => bail!("mode {other:?}: expected train, infer or check"),
    };
    let step = |w: &mut dyn Workload, phases: &mut Phases| -> Result<f32> {
        if train {
            w.train_step(phases)
        } else {
            w.infer()
        }
    };
    let mut phases = Phases::default();
    for _ in 0..case.warmup {
        std::hint::black_box(step(work, &mut phases)?);
    }
    phases = Phases::default();
    let start = Instant::now();
    let mut steps = 0;
    while steps < case.min_steps || start.elapsed().as_secs_f64() < case.min_seconds {
        std::hint::black_box(step(work, &mut phases)?);
        steps += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(Measured {
        steps,
        seconds,
        steps_per_sec: steps as f64 / seconds,
        samples_per_sec: (steps * case.batch) as f64 / seconds,
        threads,
        phases: train.then(|| phases.per_step(steps)),
    })
}

/// The answer to a `check` case: the loss before and after one SGD step.
fn check(work: &mut dyn Workload) -> Result<serde_json::Value> {
    let mut phases = Phases::default();
    let before = work.train_step(&mut phases)?;
    let after = work.train_step(&mut phases)?;
    Ok(serde_json::json!({ "losses": [before, after] }))
}

fn answer(fw: &dyn Framework, line: &str, threads: usize) -> Result<serde_json::Value> {
    let case: Case =
        serde_json::from_str(line).map_err(|e| anyhow::anyhow!("bad case {line}: {e}"))?;
    if !MODELS.contains(&case.model.as_str()) {
        bail!(
            "model {:?} is not in this build (known: {MODELS:?})",
            case.model
        );
    }
    let settings = Settings::of(&case);
    let mut work = fw.build(&case, &settings)?;
    if case.mode == "check" {
        check(work.as_mut())
    } else {
        Ok(serde_json::to_value(measure(
            &case,
            work.as_mut(),
            threads,
        )?)?)
    }
}

/// Answers the cases on stdin until it closes; a failing case answers `{"error": ...}`.
pub fn serve(fw: &dyn Framework, threads: usize) -> Result<()> {
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = answer(fw, &line, threads)
            .unwrap_or_else(|e| serde_json::json!({ "error": format!("{e:#}") }));
        let mut out = stdout.lock();
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    Ok(())
}
