//! transformer_seq: the tutorial's section 4.3 sequence model (an LSTM named
//! `Transformer`) next to a real Transformer encoder, on one sequence task with
//! input size 10 and one target per time step, as in the tutorial's script.
//!
//! Tasks:
//! * `series` (default): a CSV series (sunspots by default). At each step the
//!   input is the previous [`WINDOW`] values and the target the next value; a
//!   sample is `seq_len` consecutive steps. Chronological train/validation/test
//!   split and standardisation fitted on the training part (both from
//!   [`crate::data::series`]). Training sequences lie inside the training part;
//!   each validation/test value is the target of the last step of exactly one
//!   sequence (its earlier steps reach back into the past, which is history, not
//!   leakage), and the metrics score those last steps in the series' units,
//!   against the persistence forecast (the previous value).
//! * `recall`: a seeded synthetic delayed-recall problem. Inputs are uniform in
//!   [−1, 1) on all 10 features; the target at step t is feature 0 of step
//!   t − delay (0 for the first `delay` steps). MSE 0 is reachable, and no
//!   model can do better than predicting 0 without remembering a value `delay`
//!   (32) steps back: attention can look it up, a recurrence must carry it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

use super::{
    checkpointing, optimizer_and_trainer, parameter_count, prepare_weights, save_final, RunOptions,
    TuneConfig,
};
use crate::checkpoint;
use crate::data::series::{self, MissingPolicy, Scaler, SplitFractions};
use crate::data::shuffle::SplitMix64;
use crate::metrics::RegressionScores;
use crate::models::{SeqLstm, SeqLstmConfig, SeqTransformer, TransformerConfig};
use crate::optim::OptimConfig;
use crate::train::{self, EpochRecord, LoopConfig, Loss, Progress};

/// Inputs per step: the previous 10 values (the tutorial's `input_size=10`).
pub const WINDOW: usize = 10;

/// Which model (`--arch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Transformer encoder: self-attention + sinusoidal position encoding.
    #[default]
    Transformer,
    /// The tutorial's model: LSTM(10, 50), sequence-first, Linear(50, 1) per step.
    Lstm,
}

/// Which data (`--task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeqTask {
    /// A real series from a CSV file: previous 10 values → next value, every step.
    #[default]
    Series,
    /// Synthetic delayed recall: the target at step t is feature 0 of step t − delay.
    Recall,
}

impl SeqTask {
    /// Sequence length when `--seq-len` is not given: 32 for series, 2 × delay for recall.
    pub fn default_seq_len(self, recall: &RecallConfig) -> usize {
        match self {
            SeqTask::Series => 32,
            SeqTask::Recall => 2 * recall.delay,
        }
    }

    /// Whether the transformer uses the causal mask unless told otherwise. On for
    /// `series`: there the input of step t+1 holds the target of step t, so an
    /// unmasked encoder reads the answer from the next step. Off for `recall`,
    /// whose targets are past inputs only.
    pub fn default_causal(self) -> bool {
        self == SeqTask::Series
    }
}

/// Data options of `--task series`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeriesTaskConfig {
    /// CSV file with a header line.
    pub csv: PathBuf,
    /// Column of the values.
    pub column: String,
    /// What to do with missing or non-numeric cells.
    pub missing: MissingPolicy,
    /// Chronological split fractions (train, validation; test is the rest).
    pub split: SplitFractions,
}

impl Default for SeriesTaskConfig {
    fn default() -> Self {
        Self {
            csv: PathBuf::from("data/series/sunspots.csv"),
            column: "SUNACTIVITY".into(),
            missing: MissingPolicy::Error,
            split: SplitFractions::default(),
        }
    }
}

/// Data options of `--task recall`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecallConfig {
    /// How many steps back the target looks (`--delay`).
    pub delay: usize,
    /// Training sequences.
    pub train: usize,
    /// Validation sequences (scored after every epoch).
    pub val: usize,
    /// Test sequences.
    pub test: usize,
    /// Seed of the data (independent of the training seed).
    pub data_seed: u64,
}

