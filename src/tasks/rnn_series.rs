//! The tutorial's RNN (section 4.2) on a real time series: windows of the
//! series in, the value `horizon` steps later out; train, evaluate against
//! the persistence and training-mean baselines, forecast, plot, report.
//!
//! `parity/rnn_series.py` is the PyTorch twin of [`RnnSeries`]: same data, windows,
//! split, scaling, initial weights and batch order.

use std::ops::Range;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

use crate::data::series::{
    self, noisy_sine, tensor_values, Scaler, Series, SineConfig, TimeAxis, Windows,
};
use crate::data::source::SeriesSource;
use crate::metrics::RegressionScores;
use crate::models::{RecurrentNet, RnnConfig};
use crate::optim::OptimConfig;
use crate::session::{RunReport, Task, TaskConfig, Trained, TuneConfig};
use crate::split;
use crate::train::{self, EpochRecord, LoopConfig, Loss};

/// A generated series in place of the CSV (`--synthetic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synthetic {
    /// `sin(2π t / period) + noise · N(0, 1)`, seeded by `--seed`.
    Sine,
}

/// Everything that determines an rnn_series run; written as `config.json`
/// beside a saved checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeriesConfig {
    /// The model's shape options (cell, hidden, layers).
    pub model: RnnConfig,
    /// Optimizer settings.
    pub optim: OptimConfig,
    /// Epochs, batch size, seed.
    pub train: LoopConfig,
    /// The CSV series and its split (`--csv`, `--column`, `--missing`,
    /// `--train-frac`, `--val-frac`); flattened, so `config.json` keeps its keys.
    #[serde(flatten)]
    pub source: SeriesSource,
    /// Use a generated series instead of the CSV.
    pub synthetic: Option<Synthetic>,
    /// Shape of the synthetic sine.
    pub sine: SineConfig,
    /// Values per input window.
    pub window: usize,
    /// How many steps after the window's last value the target lies.
    pub horizon: usize,
    /// Steps of the recursive forecast from the end of the series (0: none).
    pub forecast: usize,
    /// Fine-tuning, learning-rate schedule, early stopping.
    pub tune: TuneConfig,
    /// The standardisation the model was trained with: fitted on the
    /// training part and saved in `config.json`, so that a loaded model
    /// (`--load`) scales any series as it was trained. `None` before training.
    pub scaler: Option<Scaler>,
    /// The time axis of the series trained on (which column, its layout and
    /// frequency), recorded in `config.json`; `None` without a time column.
    pub time_axis: Option<TimeAxis>,
}

impl Default for SeriesConfig {
    /// The tutorial's values — `nn.RNN(1, 10)`, MSE, SGD lr 0.01, 100 epochs —
    /// on the bundled yearly sunspot numbers, windows of 20, one step ahead,
    /// batch 16 (the tutorial never defines its data or loader).
    fn default() -> Self {
        Self {
            model: RnnConfig::default(),
            optim: OptimConfig {
                lr: 0.01,
                ..OptimConfig::default()
            },
            train: LoopConfig {
                epochs: 100,
                batch_size: 16,
                ..LoopConfig::default()
            },
            source: SeriesSource::default(),
            synthetic: None,
            sine: SineConfig::default(),
            window: 20,
            horizon: 1,
            forecast: 0,
            tune: TuneConfig::default(),
            scaler: None,
            time_axis: None,
        }
    }
}

impl TaskConfig for SeriesConfig {
    fn optim(&self) -> &OptimConfig {
        &self.optim
    }

    fn train(&self) -> &LoopConfig {
        &self.train
    }

    fn tune(&self) -> &TuneConfig {
        &self.tune
    }

