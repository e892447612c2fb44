//! rnn_series on the shared run path: data, model, scoring, baselines.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;
use tch::nn;
use tch::{Device, Tensor};

use super::forecast::forecast_times;
use super::*;
use crate::data::series::{noisy_sine, tensor_values, Scaler, Series};
use crate::data::windows::{prepare_series, PreparedSeries, WindowSet};
use crate::metrics::RegressionScores;
use crate::models::RecurrentNet;
use crate::session::{CrossValidation, RunReport, Task, Trained};
use crate::torchscript::TraceInput;
use crate::train::{self, Batch, EpochRecord, Loss, Sampler, ShuffledPairs};

/// Loads or generates the series, splits it chronologically, fits the scaler
/// on the training part and cuts the windows of each part.
pub fn prepare(cfg: &Config) -> Result<PreparedSeries> {
    prepare_series(load_series(cfg)?, cfg.window_spec(), cfg.scaler)
}

/// The series of `cfg`: the synthetic sine, or the file of `--csv`/`--data`.
pub(super) fn load_series(cfg: &Config) -> Result<Series> {
    match cfg.synthetic {
        Some(Synthetic::Sine) => Ok(noisy_sine(&cfg.sine, cfg.run.train.seed)),
        None => cfg.source.load(),
    }
}

/// Sizes of the data a run used.
#[derive(Debug, Clone, Serialize)]
pub struct DataSummary {
    /// `file:column` or the synthetic series' description.
    pub series: String,
    /// Values in the series (after dropping or interpolating gaps).
    pub points: usize,
    /// Cells that were missing or not numbers.
    pub missing: usize,
    /// Of those, how many were interpolated (the rest were dropped).
    pub interpolated: usize,
    /// How the file was read (delimiter, dropped rows); empty for `--synthetic`.
    pub reading: String,
    /// The time axis (column, frequency, first and last time, order and
    /// gap notices); empty without a time column.
    pub time: String,
    /// Windows in the training, validation and test parts.
    pub windows: [usize; 3],
    /// The scaler fitted on the training part.
    pub scaler: Scaler,
}

/// What rnn_series reports beyond the shared summary (`test_loss` there is
/// the MSE on the scaled values, the tutorial's "Test Loss").
#[derive(Debug, Clone, Serialize)]
pub struct SeriesResults {
    /// What was loaded.
    pub data: DataSummary,
    /// The model on the test windows, in the series' units.
    pub test: RegressionScores,
    /// Baseline: the last value of each window.
    pub persistence: RegressionScores,
    /// Baseline: the mean of the training part.
    pub train_mean: RegressionScores,
    /// Test RMSE below the persistence RMSE.
    pub beats_persistence: bool,
    /// Test RMSE below the training-mean RMSE.
    pub beats_train_mean: bool,
    /// One sentence on the comparison with the baselines.
    pub verdict: String,
    /// Positions in the series of the test targets.
    pub test_positions: Vec<usize>,
    /// Test targets, in the series' units.
    pub test_truth: Vec<f64>,
    /// Model predictions of the test targets, in the series' units.
    pub test_predictions: Vec<f64>,
    /// Recursive forecast of the `forecast` values after the series' end.
    pub forecast: Vec<f64>,
    /// Their times, when the series' frequency is known.
    pub forecast_times: Option<Vec<String>>,
}

/// Predictions of the model for a window set, in the series' units.
pub fn predict(
    model: &impl nn::ModuleT,
    set: &WindowSet,
    scaler: &Scaler,
    batch_size: usize,
    device: Device,
) -> (f64, Vec<f64>) {
    let eval = train::evaluate(model, &set.xs, &set.ys, batch_size, device, Loss::Mse);
    (eval.loss, scaler.inverse(&tensor_values(&eval.outputs)))
}