impl Default for RecallConfig {
    fn default() -> Self {
        Self {
            delay: 32,
            train: 2000,
            val: 500,
            test: 500,
            data_seed: 0,
        }
    }
}

/// Everything that determines a transformer_seq run; written as `config.json`
/// beside a saved checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SequenceConfig {
    /// Model.
    pub arch: Arch,
    /// Data.
    pub task: SeqTask,
    /// Steps per sequence; `None`: the task's default.
    pub seq_len: Option<usize>,
    /// Options of `--arch transformer`.
    pub transformer: TransformerConfig,
    /// Options of `--arch lstm`.
    pub lstm: SeqLstmConfig,
    /// Optimizer (the tutorial's SGD, lr 0.01).
    pub optim: OptimConfig,
    /// Epochs (the tutorial's 100), batch size, seed.
    pub train: LoopConfig,
    /// Options of `--task series`.
    pub series: SeriesTaskConfig,
    /// Options of `--task recall`.
    pub recall: RecallConfig,
    /// Fine-tuning, learning-rate schedule, early stopping.
    pub tune: TuneConfig,
}

impl Default for SequenceConfig {
    /// The tutorial's values: MSE, SGD lr 0.01, 100 epochs; batch 16 where it is silent.
    fn default() -> Self {
        Self::for_task(SeqTask::Series)
    }
}

impl SequenceConfig {
    /// The defaults for `task` (its causal-mask default included).
    pub fn for_task(task: SeqTask) -> Self {
        Self {
            arch: Arch::Transformer,
            task,
            seq_len: None,
            transformer: TransformerConfig {
                input_size: WINDOW as i64,
                causal: task.default_causal(),
                ..TransformerConfig::default()
            },
            lstm: SeqLstmConfig::default(),
            optim: OptimConfig::default(),
            train: LoopConfig {
                epochs: 100,
                batch_size: 16,
                ..LoopConfig::default()
            },
            series: SeriesTaskConfig::default(),
            recall: RecallConfig::default(),
            tune: TuneConfig::default(),
        }
    }

    /// The sequence length in force.
    pub fn seq_len(&self) -> usize {
        self.seq_len
            .unwrap_or_else(|| self.task.default_seq_len(&self.recall))
    }

    /// Checks the values a user can set.
    pub fn validate(&self) -> Result<()> {
        self.optim.validate()?;
        self.train.validate()?;
        self.tune.validate()?;
        let l = self.seq_len();
        ensure!(l >= 1, "--seq-len must be at least 1");
        match self.arch {
            Arch::Transformer => {
                self.transformer.validate()?;
                ensure!(
                    self.transformer.input_size == WINDOW as i64,
                    "the transformer's input size must be {WINDOW}"
                );
            }
            Arch::Lstm => ensure!(
                self.lstm.input_size == WINDOW as i64 && self.lstm.hidden_size >= 1,
                "the LSTM's input size must be {WINDOW} and its hidden size at least 1"
            ),
        }
        if self.task == SeqTask::Recall {
            let r = &self.recall;
            ensure!(r.delay >= 1, "--delay must be at least 1");
            ensure!(
                l > r.delay,
                "--seq-len {l} must exceed --delay {}: otherwise no step has a target to recall",
                r.delay
            );
            ensure!(
                r.train >= 1 && r.val >= 1 && r.test >= 1,
                "the recall task needs at least one train, validation and test sequence"
            );
        }
        Ok(())
    }
}

/// Inputs `[n, seq, 10]` and targets `[n, seq, 1]` (float32, CPU).
#[derive(Debug)]
pub struct SeqSet {
    /// Inputs.
    pub xs: Tensor,
    /// Targets.
    pub ys: Tensor,
}

impl SeqSet {
    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.xs.size()[0] as usize
    }

    /// True without sequences.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How predictions are scored.
