//! A series cut into model windows: split by target time, scaled on the training part.
//! Shared by rnn_series and by its PyTorch twin `parity/rnn_series.py`, which
//! cuts the same windows; the folds are the rolling-origin evaluation of
//! `--folds` (Hyndman & Athanasopoulos, *Forecasting: Principles and
//! Practice*, §5.10).

use std::ops::Range;

use anyhow::{Context, Result};
use tch::Tensor;

use crate::data::series::{self, Scaler, Series, SplitFractions, Windows};
use crate::split;

/// How a series becomes windows: `window` values in, the value `horizon`
/// steps after the last of them out; `split`: the chronological parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowSpec {
    /// Input values per window.
    pub window: usize,
    /// Steps from a window's last value to its target (1: the next value).
    pub horizon: usize,
    /// Training and validation fractions (the test part is the rest).
    pub split: SplitFractions,
}

/// The windows of one part of the series — those whose targets lie in the
/// part — as scaled tensors for the model and in the series' own units for
/// the metrics.
#[derive(Debug)]
pub struct WindowSet {
    /// Windows in the series' units.
    pub windows: Windows,
    /// Scaled inputs `[n, window, 1]`, float32, CPU.
    pub xs: Tensor,
    /// Scaled targets `[n, 1]`, float32, CPU.
    pub ys: Tensor,
    /// Index in the whole series of the first window's first value (before
    /// the part's start for a validation or test part: inputs reach back).
    pub start: usize,
}

impl WindowSet {
    /// One window per target `values[targets]`, in order; the inputs reach
    /// back `window + horizon − 1` values before `targets.start`, into the
    /// earlier parts when there are ([`series::target_span`]). Scaled with
    /// `scaler` (fitted on the training part only).
    pub(crate) fn for_targets(
        values: &[f64],
        targets: Range<usize>,
        scaler: &Scaler,
        window: usize,
        horizon: usize,
    ) -> Result<Self> {
        let span = series::target_span(targets, window, horizon)?;
        let start = span.start;
        let part = &values[span];
        let windows = series::windows(part, window, horizon)?;
        let (xs, ys) = series::windows(&scaler.transform(part), window, horizon)?.to_tensors();
        Ok(Self {
            windows,
            xs,
            ys,
            start,
        })
    }

    /// Index in the whole series of each window's target.
    pub fn target_positions(&self) -> Vec<usize> {
        let offset = self.start + self.windows.window + self.windows.horizon - 1;
        (0..self.windows.len()).map(|i| offset + i).collect()
    }
}

/// A series ready for training: split, scaled, windowed.
#[derive(Debug)]
pub struct PreparedSeries {
    /// The whole series in its own units.
    pub series: Series,
    /// Standardisation fitted on the training part (or the loaded model's).
    pub scaler: Scaler,
    /// Whether `scaler` came from the configuration (a loaded checkpoint).
    pub saved_scaler: bool,
    /// Windows whose targets lie in the training part (inputs too).
    pub train: WindowSet,
    /// Windows whose targets are the validation part's values, one each.
    pub val: WindowSet,
    /// Windows whose targets are the test part's values, one each.
    pub test: WindowSet,
}

/// Splits `series` as `spec` says, fits the scaler on the training part
/// (unless `saved_scaler`, a loaded model's) and cuts the windows of each
/// part. Split by target time: a window
/// belongs to the part that holds its target, so every value of the
/// validation and test parts is the target of one window, whose inputs may
/// reach back into the earlier parts (past observations); training windows
/// lie inside the training part, on which alone the scaler is fitted.
///
/// # Errors
/// A series too short for the split and the windows, or a constant training part.
pub(crate) fn prepare_series(
    series: Series,
    spec: WindowSpec,
    saved_scaler: Option<Scaler>,
) -> Result<PreparedSeries> {
    let parts = series::split(&series.values, spec.split, spec.window + spec.horizon)
        .with_context(|| format!("series {}", series.name))?;
    // A loaded model keeps the scaler it was trained with (config.json).
    let scaler = match saved_scaler {
        Some(saved) => saved,
        None => Scaler::fit(parts.train).with_context(|| format!("series {}", series.name))?,
    };
    let (w, h) = (spec.window, spec.horizon);
    let (values, reach) = (&series.values, w + h - 1);
    let (val_start, test_start) = (parts.val_start(), parts.test_start());
    let train = WindowSet::for_targets(values, reach..val_start, &scaler, w, h)?;
    let val = WindowSet::for_targets(values, val_start..test_start, &scaler, w, h)?;
    let test = WindowSet::for_targets(values, test_start..values.len(), &scaler, w, h)?;
    Ok(PreparedSeries {
        series,
        scaler,
        saved_scaler: saved_scaler.is_some(),
        train,
        val,
        test,
    })
}

/// The `k` folds of rolling-origin evaluation over `data`'s series: fold `i`
/// trains on the values before `n − (k − i)·b` (scaler refitted on them) and
/// is scored on the windows whose targets are the next `b` values, `b` being
/// the test part's length; each fold's `val` and `test` are that block.
///
/// # Errors
/// Too few values for `k` folds of this window (see [`split::rolling_origin`]).
pub fn rolling_origin_folds(
    data: &PreparedSeries,
    spec: WindowSpec,
    k: usize,
) -> Result<Vec<PreparedSeries>> {
    let values = &data.series.values;
    let block = series::split(values, spec.split, 1)?.test.len();
    let (w, h) = (spec.window, spec.horizon);
    let reach = w + h - 1;
    split::rolling_origin(values.len(), k, block, 2 * (reach + 1))?
        .into_iter()
        .map(|(train, held)| {
            let scaler = Scaler::fit(&values[train.clone()])?;
            let train_set = WindowSet::for_targets(values, reach..train.end, &scaler, w, h)?;
            let held_out = || WindowSet::for_targets(values, held.clone(), &scaler, w, h);
            Ok(PreparedSeries {
                series: data.series.clone(),
                saved_scaler: false,
                train: train_set,
                val: held_out()?,
                test: held_out()?,
                scaler,
            })
        })
        .collect()
}