fn verdict(
    test: &RegressionScores,
    persistence: &RegressionScores,
    mean: &RegressionScores,
) -> String {
    let mut text = if test.rmse < persistence.rmse {
        format!(
            "the model beats persistence: test RMSE {:.4} vs {:.4} ({:.1}% lower)",
            test.rmse,
            persistence.rmse,
            100.0 * (1.0 - test.rmse / persistence.rmse)
        )
    } else {
        format!(
            "the model does NOT beat persistence: test RMSE {:.4} vs {:.4} for simply repeating \
             the last observed value",
            test.rmse, persistence.rmse
        )
    };
    if test.rmse >= mean.rmse {
        text.push_str(&format!(
            "; it does not even beat the training mean (RMSE {:.4})",
            mean.rmse
        ));
    }
    text
}

/// The rnn_series example on the shared run path; `plot` is `--plot`.
#[derive(Debug, Clone, Default)]
pub struct RnnSeries {
    /// Where to write the SVG of the test part and the loss curves.
    pub plot: Option<PathBuf>,
}

impl Task for RnnSeries {
    const NAME: &'static str = "rnn_series";
    type Config = Config;
    type Data = PreparedSeries;
    type Model = RecurrentNet;
    type Results = SeriesResults;

    fn load_data(&self, cfg: &Config, device: Device, _training: bool) -> Result<PreparedSeries> {
        let mut data = prepare(cfg)?;
        data.train.xs = data.train.xs.to_device(device);
        data.train.ys = data.train.ys.to_device(device);
        Ok(data)
    }

    fn data_notes(&self, data: &PreparedSeries) -> Vec<String> {
        Vec::from_iter(data.saved_scaler.then(|| {
            format!(
                "scaling with the checkpoint's saved scaler (mean {:.6}, std {:.6}), not refitted",
                data.scaler.mean, data.scaler.std
            )
        }))
    }

    fn fitted_settings(&self, cfg: &mut Config, data: &PreparedSeries) {
        cfg.scaler = Some(data.scaler);
        cfg.time_axis = data.series.time.clone();
    }

    fn describe(&self, cfg: &Config, data: &PreparedSeries) -> String {
        let s = &data.series;
        format!(
            "{} ({} values{}{}), windows {} train / {} val / {} test, {}",
            s.name,
            s.values.len(),
            match s.full_note() {
                note if note.is_empty() => note,
                note => format!("; {note}"),
            },
            if s.missing > 0 {
                format!(
                    ", {} gaps: {} interpolated, {} dropped",
                    s.missing,
                    s.interpolated,
                    s.missing - s.interpolated
                )
            } else {
                String::new()
            },
            data.train.windows.len(),
            data.val.windows.len(),
            data.test.windows.len(),
            cfg.model.cell.name(),
        )
    }

    fn build_model(&self, p: &nn::Path, cfg: &Config) -> RecurrentNet {
        RecurrentNet::new(p, &cfg.model)
    }