#[derive(Debug, Clone, Serialize)]
pub struct Scoring {
    /// Score only the last step of each sequence (series) or every step (recall).
    pub last_step_only: bool,
    /// Undo this standardisation before scoring (series' units).
    pub scaler: Option<Scaler>,
    /// What the baseline is.
    pub baseline: String,
}

/// The data of a run.
#[derive(Debug)]
pub struct SeqData {
    /// A description for the report.
    pub name: String,
    /// Training sequences.
    pub train: SeqSet,
    /// Validation sequences.
    pub val: SeqSet,
    /// Test sequences.
    pub test: SeqSet,
    /// How to score.
    pub scoring: Scoring,
}

/// `seq_len` steps ending at each target index in `ends`: step s has input
/// `scaled[s-10..s]` and target `scaled[s]`.
pub fn step_sequences(scaled: &[f64], ends: std::ops::Range<usize>, seq_len: usize) -> SeqSet {
    let n = ends.len();
    let mut xs = Vec::with_capacity(n * seq_len * WINDOW);
    let mut ys = Vec::with_capacity(n * seq_len);
    for end in ends {
        for s in end + 1 - seq_len..=end {
            xs.extend(scaled[s - WINDOW..s].iter().map(|&v| v as f32));
            ys.push(scaled[s] as f32);
        }
    }
    let (n, l) = (n as i64, seq_len as i64);
    SeqSet {
        xs: Tensor::from_slice(&xs).view([n, l, WINDOW as i64]),
        ys: Tensor::from_slice(&ys).view([n, l, 1]),
    }
}

/// The series task's data (see the module documentation).
pub fn series_data(cfg: &SeriesTaskConfig, seq_len: usize) -> Result<SeqData> {
    let s = series::load_csv(&cfg.csv, &cfg.column, cfg.missing, &Default::default())?;
    // The first target has WINDOW values before it; a training sequence needs seq_len targets.
    let parts = series::split(&s.values, cfg.split, 1)?;
    let (n_train, val_start, test_start) =
        (parts.train.len(), parts.val_start(), parts.test_start());
    if n_train < WINDOW + seq_len {
        bail!(
            "{}: the training part has {n_train} values, but one training sequence of --seq-len {seq_len} \
             steps, each with the previous {WINDOW} values as input, needs {}; use a shorter --seq-len",
            s.name,
            WINDOW + seq_len
        );
    }
    let scaler = Scaler::fit(parts.train)?;
    let scaled = scaler.transform(&s.values);
    let n = scaled.len();
    Ok(SeqData {
        name: format!(
            "{} ({n} values: {n_train} train / {} val / {} test)",
            s.name,
            parts.val.len(),
            parts.test.len()
        ),
        train: step_sequences(&scaled, WINDOW + seq_len - 1..n_train, seq_len),
        val: step_sequences(&scaled, val_start..test_start, seq_len),
        test: step_sequences(&scaled, test_start..n, seq_len),
        scoring: Scoring {
            last_step_only: true,
            scaler: Some(scaler),
            baseline: "persistence (previous value)".into(),
        },
    })
}

/// `n` delayed-recall sequences from `rng`: inputs uniform in [−1, 1) (24-bit
/// values from SplitMix64, sequence by sequence, step by step, feature by
/// feature), target at step t = input feature 0 at step t − delay, 0 before.
pub fn recall_set(rng: &mut SplitMix64, n: usize, seq_len: usize, delay: usize) -> SeqSet {
    let mut xs = Vec::with_capacity(n * seq_len * WINDOW);
    for _ in 0..n * seq_len * WINDOW {
        xs.push((rng.next_u64() >> 40) as f32 / 16_777_216.0 * 2.0 - 1.0);
    }
    let mut ys = vec![0f32; n * seq_len];
    for i in 0..n {
        for t in delay..seq_len {
            ys[i * seq_len + t] = xs[(i * seq_len + t - delay) * WINDOW];
        }
    }
    let (n, l) = (n as i64, seq_len as i64);
    SeqSet {
        xs: Tensor::from_slice(&xs).view([n, l, WINDOW as i64]),
        ys: Tensor::from_slice(&ys).view([n, l, 1]),
    }
}

