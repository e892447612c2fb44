//! The data of transformer_seq: sequences of steps with 10 inputs and one
//! target each (`[n, seq, 10]` → `[n, seq, 1]`), from a CSV series (previous
//! [`WINDOW`] values → next value at every step) or the synthetic delayed-recall
//! problem, and how their predictions are scored.
//!
//! Series: chronological train/validation/test split and standardisation
//! fitted on the training part (both from [`crate::data::series`]). Training
//! sequences lie inside the training part; each validation/test value is the
//! target of the last step of exactly one sequence (its earlier steps reach
//! back into the past, which is history, not leakage), and the metrics score
//! those last steps in the series' units, against the persistence forecast.
//!
//! Recall: inputs uniform in [−1, 1) on all 10 features; the target at step t
//! is feature 0 of step t − delay (0 for the first `delay` steps). MSE 0 is
//! reachable, and no model can do better than predicting 0 without
//! remembering a value `delay` steps back.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::series::{self, Scaler};
use super::shuffle::SplitMix64;
use super::source::SeriesSource;
use crate::metrics::RegressionScores;

/// Inputs per step: the previous 10 values (the tutorial's `input_size=10`).
pub const WINDOW: usize = 10;

/// Data options of `--task recall`.
///
/// `config.json` keys `delay`, `train_sequences`, `val_sequences`,
/// `test_sequences`, `data_seed` (`train`, `val`, `test` before; both read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct RecallConfig {
    /// Recall: how many steps back the target is.
    #[arg(long, value_name = "STEPS")]
    pub delay: usize,
    /// Recall: training sequences.
    #[serde(rename = "train_sequences", alias = "train")]
    #[arg(long = "train-sequences", id = "train_sequences", value_name = "N")]
    pub train: usize,
    /// Recall: validation sequences (scored after every epoch).
    #[serde(rename = "val_sequences", alias = "val")]
    #[arg(long = "val-sequences", id = "val_sequences", value_name = "N")]
    pub val: usize,
    /// Recall: test sequences.
    #[serde(rename = "test_sequences", alias = "test")]
    #[arg(long = "test-sequences", id = "test_sequences", value_name = "N")]
    pub test: usize,
    /// Recall: seed of the synthetic data (independent of the training seed).
    #[arg(long, value_name = "N")]
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
    /// The series' time axis (`--task series` with a time column), for `config.json`.
    pub time_axis: Option<series::TimeAxis>,
}

/// `seq_len` steps ending at each target index in `ends`: step s has input
/// `scaled[s-10..s]` and target `scaled[s]`.
pub(crate) fn step_sequences(
    scaled: &[f64],
    ends: std::ops::Range<usize>,
    seq_len: usize,
) -> SeqSet {
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
pub(crate) fn series_data(cfg: &SeriesSource, seq_len: usize) -> Result<SeqData> {
    let s = cfg.load()?;
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
            "{} ({n} values: {n_train} train / {} val / {} test{})",
            s.name,
            parts.val.len(),
            parts.test.len(),
            match s.full_note() {
                note if note.is_empty() => note,
                note => format!("; {note}"),
            }
        ),
        train: step_sequences(&scaled, WINDOW + seq_len - 1..n_train, seq_len),
        val: step_sequences(&scaled, val_start..test_start, seq_len),
        test: step_sequences(&scaled, test_start..n, seq_len),
        time_axis: s.time.clone(),
        scoring: Scoring {
            last_step_only: true,
            scaler: Some(scaler),
            baseline: "persistence (previous value)".into(),
        },
    })
}

/// One fold of rolling-origin evaluation on `s`: the scaler is fitted on
/// `values[..train_end]`, training sequences lie inside it, and the held-out
/// (validation and test) sequences end at each target in `held`.
pub(crate) fn fold_data(
    s: &series::Series,
    train_end: usize,
    held: std::ops::Range<usize>,
    seq_len: usize,
) -> Result<SeqData> {
    if train_end < WINDOW + seq_len || held.start < train_end || held.end > s.values.len() {
        bail!(
            "{}: a fold needs {} training values before its held-out block",
            s.name,
            WINDOW + seq_len
        );
    }
    let scaler = Scaler::fit(&s.values[..train_end])?;
    let scaled = scaler.transform(&s.values);
    Ok(SeqData {
        name: format!(
            "{} (train 0..{train_end}, held out {}..{})",
            s.name, held.start, held.end
        ),
        train: step_sequences(&scaled, WINDOW + seq_len - 1..train_end, seq_len),
        val: step_sequences(&scaled, held.clone(), seq_len),
        test: step_sequences(&scaled, held, seq_len),
        time_axis: s.time.clone(),
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
pub(crate) fn recall_set(rng: &mut SplitMix64, n: usize, seq_len: usize, delay: usize) -> SeqSet {
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
pub(crate) fn recall_data(cfg: &RecallConfig, seq_len: usize) -> SeqData {
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
        time_axis: None,
        scoring: Scoring {
            last_step_only: false,
            scaler: None,
            baseline: "predict 0 (no memory)".into(),
        },
    }
}

pub(crate) fn values(t: &Tensor) -> Vec<f64> {
    series::tensor_values(t)
}

impl Scoring {
    /// The scored values of `t` `[n, seq, 1]`: last steps or all, in the series' units.
    pub fn select(&self, t: &Tensor) -> Vec<f64> {
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
    pub(crate) fn baseline_scores(&self, set: &SeqSet) -> RegressionScores {
        let predicted = if self.last_step_only {
            // The last input value of each step is the previous value of the series.
            set.xs.narrow(2, WINDOW as i64 - 1, 1)
        } else {
            set.ys.zeros_like()
        };
        self.score(&predicted, &set.ys)
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
}