    fn batches<'d>(
        &self,
        cfg: &'d Config,
        data: &'d PreparedSeries,
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
        let m = &cfg.model;
        Some(TraceInput {
            example: crate::torchscript::probe(&[1, cfg.window as i64, m.input_size], device),
            input: format!(
                "[batch, {}, {}] windows of the last {} values, standardised: (x - settings.scaler.mean) \
                 / settings.scaler.std",
                cfg.window, m.input_size, cfg.window
            ),
            output: format!(
                "[batch, {}] the next value(s), standardised: x * std + mean gives the series' units",
                m.output_size
            ),
            settings: serde_json::json!({
                "scaler": cfg.scaler,
                "window": cfg.window,
                "horizon": cfg.horizon,
                "cell": m.cell.name(),
            }),
            prepare: None,
        })
    }

    fn early_metric(&self) -> &'static str {
        "val rmse"
    }

    fn after_epoch(&self, t: &Trained<'_, Self>) -> Result<Vec<(String, f64)>> {
        let d = t.data;
        let (loss, pred) = predict(t.model, &d.val, &d.scaler, eval_batch(t.cfg), t.device);
        let rmse = RegressionScores::new(&d.val.windows.targets, &pred).rmse;
        Ok(vec![("val loss".into(), loss), ("val rmse".into(), rmse)])
    }

    fn evaluate(&self, t: &Trained<'_, Self>) -> Result<(f64, SeriesResults)> {
        let (cfg, data) = (t.cfg, t.data);
        let (test_loss, predictions) =
            predict(t.model, &data.test, &data.scaler, eval_batch(cfg), t.device);
        let truth = data.test.windows.targets.clone();
        let test = RegressionScores::new(&truth, &predictions);
        let persistence = RegressionScores::new(&truth, &data.test.windows.last_inputs());
        let train_mean = RegressionScores::new(&truth, &vec![data.scaler.mean; truth.len()]);
        let forecast = forecast(
            t.model,
            &data.series.values,
            cfg.window,
            &data.scaler,
            cfg.forecast,
            t.device,
        );
        let results = SeriesResults {
            data: DataSummary::new(data),
            verdict: verdict(&test, &persistence, &train_mean),
            beats_persistence: test.rmse < persistence.rmse,
            beats_train_mean: test.rmse < train_mean.rmse,
            test,
            persistence,
            train_mean,
            test_positions: data.test.target_positions(),
            test_truth: truth,
            test_predictions: predictions,
            forecast_times: forecast_times(&data.series, cfg.forecast),
            forecast,
        };
        if let Some(path) = &self.plot {
            crate::plot::forecast::write(path, &results.figure(cfg, data, t.history))?;
            t.progress
                .line(format!("plot written to {}", path.display()));
        }
        Ok((test_loss, results))
    }

    fn print(&self, r: &SeriesReport) {
        print_report(r);
    }
}

impl CrossValidation<RnnSeries> for RnnSeries {
    /// Rolling origin ([`crate::data::windows::rolling_origin_folds`]).
    fn folds(&self, cfg: &Config, data: &PreparedSeries, k: usize) -> Result<Vec<PreparedSeries>> {
        crate::data::windows::rolling_origin_folds(data, cfg.window_spec(), k)
    }

    fn fold_score(&self, t: &Trained<'_, Self>) -> Result<(usize, f64)> {
        let d = t.data;
        let (_, pred) = predict(t.model, &d.test, &d.scaler, eval_batch(t.cfg), t.device);
        Ok((
            pred.len(),
            RegressionScores::new(&d.test.windows.targets, &pred).rmse,
        ))
    }

    fn fold_metric(&self) -> &'static str {
        "held-out RMSE"
    }
}

/// Evaluation batches: at least 256 windows.
fn eval_batch(cfg: &Config) -> usize {
    cfg.run.train.batch_size.max(256)
}

impl DataSummary {
    fn new(data: &PreparedSeries) -> Self {
        Self {
            series: data.series.name.clone(),
            points: data.series.values.len(),
            missing: data.series.missing,
            interpolated: data.series.interpolated,
            reading: data.series.reading_note(),
            time: data.series.time_note(),
            windows: [
                data.train.windows.len(),
                data.val.windows.len(),
                data.test.windows.len(),
            ],
            scaler: data.scaler,
        }
    }
}

impl SeriesResults {
    /// The data of the `--plot` figure.
    fn figure<'a>(
        &'a self,
        cfg: &'a Config,
        data: &'a PreparedSeries,
        history: &'a [EpochRecord],
    ) -> crate::plot::forecast::ForecastFigure<'a> {
        crate::plot::forecast::ForecastFigure {
            title: &self.data.series,
            model: cfg.model.cell.name(),
            values: &data.series.values,
            // The test part's start, which is its first target.
            test_start: self.test_positions.first().map_or(data.test.start, |&p| p),
            test_positions: &self.test_positions,
            predictions: &self.test_predictions,
            persistence: data.test.windows.last_inputs(),
            rmse: self.test.rmse,
            persistence_rmse: self.persistence.rmse,
            forecast: &self.forecast,
            history,
        }
    }
}

/// The report of an rnn_series run.
pub type SeriesReport = RunReport<Config, SeriesResults>;