/// The recall task's data: train, validation and test drawn one after the
/// other from one SplitMix64 seeded with `data_seed`.
pub fn recall_data(cfg: &RecallConfig, seq_len: usize) -> SeqData {
    let mut rng = SplitMix64::new(cfg.data_seed);
    let train = recall_set(&mut rng, cfg.train, seq_len, cfg.delay);
    let val = recall_set(&mut rng, cfg.val, seq_len, cfg.delay);
    let test = recall_set(&mut rng, cfg.test, seq_len, cfg.delay);
    SeqData {
        name: format!(
            "delayed recall (delay {}, {} train / {} val / {} test sequences, data seed {})",
            cfg.delay, cfg.train, cfg.val, cfg.test, cfg.data_seed
        ),
        train,
        val,
        test,
        scoring: Scoring {
            last_step_only: false,
            scaler: None,
            baseline: "predict 0 (no memory)".into(),
        },
    }
}

/// The data `cfg` asks for.
pub fn load_data(cfg: &SequenceConfig) -> Result<SeqData> {
    match cfg.task {
        SeqTask::Series => series_data(&cfg.series, cfg.seq_len()),
        SeqTask::Recall => Ok(recall_data(&cfg.recall, cfg.seq_len())),
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    series::tensor_values(t)
}

impl Scoring {
    fn select(&self, t: &Tensor) -> Vec<f64> {
        let t = if self.last_step_only {
            t.select(1, -1)
        } else {
            t.shallow_clone()
        };
        let v = values(&t);
        match &self.scaler {
            Some(s) => s.inverse(&v),
            None => v,
        }
    }

    /// Scores predictions `[n, seq, 1]` against targets `[n, seq, 1]`.
    pub fn score(&self, predicted: &Tensor, targets: &Tensor) -> RegressionScores {
        RegressionScores::new(&self.select(targets), &self.select(predicted))
    }

    /// Scores the baseline on `set`.
    pub fn baseline_scores(&self, set: &SeqSet) -> RegressionScores {
        let predicted = if self.last_step_only {
            // The last input value of each step is the previous value of the series.
            set.xs.narrow(2, WINDOW as i64 - 1, 1)
        } else {
            set.ys.zeros_like()
        };
        self.score(&predicted, &set.ys)
    }
}

/// Either model, behind one `ModuleT`.
#[derive(Debug)]
pub enum SeqModel {
    /// `--arch transformer`.
    Transformer(SeqTransformer),
    /// `--arch lstm`.
    Lstm(SeqLstm),
}

impl SeqModel {
    /// Builds the model `cfg.arch` names under `p`.
    pub fn new(p: &nn::Path, cfg: &SequenceConfig) -> Self {
        match cfg.arch {
            Arch::Transformer => SeqModel::Transformer(SeqTransformer::new(p, &cfg.transformer)),
            Arch::Lstm => SeqModel::Lstm(SeqLstm::new(p, &cfg.lstm)),
        }
    }
}

impl ModuleT for SeqModel {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            SeqModel::Transformer(m) => m.forward_t(xs, train),
            SeqModel::Lstm(m) => m.forward_t(xs, train),
        }
    }
}

