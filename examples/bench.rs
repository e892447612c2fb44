//! The Rust side of the benchmarks: times training steps and inference of the
//! project's models on synthetic inputs, one case at a time.
//!
//! It is driven by `parity/bench.py`, which runs it beside its PyTorch twin
//! (`parity/bench_torch.py`) and alternates cases between the two, so both
//! sides are measured under the same machine load. Each line on stdin is one
//! case as JSON; each answer is one line of JSON on stdout:
//!
//! ```text
//! {"model":"cnn","mode":"train","batch":64}
//! {"model":"cnn","mode":"infer","batch":256}
//! ```
//!
//! ```text
//! cargo run --release --example bench -- --threads 2 < cases.jsonl
//! cargo run --release --example bench -- --list-models
//! ```
//!
//! A case: forward (train mode), loss, `zero_grad`, `backward`, `step` and reading
//! the loss value, exactly as the examples' training loop does; or, for `infer`, a
//! forward pass in eval mode under `no_grad`. It runs `warmup` steps, then steps
//! until both `min_steps` and `min_seconds` are reached, and reports steps/s.
//! With `"latencies": true` in the case it also returns the wall time of every
//! timed step (`latencies_s`, seconds), for the driver's median and 99th
//! percentile of batch-1 latency (`parity/bench.py`, "use" section).
//!
//! With `"quantize": "int8"` an `infer` case runs the model with int8 Linear
//! weights (`tchport::quantize::quantize_model`, what `--quantize int8` does).
//!
//! A `check` case (`"mode":"check","weights":"w.safetensors"`) loads the model's
//! weights and a batch (`__xs`, `__ys`) from the file, switches dropout off and
//! answers the loss before and after one SGD step (`losses`, at the case's `lr`): the reference the
//! candle and burn workers of `bench/peers` are compared with (`make bench-peers`).

use std::io::{BufRead, Write};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};
use tchport::device::DeviceChoice;
use tchport::models::{
    CellKind, Cnn, CnnConfig, RecurrentNet, RnnConfig, SeqTransformer, TransformerConfig,
};
use tchport::optim::{OptimConfig, Optimizer, OptimizerKind};
use tchport::quantize::{quantize_model, Quantize};
use tchport::train::Loss;

/// Time the project's models on synthetic inputs, one JSON case per stdin line.
#[derive(Parser, Debug)]
struct Args {
    /// Intra-op threads (`tch::set_num_threads`); 0 leaves libtorch's default.
    #[arg(long, default_value_t = 0)]
    threads: i32,
    /// Where to run (`cuda` for the GPU tables).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Print the models this build can time, one per line, and exit.
    #[arg(long)]
    list_models: bool,
}

/// The models this build knows (the other examples' models join here).
const MODELS: &[&str] = &["cnn", "rnn", "lstm", "transformer"];

/// One measurement, as sent by the driver.
#[derive(Debug, Deserialize)]
struct Case {
    model: String,
    mode: String,
    batch: i64,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(default)]
    hidden: Option<i64>,
    #[serde(default)]
    d_model: Option<i64>,
    /// `check` only: safetensors file with the `state_dict` plus `__xs` and `__ys`.
    #[serde(default)]
    weights: Option<String>,
    /// SGD learning rate (default: the example's).
    #[serde(default)]
    lr: Option<f64>,
    /// Transformer dropout (default 0.1, transformer_seq's; a `check` uses 0).
    #[serde(default)]
    dropout: Option<f64>,
    #[serde(default = "default_warmup")]
    warmup: usize,
    #[serde(default = "default_min_steps")]
    min_steps: usize,
    #[serde(default = "default_min_seconds")]
    min_seconds: f64,
    /// Also return each timed step's wall time (`Measured::latencies_s`).
    #[serde(default)]
    latencies: bool,
    /// The optimizer (default: the example's SGD).
    #[serde(default)]
    optimizer: Option<OptimizerKind>,
    /// Step with libtorch's C++ optimizer (before issue 19) instead of ours.
    #[serde(default)]
    libtorch_step: bool,
    /// `"int8"`: the model's Linear layers run with int8 weights
    /// (`--quantize int8`, `tchport::quantize`); `infer` cases only.
    #[serde(default)]
    quantize: Option<String>,
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

#[derive(Debug, Serialize)]
struct Measured {
    steps: usize,
    seconds: f64,
    steps_per_sec: f64,
    samples_per_sec: f64,
    threads: i32,
    /// Wall time of each timed step in seconds, when the case asked for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    latencies_s: Option<Vec<f64>>,
    /// Training cases: mean seconds per step in each phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    phases: Option<Phases>,
}

