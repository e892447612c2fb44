//! transformer_seq: the tutorial's section 4.3 sequence model (an LSTM named
//! `Transformer`) next to a real Transformer encoder, on one sequence task with
//! input size 10 and one target per time step, as in the tutorial's script.
//! The data (`--task series` or `recall`) is described in
//! [`crate::data::sequence`], the models in [`crate::models::seq_model`].

use std::path::PathBuf;

use anyhow::{bail, ensure, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use crate::data::sequence::{self, RecallConfig, Scoring, SeqData, SeqSet, WINDOW};
use crate::data::source::SeriesSource;
use crate::metrics::RegressionScores;
use crate::models::seq_model::{Arch, SeqModel};
use crate::models::{SeqLstmConfig, SeqTransformer, TransformerConfig};
use crate::optim::OptimConfig;
use crate::session::{RunReport, Task, TaskConfig, Trained, TuneConfig};
use crate::split;
use crate::train::{self, LoopConfig, Loss};

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
    pub series: SeriesSource,
    /// Options of `--task recall`.
    pub recall: RecallConfig,
    /// Fine-tuning, learning-rate schedule, early stopping.
    pub tune: TuneConfig,
    /// The time axis of the series trained on (column, layout, frequency),
    /// recorded in `config.json`; `None` without a time column or for `--task recall`.
    pub time_axis: Option<crate::data::series::TimeAxis>,
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
            series: SeriesSource::default(),
            recall: RecallConfig::default(),
            tune: TuneConfig::default(),
            time_axis: None,
        }
    }

    /// The sequence length in force.
    pub fn seq_len(&self) -> usize {
        self.seq_len
            .unwrap_or_else(|| self.task.default_seq_len(&self.recall))
    }

    /// Checks the values a user can set.
    fn check(&self) -> Result<()> {
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

impl TaskConfig for SequenceConfig {
    fn optim(&self) -> &OptimConfig {
        &self.optim
    }

    fn train(&self) -> &LoopConfig {
        &self.train
    }

    fn tune(&self) -> &TuneConfig {
        &self.tune
    }

    fn validate(&self) -> Result<()> {
        self.check()
    }

    fn validate_folds(&self) -> Result<()> {
        ensure!(
            self.task == SeqTask::Series,
            "--folds is rolling-origin evaluation of a series: it needs --task series"
        );
        self.check()
    }

    fn input_differences(&self, saved: &Self) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        if saved.task != self.task {
            let name = |t: SeqTask| format!("{t:?}").to_lowercase();
            out.push(("--task", name(self.task), name(saved.task)));
        }
        if saved.seq_len() != self.seq_len() {
            out.push((
                "--seq-len",
                self.seq_len().to_string(),
                saved.seq_len().to_string(),
            ));
        }
        out
    }

    fn adopt_inputs(&mut self, saved: &Self) {
        self.task = saved.task;
        self.seq_len = saved.seq_len;
    }

    fn model_flags(&self) -> &'static [&'static str] {
        &[
            "--arch",
            "--d-model",
            "--heads",
            "--layers",
            "--ff-dim",
            "--causal",
            "--no-causal",
            "--hidden",
        ]
    }

    fn adopt_model(&mut self, saved: &Self) {
        self.arch = saved.arch;
        self.transformer = saved.transformer.clone();
        self.lstm = saved.lstm.clone();
    }

    fn model_mismatch(&self, saved: &Self) -> Option<String> {
        let same = saved.arch == self.arch
            && match self.arch {
                Arch::Transformer => {
                    let (a, b) = (&saved.transformer, &self.transformer);
                    (a.d_model, a.heads, a.layers, a.ff_dim, a.causal)
                        == (b.d_model, b.heads, b.layers, b.ff_dim, b.causal)
                }
                Arch::Lstm => saved.lstm == self.lstm,
            };
        (!same).then(|| {
            format!(
                "for --arch {:?} with {}, but this run uses --arch {:?} with {} \
                 (pass the same --arch, --d-model, --heads, --layers, --ff-dim and --causal)",
                saved.arch,
                model_summary(saved),
                self.arch,
                model_summary(self)
            )
        })
    }
}