/// The result of a run, as printed and written to `--metrics-json`.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceReport {
    /// The configuration that produced it.
    pub config: SequenceConfig,
    /// Steps per sequence.
    pub seq_len: usize,
    /// The data.
    pub data: String,
    /// Device name.
    pub device: String,
    /// Trainable parameters.
    pub parameters: i64,
    /// Sequences per part.
    pub train_sequences: usize,
    /// Validation sequences.
    pub val_sequences: usize,
    /// Test sequences.
    pub test_sequences: usize,
    /// Seconds spent reading and preparing the data.
    pub data_seconds: f64,
    /// One record per epoch (empty for `--eval-only`).
    pub epochs: Vec<EpochRecord>,
    /// Mean training seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Mean training sequences per second.
    pub samples_per_sec: f64,
    /// Mean test MSE over every step, in the model's (scaled) units.
    pub test_loss: f64,
    /// What was scored and how.
    pub scoring: Scoring,
    /// MSE, RMSE, MAE on the test set (series' units for `series`).
    pub test: RegressionScores,
    /// The baseline's scores on the same test targets.
    pub baseline: RegressionScores,
    /// Where the attention heatmap was written.
    pub attention: Option<PathBuf>,
    /// Peak resident memory of the process, MiB.
    pub peak_rss_mb: f64,
    /// `series` only: the scored test values and the model's predictions, in
    /// time order and the series' units (one per test value).
    pub test_values: Option<Vec<f64>>,
    /// `series` only: the predictions matching `test_values`.
    pub test_predictions: Option<Vec<f64>>,
}

/// Refuses a checkpoint whose `config.json` describes another model.
fn check_checkpoint_config(path: &Path, cfg: &SequenceConfig) -> Result<()> {
    if let Some(saved) = checkpoint::read_config::<SequenceConfig>(path)? {
        let same = saved.arch == cfg.arch
            && match cfg.arch {
                Arch::Transformer => {
                    let (a, b) = (&saved.transformer, &cfg.transformer);
                    (a.d_model, a.heads, a.layers, a.ff_dim, a.causal)
                        == (b.d_model, b.heads, b.layers, b.ff_dim, b.causal)
                }
                Arch::Lstm => saved.lstm == cfg.lstm,
            };
        if !same {
            bail!(
                "{} was saved for --arch {:?} with {}, but this run uses --arch {:?} with {} \
                 (pass the same --arch, --d-model, --heads, --layers, --ff-dim and --causal)",
                checkpoint::config_path(path).display(),
                saved.arch,
                model_summary(&saved),
                cfg.arch,
                model_summary(cfg)
            );
        }
    }
    Ok(())
}

/// A one-line description of the model options.
pub fn model_summary(cfg: &SequenceConfig) -> String {
    match cfg.arch {
        Arch::Transformer => {
            let t = &cfg.transformer;
            format!(
                "d_model {}, {} heads, {} layers, ff {}, dropout {}, {}",
                t.d_model,
                t.heads,
                t.layers,
                t.ff_dim,
                t.dropout,
                if t.causal { "causal mask" } else { "no mask" }
            )
        }
        Arch::Lstm => format!(
            "LSTM({}, {}) + Linear({}, 1)",
            cfg.lstm.input_size, cfg.lstm.hidden_size, cfg.lstm.hidden_size
        ),
    }
}

/// Writes the attention of the first test sequence as an SVG heatmap: every
/// head of the last layer, and, above it, of each earlier layer (a recall
/// often happens in an earlier layer, the last one then reads its result).
fn write_attention(
    model: &SeqTransformer,
    test: &SeqSet,
    device: Device,
    path: &Path,
) -> Result<()> {
    ensure!(
        !test.is_empty(),
        "no test sequence to draw the attention of"
    );
    let weights = tch::no_grad(|| {
        model
            .forward_with_attention(&test.xs.narrow(0, 0, 1).to_device(device), false)
            .1
    });
    let n = weights.len();
    let rows: Vec<(String, Tensor)> = weights
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let label = if i + 1 == n {
                format!("last layer ({i}),")
            } else {
                format!("layer {i},")
            };
            (label, w.squeeze_dim(0)) // [heads, seq, seq]
        })
        .collect();
    let (heads, seq) = (rows[0].1.size()[0], rows[0].1.size()[1]);
    let title = format!(
        "Self-attention weights, test sequence 0 ({n} layers × {heads} heads, {seq} steps{})",
        if model.config().causal {
            ", causal"
        } else {
            ""
        }
    );
    let svg = crate::viz::attention_svg(&rows, &title);
    checkpoint::write_atomic(path, |tmp| {
        std::fs::write(tmp, svg).with_context(|| format!("cannot write {}", path.display()))
    })
}