/// Where a training step's time goes: forward (with the loss), backward (with
/// `zero_grad`), optimizer step (with reading the loss value). Seconds.
#[derive(Debug, Default, Clone, Copy, Serialize)]
struct Phases {
    forward_s: f64,
    backward_s: f64,
    step_s: f64,
}

impl Phases {
    /// Adds one step timed at the phase boundaries `[start, forward, backward, end]`.
    fn add(&mut self, t: [Instant; 4]) {
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

/// The optimizer of a bench: ours (`tchport::optim`) or libtorch's C++ one.
enum Opt {
    Ours(Optimizer),
    Libtorch(nn::Optimizer),
}

impl Opt {
    fn zero_grad(&mut self) {
        match self {
            Opt::Ours(o) => o.zero_grad(),
            Opt::Libtorch(o) => o.zero_grad(),
        }
    }

    fn step(&mut self) {
        match self {
            Opt::Ours(o) => o.step(),
            Opt::Libtorch(o) => o.step(),
        }
    }
}

/// A model of the bench: a module whose Linear layers can take int8 weights.
trait BenchModel: ModuleT + Quantize {}

impl<M: ModuleT + Quantize> BenchModel for M {}

/// A model with its synthetic batch, loss and optimizer.
struct Bench {
    _vs: nn::VarStore,
    model: Box<dyn BenchModel>,
    opt: Opt,
    xs: Tensor,
    ys: Tensor,
    loss: Loss,
}

fn build(case: &Case, device: Device) -> Result<Bench> {
    tch::manual_seed(0);
    let mut vs = nn::VarStore::new(device);
    let b = case.batch;
    let (mut model, optim, xs, ys, loss): (Box<dyn BenchModel>, _, _, _, _) =
        match case.model.as_str() {
            // cnn_mnist's model and optimizer: SGD, lr 0.001, logit ReLU on.
            "cnn" => (
                Box::new(Cnn::new(&vs.root(), &CnnConfig::default())),
                OptimConfig {
                    optimizer: OptimizerKind::Sgd,
                    lr: 0.001,
                    ..OptimConfig::default()
                },
                Tensor::rand([b, 1, 28, 28], (Kind::Float, device)),
                Tensor::randint(10, [b], (Kind::Int64, device)),
                Loss::CrossEntropy,
            ),
            // rnn_series's model and optimizer: one recurrent layer on [batch, seq, 1]
            // windows, fc on the last step, MSE, SGD lr 0.01.
            "rnn" | "lstm" => {
                let cell = if case.model == "rnn" {
                    CellKind::Rnn
                } else {
                    CellKind::Lstm
                };
                let cfg = RnnConfig {
                    cell,
                    hidden: case.hidden.unwrap_or(10),
                    ..RnnConfig::default()
                };
                let seq = case.seq.unwrap_or(20);
                (
                    Box::new(RecurrentNet::new(&vs.root(), &cfg)),
                    OptimConfig {
                        optimizer: OptimizerKind::Sgd,
                        lr: 0.01,
                        ..OptimConfig::default()
                    },
                    Tensor::randn([b, seq, 1], (Kind::Float, device)),
                    Tensor::randn([b, 1], (Kind::Float, device)),
                    Loss::Mse,
                )
            }
            // transformer_seq's model: 10 features per step, 4 heads, 2 post-norm layers,
            // feed-forward 2 × d_model, dropout 0.1, causal mask, a prediction per step;
            // MSE, SGD lr 0.01.
            "transformer" => {
                let d_model = case.d_model.unwrap_or(64);
                let cfg = TransformerConfig {
                    d_model,
                    ff_dim: 2 * d_model,
                    causal: true,
                    // A check compares frameworks whose dropout noise differs.
                    dropout: if case.mode == "check" {
                        0.0
                    } else {
                        case.dropout.unwrap_or(0.1)
                    },
                    ..TransformerConfig::default()
                };
                let seq = case.seq.unwrap_or(32);
                (
                    Box::new(SeqTransformer::new(&vs.root(), &cfg)),
                    OptimConfig {
                        optimizer: OptimizerKind::Sgd,
                        lr: 0.01,
                        ..OptimConfig::default()
                    },
                    Tensor::randn([b, seq, cfg.input_size], (Kind::Float, device)),
                    Tensor::randn([b, seq, 1], (Kind::Float, device)),
                    Loss::Mse,
                )
            }
            other => bail!("model {other:?} is not in this build (known: {MODELS:?})"),
        };
    let (xs, ys) = match &case.weights {
        Some(path) => load_check(&mut vs, path)?,
        None => (xs, ys),
    };
    match case.quantize.as_deref() {
        None => {}
        Some("int8") if case.mode == "infer" => {
            quantize_model(&vs, model.as_mut(), None)?;
        }
        Some(other) => bail!("quantize {other:?}: expected \"int8\", with mode infer"),
    }
    let optim = OptimConfig {
        lr: case.lr.unwrap_or(optim.lr),
        optimizer: case.optimizer.unwrap_or(optim.optimizer),
        ..optim
    };
    let opt = if case.libtorch_step {
        Opt::Libtorch(optim.build_libtorch(&vs)?)
    } else {
        Opt::Ours(optim.build(&vs)?)
    };
    Ok(Bench {
        _vs: vs,
        model,
        opt,
        xs,
        ys,
        loss,
    })
}

impl Bench {
    /// One training step as the examples' loop does it (forward, loss,
    /// `zero_grad`, `backward`, `step`, the loss read back), timed into
    /// `phases`; returns the loss.
    fn train_step(&mut self, phases: &mut Phases) -> f64 {
        let t0 = Instant::now();
        let out = self.model.forward_t(&self.xs, true);
        let loss = self.loss.compute(&out, &self.ys);
        let t1 = Instant::now();
        self.opt.zero_grad();
        loss.backward();
        let t2 = Instant::now();
        self.opt.step();
        let value = loss.double_value(&[]);
        phases.add([t0, t1, t2, Instant::now()]);
        value
    }
}

/// The weights and the batch of a `check` case.
fn load_check(vs: &mut nn::VarStore, path: &str) -> Result<(Tensor, Tensor)> {
    vs.load(path)
        .with_context(|| format!("loading the weights of {path}"))?;
    let mut named: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(path)?.into_iter().collect();
    let device = vs.device();
    let mut take = |key: &str| {
        named
            .remove(key)
            .map(|t| t.to_device(device))
            .with_context(|| format!("{path} has no {key}"))
    };
    Ok((take("__xs")?, take("__ys")?))
}

/// The loss before and after one SGD step from the case's weights.
fn check(case: &Case, device: Device) -> Result<serde_json::Value> {
    let mut bench = build(case, device)?;
    let mut phases = Phases::default();
    let losses: Vec<f64> = (0..2).map(|_| bench.train_step(&mut phases)).collect();
    Ok(serde_json::json!({ "losses": losses }))
}

fn measure(case: &Case, device: Device) -> Result<Measured> {
    let mut bench = build(case, device)?;
    let train = match case.mode.as_str() {
        "train" => true,
        "infer" => false,
        other => bail!("mode {other:?}: expected train or infer"),
    };
    let step = |bench: &mut Bench, phases: &mut Phases| {
        if train {
            std::hint::black_box(bench.train_step(phases));
        } else {
            let _guard = tch::no_grad_guard();
            let out = bench.model.forward_t(&bench.xs, false);
            std::hint::black_box(out.flatten(0, -1).double_value(&[0]));
        }
    };
    let mut phases = Phases::default();
    for _ in 0..case.warmup {
        step(&mut bench, &mut phases);
    }
    phases = Phases::default();
    let start = Instant::now();
    let mut steps = 0;
    let mut latencies = Vec::new();
    while steps < case.min_steps || start.elapsed().as_secs_f64() < case.min_seconds {
        let t0 = Instant::now();
        step(&mut bench, &mut phases);
        if case.latencies {
            latencies.push(t0.elapsed().as_secs_f64());
        }
        steps += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(Measured {
        steps,
        seconds,
        steps_per_sec: steps as f64 / seconds,
        samples_per_sec: (steps as i64 * case.batch) as f64 / seconds,
        threads: tch::get_num_threads(),
        latencies_s: case.latencies.then_some(latencies),
        phases: train.then(|| phases.per_step(steps)),
    })
}

fn main() {
    tchport::cli::run(|| serve(Args::parse()));
}

fn serve(args: Args) -> Result<()> {
    if args.list_models {
        for m in MODELS {
            println!("{m}");
        }
        return Ok(());
    }
    if args.threads > 0 {
        tch::set_num_threads(args.threads);
    }
    let device = args.device.resolve()?;
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Case>(&line) {
            Ok(case) if case.mode == "check" => check(&case, device)
                .unwrap_or_else(|e| serde_json::json!({ "error": format!("{e:#}") })),
            Ok(case) => match measure(&case, device) {
                Ok(m) => serde_json::to_value(m)?,
                Err(e) => serde_json::json!({ "error": e.to_string() }),
            },
            Err(e) => serde_json::json!({ "error": format!("bad case {line}: {e}") }),
        };
        let mut out = stdout.lock();
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}