/// What transformer_seq reports beyond the shared summary (`test_loss` there
/// is the MSE over every step, in the model's scaled units).
#[derive(Debug, Clone, Serialize)]
pub struct SequenceResults {
    /// Steps per sequence.
    pub seq_len: usize,
    /// The data.
    pub data: String,
    /// Training sequences.
    pub train_sequences: usize,
    /// Validation sequences.
    pub val_sequences: usize,
    /// Test sequences.
    pub test_sequences: usize,
    /// What was scored and how.
    pub scoring: Scoring,
    /// MSE, RMSE, MAE on the test set (series' units for `series`).
    pub test: RegressionScores,
    /// The baseline's scores on the same test targets.
    pub baseline: RegressionScores,
    /// Where the attention heatmap was written.
    pub attention: Option<PathBuf>,
    /// `series` only: the scored test values, in time order and the series'
    /// units (one per test value).
    pub test_values: Option<Vec<f64>>,
    /// `series` only: the predictions matching `test_values`.
    pub test_predictions: Option<Vec<f64>>,
}

/// The report of a transformer_seq run.
pub type SequenceReport = RunReport<SequenceConfig, SequenceResults>;

/// The data `cfg` asks for.
pub fn load_data(cfg: &SequenceConfig) -> Result<SeqData> {
    match cfg.task {
        SeqTask::Series => sequence::series_data(&cfg.series, cfg.seq_len()),
        SeqTask::Recall => Ok(sequence::recall_data(&cfg.recall, cfg.seq_len())),
    }
}

/// Writes the attention of the first test sequence as an SVG heatmap: every
/// head of the last layer, and, above it, of each earlier layer (a recall
/// often happens in an earlier layer, the last one then reads its result).
fn write_attention(
    model: &SeqTransformer,
    test: &SeqSet,
    device: Device,
    path: &std::path::Path,
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
    crate::plot::heatmap::write_attention(path, &rows, &title)
}

/// The transformer_seq example on the shared run path; `attention` is `--attention`.
#[derive(Debug, Clone, Default)]
pub struct TransformerSeq {
    /// Where to draw the attention heatmap (transformer only).
    pub attention: Option<PathBuf>,
}

impl TransformerSeq {
    fn scores(&self, t: &Trained<'_, Self>, set: &SeqSet) -> (train::Evaluation, RegressionScores) {
        let bs = t.cfg.train.batch_size.max(256);
        let eval = train::evaluate(t.model, &set.xs, &set.ys, bs, t.device, Loss::Mse);
        let s = t.data.scoring.score(&eval.outputs, &eval.targets);
        (eval, s)
    }
}

impl Task for TransformerSeq {
    const NAME: &'static str = "transformer_seq";
    type Config = SequenceConfig;
    type Data = SeqData;
    type Model = SeqModel;
    type Results = SequenceResults;

    fn load_data(&self, cfg: &SequenceConfig, device: Device, _training: bool) -> Result<SeqData> {
        if self.attention.is_some() && cfg.arch != Arch::Transformer {
            bail!("--attention draws self-attention weights: it needs --arch transformer");
        }
        let mut data = load_data(cfg)?;
        data.train.xs = data.train.xs.to_device(device);
        data.train.ys = data.train.ys.to_device(device);
        Ok(data)
    }

    fn fitted_settings(&self, cfg: &mut SequenceConfig, data: &SeqData) {
        cfg.time_axis = data.time_axis.clone();
    }

    fn describe(&self, cfg: &SequenceConfig, data: &SeqData) -> String {
        format!(
            "{:?} ({}) on {}; {} train / {} val / {} test sequences of {} steps",
            cfg.arch,
            model_summary(cfg),
            data.name,
            data.train.len(),
            data.val.len(),
            data.test.len(),
            cfg.seq_len(),
        )
    }

    fn build_model(&self, p: &nn::Path, cfg: &SequenceConfig) -> SeqModel {
        SeqModel::new(p, cfg.arch, &cfg.transformer, &cfg.lstm)
    }