/// Trains (unless `eval_only`) and evaluates; draws the attention heatmap to
/// `attention` when given (transformer only).
pub fn run(
    cfg: &SequenceConfig,
    opts: &RunOptions,
    attention: Option<&Path>,
) -> Result<SequenceReport> {
    let cfg = &opts.resolve_config(cfg)?;
    cfg.validate()?;
    if attention.is_some() && cfg.arch != Arch::Transformer {
        bail!("--attention draws self-attention weights: it needs --arch transformer");
    }
    let device = opts.device.resolve()?;
    let progress = Progress { quiet: opts.quiet };
    tch::manual_seed(cfg.train.seed as i64);

    let t0 = Instant::now();
    let data = load_data(cfg)?;
    let (train_x, train_y) = (
        data.train.xs.to_device(device),
        data.train.ys.to_device(device),
    );
    let data_seconds = t0.elapsed().as_secs_f64();

    let mut vs = nn::VarStore::new(device);
    let model = SeqModel::new(&vs.root(), cfg);
    if let Some(path) = opts.resume.as_ref().or(opts.load.as_ref()) {
        check_checkpoint_config(path, cfg)?;
    }
    let (ft, state) = prepare_weights(&mut vs, opts, &cfg.tune.finetune, &cfg.optim, progress)?;
    progress.line(format!(
        "transformer_seq: {:?} ({}) on {}",
        cfg.arch,
        model_summary(cfg),
        data.name
    ));
    progress.line(format!(
        "{} train / {} val / {} test sequences of {} steps, {} parameters, {} on {}",
        data.train.len(),
        data.val.len(),
        data.test.len(),
        cfg.seq_len(),
        parameter_count(&vs),
        if opts.eval_only {
            "evaluating"
        } else {
            "training"
        },
        crate::device::name(device)
    ));

    let bs = cfg.train.batch_size.max(256);
    let mut epochs = state.history.clone();
    if !opts.eval_only {
        let (mut opt, trainer) = optimizer_and_trainer(
            &vs,
            &cfg.optim,
            &ft,
            &cfg.train,
            &cfg.tune,
            "val rmse",
            Loss::Mse,
            device,
            progress,
            Some(checkpointing(&vs, opts, "transformer_seq", cfg)?),
        )?;
        epochs = trainer.fit(&model, &mut opt, &train_x, &train_y, state, |_, _| {
            let eval = train::evaluate(&model, &data.val.xs, &data.val.ys, bs, device, Loss::Mse);
            let s = data.scoring.score(&eval.outputs, &eval.targets);
            Ok(vec![("val rmse".to_string(), s.rmse)])
        })?;
    }
    let eval = train::evaluate(&model, &data.test.xs, &data.test.ys, bs, device, Loss::Mse);
    let test = data.scoring.score(&eval.outputs, &eval.targets);
    let baseline = data.scoring.baseline_scores(&data.test);

    if let (Some(path), SeqModel::Transformer(m)) = (attention, &model) {
        write_attention(m, &data.test, device, path)?;
        progress.line(format!("attention heatmap written to {}", path.display()));
    }
    save_final(&vs, opts, cfg, &epochs, progress)?;
    let n = epochs.len().max(1) as f64;
    let report = SequenceReport {
        config: cfg.clone(),
        seq_len: cfg.seq_len(),
        data: data.name.clone(),
        device: crate::device::name(device),
        parameters: parameter_count(&vs),
        train_sequences: data.train.len(),
        val_sequences: data.val.len(),
        test_sequences: data.test.len(),
        data_seconds,
        seconds_per_epoch: epochs.iter().map(|e| e.train_seconds).sum::<f64>() / n,
        samples_per_sec: epochs.iter().map(|e| e.samples_per_sec).sum::<f64>() / n,
        epochs,
        test_loss: eval.loss,
        scoring: data.scoring.clone(),
        test,
        baseline,
        attention: attention.map(Path::to_path_buf),
        peak_rss_mb: crate::metrics::peak_rss_mb(),
        test_values: data
            .scoring
            .last_step_only
            .then(|| data.scoring.select(&eval.targets)),
        test_predictions: data
            .scoring
            .last_step_only
            .then(|| data.scoring.select(&eval.outputs)),
    };
    if let Some(path) = &opts.metrics_json {
        checkpoint::write_json(path, &report)?;
    }
    Ok(report)
}