    fn model_flags(&self) -> &'static [&'static str] {
        &["--cell", "--hidden", "--layers"]
    }

    fn adopt_model(&mut self, saved: &Self) {
        self.model = saved.model.clone();
    }

    fn model_mismatch(&self, saved: &Self) -> Option<String> {
        (saved.model != self.model).then(|| {
            format!(
                "{:?}, but this run uses {:?} (check --cell, --hidden, --layers)",
                saved.model, self.model
            )
        })
    }

    fn input_differences(&self, saved: &Self) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        if saved.window != self.window {
            out.push((
                "--window",
                self.window.to_string(),
                saved.window.to_string(),
            ));
        }
        if saved.horizon != self.horizon {
            out.push((
                "--horizon",
                self.horizon.to_string(),
                saved.horizon.to_string(),
            ));
        }
        out
    }

    fn adopt_inputs(&mut self, saved: &Self) {
        self.window = saved.window;
        self.horizon = saved.horizon;
        self.scaler = saved.scaler;
    }

    fn data_note(&self, saved: &Self) -> Option<String> {
        let data = |c: &SeriesConfig| (c.source.clone(), c.synthetic, c.window, c.horizon);
        (data(saved) != data(self)).then(|| {
            "was trained on other data or windows (its saved scaler, when it has one, is used)"
                .to_string()
        })
    }

    /// Checks the values a user can set.
    fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.optim.validate()?;
        self.train.validate()?;
        self.tune.validate()?;
        if self.window == 0 {
            bail!("--window must be at least 1");
        }
        if self.horizon == 0 {
            bail!("--horizon must be at least 1");
        }
        if self.forecast > 0 && self.horizon != 1 {
            bail!(
                "--forecast needs --horizon 1: the recursive forecast feeds each prediction \
                 back as the next input (got --horizon {})",
                self.horizon
            );
        }
        if self.model.input_size != 1 || self.model.output_size != 1 {
            bail!("rnn_series models one value per step (input and output size 1)");
        }
        Ok(())
    }
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
    fn for_targets(
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

/// Loads or generates the series, splits it chronologically, fits the scaler
/// on the training part and cuts the windows of each part.
pub fn prepare(cfg: &SeriesConfig) -> Result<PreparedSeries> {
    prepare_series(load_series(cfg)?, cfg)
}

/// The series of `cfg`: the synthetic sine, or the file of `--csv`/`--data`.
fn load_series(cfg: &SeriesConfig) -> Result<Series> {
    match cfg.synthetic {
        Some(Synthetic::Sine) => Ok(noisy_sine(&cfg.sine, cfg.train.seed)),
        None => cfg.source.load(),
    }
}

/// [`prepare`] for a series already loaded. Split by target time: a window
/// belongs to the part that holds its target, so every value of the
/// validation and test parts is the target of one window, whose inputs may
/// reach back into the earlier parts (past observations); training windows
/// lie inside the training part, on which alone the scaler is fitted.
pub fn prepare_series(series: Series, cfg: &SeriesConfig) -> Result<PreparedSeries> {
    let parts = series::split(&series.values, cfg.source.split, cfg.window + cfg.horizon)
        .with_context(|| format!("series {}", series.name))?;
    // A loaded model keeps the scaler it was trained with (config.json).
    let scaler = match cfg.scaler {
        Some(saved) => saved,
        None => Scaler::fit(parts.train).with_context(|| format!("series {}", series.name))?,
    };
    let (w, h) = (cfg.window, cfg.horizon);
    let (values, reach) = (&series.values, w + h - 1);
    let (val_start, test_start) = (parts.val_start(), parts.test_start());
    let train = WindowSet::for_targets(values, reach..val_start, &scaler, w, h)?;
    let val = WindowSet::for_targets(values, val_start..test_start, &scaler, w, h)?;
    let test = WindowSet::for_targets(values, test_start..values.len(), &scaler, w, h)?;
    Ok(PreparedSeries {
        series,
        scaler,
        saved_scaler: cfg.scaler.is_some(),
        train,
        val,
        test,
    })
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
    model: &RecurrentNet,
    set: &WindowSet,
    scaler: &Scaler,
    batch_size: usize,
    device: Device,
) -> (f64, Vec<f64>) {
    let eval = train::evaluate(model, &set.xs, &set.ys, batch_size, device, Loss::Mse);
    (eval.loss, scaler.inverse(&tensor_values(&eval.outputs)))
}

/// Recursive forecast: from the last `window` values of `values`, predicts
/// the next value, appends it to the window, drops the oldest, `steps` times.
pub fn forecast(
    model: &RecurrentNet,
    values: &[f64],
    window: usize,
    scaler: &Scaler,
    steps: usize,
    device: Device,
) -> Vec<f64> {
    let _guard = tch::no_grad_guard();
    let mut recent = scaler.transform(&values[values.len().saturating_sub(window)..]);
    let mut out = Vec::with_capacity(steps);
    for _ in 0..steps {
        let input: Vec<f32> = recent.iter().map(|&v| v as f32).collect();
        let xs = Tensor::from_slice(&input)
            .view([1, recent.len() as i64, 1])
            .to_device(device);
        let next = model.forward_t(&xs, false).double_value(&[0, 0]);
        recent.remove(0);
        recent.push(next);
        out.push(next);
    }
    scaler.inverse(&out)
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
    type Config = SeriesConfig;
    type Data = PreparedSeries;
    type Model = RecurrentNet;
    type Results = SeriesResults;

    fn load_data(
        &self,
        cfg: &SeriesConfig,
        device: Device,
        _training: bool,
    ) -> Result<PreparedSeries> {
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

    fn fitted_settings(&self, cfg: &mut SeriesConfig, data: &PreparedSeries) {
        cfg.scaler = Some(data.scaler);
        cfg.time_axis = data.series.time.clone();
    }

    fn describe(&self, cfg: &SeriesConfig, data: &PreparedSeries) -> String {
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

    fn build_model(&self, p: &nn::Path, cfg: &SeriesConfig) -> RecurrentNet {
        RecurrentNet::new(p, &cfg.model)
    }

    fn training_set<'d>(&self, data: &'d PreparedSeries) -> (&'d Tensor, &'d Tensor) {
        (&data.train.xs, &data.train.ys)
    }

    fn loss(&self) -> Loss {
        Loss::Mse
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

    /// Rolling origin: fold `i` of `k` trains on the values before
    /// `n − (k − i)·b` (scaler refitted on them) and is scored on the windows
    /// whose targets are the next `b` values, `b` being the test part's length.
    fn folds(
        &self,
        cfg: &SeriesConfig,
        data: &PreparedSeries,
        k: usize,
    ) -> Result<Vec<PreparedSeries>> {
        let values = &data.series.values;
        let block = series::split(values, cfg.source.split, 1)?.test.len();
        let reach = cfg.window + cfg.horizon - 1;
        split::rolling_origin(values.len(), k, block, 2 * (reach + 1))?
            .into_iter()
            .map(|(train, held)| {
                let scaler = Scaler::fit(&values[train.clone()])?;
                let (w, h) = (cfg.window, cfg.horizon);
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
fn eval_batch(cfg: &SeriesConfig) -> usize {
    cfg.train.batch_size.max(256)
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
        cfg: &'a SeriesConfig,
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
/// Trains (unless `--eval-only`) and evaluates the recurrent model on the
/// shared run path; writes the `--plot` figure to `plot` when given.
pub fn run(
    cfg: &SeriesConfig,
    opts: &crate::session::RunOptions,
    plot: Option<&std::path::Path>,
) -> Result<SeriesReport> {
    let task = RnnSeries {
        plot: plot.map(PathBuf::from),
    };
    crate::session::run(&task, cfg, opts)
}

/// What `--load ... --forecast N` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ForecastReport {
    /// The model's configuration (from the checkpoint's `config.json`).
    pub config: SeriesConfig,
    /// The series forecast (`file:column`).
    pub series: String,
    /// Its values (after the missing-value policy).
    pub points: usize,
    /// The scaler used (the one saved with the checkpoint).
    pub scaler: Scaler,
    /// The last observed value.
    pub last_value: f64,
    /// `forecast[k]` is step `k + 1` after the series' end, in its units.
    pub forecast: Vec<f64>,
    /// The time of each step, when the series' frequency is known.
    pub times: Option<Vec<String>>,
    /// The series' time axis (`None` without a time column).
    pub time_axis: Option<TimeAxis>,
}

/// The times of `steps` values after the end of `series`, when its frequency is known.
fn forecast_times(series: &Series, steps: usize) -> Option<Vec<String>> {
    let times = series.time.as_ref()?.following(steps)?;
    (steps > 0).then_some(times)
}

/// Forecasts `cfg.forecast` values after the end of `cfg`'s series with the
/// model of `--load` and the scaler saved with it: no training, no split, no
/// baselines; the series needs only one window of values. Writes
/// `forecast_csv` (`step,value`) and `--metrics-json` when given.
///
/// # Errors
/// No `--load`; a checkpoint without a saved scaler (`config.json` of an
/// older run, or a PyTorch checkpoint); a series shorter than one window;
/// `--horizon` other than 1.
pub fn forecast_only(
    cfg: &SeriesConfig,
    opts: &crate::session::RunOptions,
    forecast_csv: Option<&std::path::Path>,
) -> Result<ForecastReport> {
    let loaded = crate::session::load_for_use(&RnnSeries::default(), cfg, opts, "--forecast")?;
    let cfg = loaded.cfg;
    let Some(scaler) = cfg.scaler else {
        bail!(
            "--forecast with --load needs the scaler saved with the checkpoint: {} has none \
             (retrain and save with this version, or evaluate with --eval-only, which refits it)",
            crate::checkpoint::config_path(opts.load.as_deref().unwrap_or("?".as_ref())).display()
        );
    };
    let series = load_series(&cfg)?;
    if series.values.len() < cfg.window {
        bail!(
            "{}: {} values, but a forecast starts from one window of {} values",
            series.name,
            series.values.len(),
            cfg.window
        );
    }
    let steps = cfg.forecast;
    let values = forecast(
        &loaded.model,
        &series.values,
        cfg.window,
        &scaler,
        steps,
        loaded.device,
    );
    let report = ForecastReport {
        series: series.name.clone(),
        points: series.values.len(),
        scaler,
        last_value: series.values[series.values.len() - 1],
        forecast: values,
        times: forecast_times(&series, steps),
        time_axis: series.time.clone(),
        config: cfg,
    };
    if let Some(path) = forecast_csv {
        let mut text = String::from(match report.times {
            Some(_) => "step,time,value\n",
            None => "step,value\n",
        });
        for (k, v) in report.forecast.iter().enumerate() {
            match &report.times {
                Some(t) => text.push_str(&format!("{},{},{v}\n", k + 1, t[k])),
                None => text.push_str(&format!("{},{v}\n", k + 1)),
            }
        }
        crate::checkpoint::write_text(path, &text)?;
    }
    if let Some(path) = &opts.metrics_json {
        crate::checkpoint::write_json(path, &report)?;
    }
    Ok(report)
}

impl std::fmt::Display for ForecastReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "forecast of {} ({} values, last {:.4}) with the checkpoint's scaler (mean {:.4}, std {:.4}):",
            self.series, self.points, self.last_value, self.scaler.mean, self.scaler.std
        )?;
        if let Some(t) = &self.time_axis {
            writeln!(f, "{}", t.describe())?;
        }
        match &self.times {
            Some(times) => {
                writeln!(f, "step  time  value")?;
                for (k, v) in self.forecast.iter().enumerate() {
                    writeln!(f, "{:>4}  {}  {v:.4}", k + 1, times[k])?;
                }
            }
            None => {
                writeln!(f, "step  value")?;
                for (k, v) in self.forecast.iter().enumerate() {
                    writeln!(f, "{:>4}  {v:.4}", k + 1)?;
                }
            }
        }
        Ok(())
    }
}

/// The report of an rnn_series run.
pub type SeriesReport = RunReport<SeriesConfig, SeriesResults>;

/// The end-of-run summary: the model against both baselines, speed, forecast.
pub fn print_report(r: &SeriesReport) {
    let (s, t, c) = (&r.summary, &r.results, &r.config);
    println!("\n== rnn_series report ({}) ==", s.device);
    println!(
        "series            {} ({} values; windows {} train / {} val / {} test)",
        t.data.series, t.data.points, t.data.windows[0], t.data.windows[1], t.data.windows[2]
    );
    if !t.data.reading.is_empty() {
        println!("read              {}", t.data.reading);
    }
    if !t.data.time.is_empty() {
        println!("time axis         {}", t.data.time);
    }
    println!(
        "model             {} cell, hidden {}, {} layer(s), {} parameters; window {}, horizon {}",
        c.model.cell.name(),
        c.model.hidden,
        c.model.layers,
        s.parameters,
        c.window,
        c.horizon
    );
    println!("\ntest part, in the series' units:");
    println!("  {:<22} {:>12} {:>12} {:>12}", "", "MSE", "RMSE", "MAE");
    for (name, sc) in [
        (format!("{} model", c.model.cell.name()), &t.test),
        ("persistence (last)".to_string(), &t.persistence),
        ("training mean".to_string(), &t.train_mean),
    ] {
        println!(
            "  {name:<22} {:>12.4} {:>12.4} {:>12.4}",
            sc.mse, sc.rmse, sc.mae
        );
    }
    println!("\n{}", t.verdict);
    println!(
        "test loss (scaled MSE, the tutorial's \"Test Loss\")  {:.6}",
        s.test_loss
    );
    if let Some(line) = s.speed_line("samples") {
        println!("{line}");
    }
    if !t.forecast.is_empty() {
        let shown: Vec<String> = t.forecast.iter().map(|v| format!("{v:.3}")).collect();
        println!(
            "forecast, next {} values: {}",
            t.forecast.len(),
            shown.join(", ")
        );
        if let Some(times) = &t.forecast_times {
            println!("forecast times: {}", times.join(", "));
        }
    }
}
