//! transformer_seq on the shared run path: data, model, scoring, attention maps.

use std::path::PathBuf;

use anyhow::{bail, ensure, Result};
use serde::Serialize;
use tch::nn;
use tch::{Device, Tensor};

use super::*;
use crate::data::sequence::{self, Scoring, SeqData, SeqSet, WINDOW};
use crate::metrics::RegressionScores;
use crate::models::seq_model::{Arch, SeqModel};
use crate::models::SeqTransformer;
use crate::session::{CrossValidation, RunReport, Task, Trained};
use crate::split;
use crate::torchscript::TraceInput;
use crate::train::{self, Batch, Loss, Sampler, ShuffledPairs};

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
pub type SequenceReport = RunReport<Config, SequenceResults>;

/// The data `cfg` asks for.
pub(crate) fn read_sequences(cfg: &Config) -> Result<SeqData> {
    match cfg.task {
        SequenceKind::Series => sequence::series_data(&cfg.source, cfg.seq_len()),
        SequenceKind::Recall => Ok(sequence::recall_data(&cfg.recall, cfg.seq_len())),
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
        let bs = t.cfg.run.train.batch_size.max(256);
        let eval = train::evaluate(t.model, &set.xs, &set.ys, bs, t.device, Loss::Mse);
        let s = t.data.scoring.score(&eval.outputs, &eval.targets);
        (eval, s)
    }
}

impl Task for TransformerSeq {
    const NAME: &'static str = "transformer_seq";
    type Config = Config;
    type Data = SeqData;
    type Model = SeqModel;
    type Results = SequenceResults;

    fn load_data(&self, cfg: &Config, device: Device, _training: bool) -> Result<SeqData> {
        if self.attention.is_some() && cfg.arch != Arch::Transformer {
            bail!("--attention draws self-attention weights: it needs --arch transformer");
        }
        let mut data = read_sequences(cfg)?;
        data.train.xs = data.train.xs.to_device(device);
        data.train.ys = data.train.ys.to_device(device);
        Ok(data)
    }

    fn fitted_settings(&self, cfg: &mut Config, data: &SeqData) {
        cfg.time_axis = data.time_axis.clone();
    }

    fn describe(&self, cfg: &Config, data: &SeqData) -> String {
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

    fn build_model(&self, p: &nn::Path, cfg: &Config) -> SeqModel {
        SeqModel::new(p, cfg.arch, &cfg.transformer, &cfg.lstm)
    }

    fn batches<'d>(
        &self,
        cfg: &'d Config,
        data: &'d SeqData,
        device: Device,
    ) -> Box<dyn Sampler + 'd> {
        let (xs, ys) = (&data.train.xs, &data.train.ys);
        ShuffledPairs::boxed(xs, ys, &cfg.run.train, device)
    }

    fn loss(&self, model: &Self::Model, batch: &Batch) -> Tensor {
        Loss::Mse.on_batch(model, batch)
    }

    fn cross_validation(&self) -> Option<&dyn CrossValidation<Self>> {
        Some(self)
    }

    fn trace_input(&self, cfg: &Config, device: Device) -> Option<TraceInput> {
        let input_size = match cfg.arch {
            Arch::Transformer => cfg.transformer.input_size,
            Arch::Lstm => cfg.lstm.input_size,
        };
        Some(TraceInput {
            example: crate::torchscript::probe(&[1, cfg.seq_len() as i64, input_size], device),
            input: "[batch, seq_len, input_size] sequences; a series is standardised by the mean \
                    and std of its training part (the run prints them), the recall task's tokens \
                    as the run encodes them"
                .into(),
            output: "the model's prediction for each sequence, in the input's units".into(),
            settings: serde_json::json!({
                "arch": cfg.arch,
                "task": cfg.task,
                "seq_len": cfg.seq_len(),
                "causal": !cfg.no_causal,
            }),
            prepare: None,
        })
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
        if let Some(path) = &self.attention {
            let Some(SeqModel::Transformer(m)) = t.model.native() else {
                bail!("--attention draws the example's own Transformer's weights, not a TorchScript module's");
            };
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
}

impl CrossValidation<TransformerSeq> for TransformerSeq {
    /// Rolling origin over the series' steps: fold `i` of `k` trains on the
    /// sequences inside the values before `n − (k − i)·b` (scaler refitted on
    /// them) and is scored on the last steps targeting the next `b` values, `b`
    /// being the test part's length.
    fn folds(&self, cfg: &Config, data: &SeqData, k: usize) -> Result<Vec<SeqData>> {
        let s = cfg.source.load()?;
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