/// The end-of-run summary.
pub fn print_report(r: &SequenceReport) {
    let units = if r.scoring.scaler.is_some() {
        "series units"
    } else {
        "raw units"
    };
    let scope = if r.scoring.last_step_only {
        "one prediction per test value"
    } else {
        "every step of every test sequence"
    };
    println!(
        "\n== transformer_seq report: {:?}, {:?} task ({}) ==",
        r.config.arch, r.config.task, r.device
    );
    println!("model             {}", model_summary(&r.config));
    println!("parameters        {}", r.parameters);
    println!("data              {}", r.data);
    println!("scored            {scope}, {units}");
    println!(
        "test              MSE {:.4}   RMSE {:.4}   MAE {:.4}",
        r.test.mse, r.test.rmse, r.test.mae
    );
    println!(
        "baseline          MSE {:.4}   RMSE {:.4}   MAE {:.4}   ({})",
        r.baseline.mse, r.baseline.rmse, r.baseline.mae, r.scoring.baseline
    );
    println!(
        "test loss         {:.5} (MSE over every step, model units)",
        r.test_loss
    );
    if !r.epochs.is_empty() {
        println!(
            "seconds / epoch   {:.3}   ({:.0} sequences/s, {} epochs)",
            r.seconds_per_epoch,
            r.samples_per_sec,
            r.epochs.len()
        );
    }
    println!("peak memory       {:.0} MiB", r.peak_rss_mb);
    if let Some(p) = &r.attention {
        println!("attention         {}", p.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_targets_are_delayed_feature_zero() {
        let mut rng = SplitMix64::new(3);
        let set = recall_set(&mut rng, 2, 6, 2);
        assert_eq!(set.xs.size(), [2, 6, 10]);
        let x = values(&set.xs);
        let y = values(&set.ys);
        assert!(x.iter().all(|v| (-1.0..1.0).contains(v)));
        for i in 0..2 {
            assert_eq!(&y[i * 6..i * 6 + 2], &[0.0, 0.0]);
            for t in 2..6 {
                assert_eq!(y[i * 6 + t], x[(i * 6 + t - 2) * 10]);
            }
        }
    }

    #[test]
    fn step_sequences_end_at_the_given_targets() {
        let scaled: Vec<f64> = (0..30).map(f64::from).collect();
        let set = step_sequences(&scaled, 20..22, 4);
        assert_eq!(set.xs.size(), [2, 4, 10]);
        assert_eq!(
            values(&set.ys),
            vec![17.0, 18.0, 19.0, 20.0, 18.0, 19.0, 20.0, 21.0]
        );
        // Step with target 17 has inputs 7..17.
        assert_eq!(
            values(&set.xs.get(0).get(0)),
            (7..17).map(f64::from).collect::<Vec<_>>()
        );
        let scoring = Scoring {
            last_step_only: true,
            scaler: None,
            baseline: String::new(),
        };
        // Persistence: the previous value, exactly one off.
        let b = scoring.baseline_scores(&set);
        assert_eq!((b.mse, b.mae), (1.0, 1.0));
    }

    #[test]
    fn validation_names_the_flag() {
        let mut cfg = SequenceConfig::for_task(SeqTask::Recall);
        cfg.seq_len = Some(32);
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--seq-len 32 must exceed --delay 32"));
        cfg.seq_len = None;
        cfg.transformer.heads = 5;
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--heads 5 must divide"));
        assert!(SequenceConfig::default().transformer.causal);
        assert!(!SequenceConfig::for_task(SeqTask::Recall).transformer.causal);
    }
}