    fn training_set<'d>(&self, data: &'d SeqData) -> (&'d Tensor, &'d Tensor) {
        (&data.train.xs, &data.train.ys)
    }

    fn loss(&self) -> Loss {
        Loss::Mse
    }

    fn early_metric(&self) -> &'static str {
        "val rmse"
    }

    fn after_epoch(&self, t: &Trained<'_, Self>) -> Result<Vec<(String, f64)>> {
        let (_, s) = self.scores(t, &t.data.val);
        Ok(vec![("val rmse".to_string(), s.rmse)])
    }

    fn evaluate(&self, t: &Trained<'_, Self>) -> Result<(f64, SequenceResults)> {
        let (cfg, data) = (t.cfg, t.data);
        let (eval, test) = self.scores(t, &data.test);
        if let (Some(path), SeqModel::Transformer(m)) = (&self.attention, t.model) {
            write_attention(m, &data.test, t.device, path)?;
            t.progress
                .line(format!("attention heatmap written to {}", path.display()));
        }
        let last = data.scoring.last_step_only;
        Ok((
            eval.loss,
            SequenceResults {
                seq_len: cfg.seq_len(),
                data: data.name.clone(),
                train_sequences: data.train.len(),
                val_sequences: data.val.len(),
                test_sequences: data.test.len(),
                scoring: data.scoring.clone(),
                test,
                baseline: data.scoring.baseline_scores(&data.test),
                attention: self.attention.clone(),
                test_values: last.then(|| data.scoring.select(&eval.targets)),
                test_predictions: last.then(|| data.scoring.select(&eval.outputs)),
            },
        ))
    }

    fn print(&self, r: &SequenceReport) {
        print_report(r);
    }

    /// Rolling origin over the series' steps: fold `i` of `k` trains on the
    /// sequences inside the values before `n − (k − i)·b` (scaler refitted on
    /// them) and is scored on the last steps targeting the next `b` values, `b`
    /// being the test part's length.
    fn folds(&self, cfg: &SequenceConfig, data: &SeqData, k: usize) -> Result<Vec<SeqData>> {
        let s = cfg.series.load()?;
        let block = data.test.len();
        let seq_len = cfg.seq_len();
        split::rolling_origin(s.values.len(), k, block, WINDOW + seq_len)?
            .into_iter()
            .map(|(train, held)| sequence::fold_data(&s, train.end, held, seq_len))
            .collect()
    }

    fn fold_score(&self, t: &Trained<'_, Self>) -> Result<(usize, f64)> {
        let (_, s) = self.scores(t, &t.data.test);
        Ok((t.data.test.len(), s.rmse))
    }

    fn fold_metric(&self) -> &'static str {
        "held-out RMSE"
    }
}

/// Trains (unless `--eval-only`) and evaluates on the shared run path; draws
/// the attention heatmap to `attention` when given (transformer only).
pub fn run(
    cfg: &SequenceConfig,
    opts: &crate::session::RunOptions,
    attention: Option<&std::path::Path>,
) -> Result<SequenceReport> {
    let task = TransformerSeq {
        attention: attention.map(PathBuf::from),
    };
    crate::session::run(&task, cfg, opts)
}

/// The end-of-run summary.
pub fn print_report(r: &SequenceReport) {
    let units = if r.results.scoring.scaler.is_some() {
        "series units"
    } else {
        "raw units"
    };
    let scope = if r.results.scoring.last_step_only {
        "one prediction per test value"
    } else {
        "every step of every test sequence"
    };
    println!(
        "\n== transformer_seq report: {:?}, {:?} task ({}) ==",
        r.config.arch, r.config.task, r.summary.device
    );
    println!("model             {}", model_summary(&r.config));
    println!("parameters        {}", r.summary.parameters);
    println!("data              {}", r.results.data);
    println!("scored            {scope}, {units}");
    println!(
        "test              MSE {:.4}   RMSE {:.4}   MAE {:.4}",
        r.results.test.mse, r.results.test.rmse, r.results.test.mae
    );
    println!(
        "baseline          MSE {:.4}   RMSE {:.4}   MAE {:.4}   ({})",
        r.results.baseline.mse,
        r.results.baseline.rmse,
        r.results.baseline.mae,
        r.results.scoring.baseline
    );
    println!(
        "test loss         {:.5} (MSE over every step, model units)",
        r.summary.test_loss
    );
    if let Some(line) = r.summary.speed_line("sequences") {
        println!("{line}");
    }
    println!("peak memory       {:.0} MiB", r.summary.peak_rss_mb);
    if let Some(p) = &r.results.attention {
        println!("attention         {}", p.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
