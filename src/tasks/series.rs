//! The tutorial's RNN (section 4.2) on a real time series: windows of the
//! series in, the value `horizon` steps later out; train, evaluate against
//! the persistence and training-mean baselines, forecast, plot, report.
//!
//! `parity/rnn_series.py` is the PyTorch twin of [`run`]: same data, windows,
//! split, scaling, initial weights and batch order.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

use super::{
    checkpointing, optimizer_and_trainer, parameter_count, prepare_weights, save_final, RunOptions,
    TuneConfig,
};
use crate::checkpoint;
use crate::data::series::{
    self, noisy_sine, tensor_values, MissingPolicy, Scaler, Series, SineConfig, SplitFractions,
    Windows,
};
use crate::metrics::RegressionScores;
use crate::models::{RecurrentNet, RnnConfig};
use crate::optim::OptimConfig;
use crate::plot::{self, Line, Panel};
use crate::train::{self, EpochRecord, LoopConfig, Loss, Progress};

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
    /// CSV file with a header line.
    pub csv: PathBuf,
    /// Column of the CSV holding the series.
    pub column: String,
    /// What to do with empty or non-numeric cells.
    pub missing: MissingPolicy,
    /// Use a generated series instead of the CSV.
    pub synthetic: Option<Synthetic>,
    /// Shape of the synthetic sine.
    pub sine: SineConfig,
    /// Values per input window.
    pub window: usize,
    /// How many steps after the window's last value the target lies.
    pub horizon: usize,
    /// Chronological train/validation fractions (the test part is the rest).
    pub split: SplitFractions,
    /// Steps of the recursive forecast from the end of the series (0: none).
    pub forecast: usize,
    /// Fine-tuning, learning-rate schedule, early stopping.
    pub tune: TuneConfig,
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
            csv: PathBuf::from("data/series/sunspots.csv"),
            column: "SUNACTIVITY".into(),
            missing: MissingPolicy::Error,
            synthetic: None,
            sine: SineConfig::default(),
            window: 20,
            horizon: 1,
            split: SplitFractions::default(),
            forecast: 0,
            tune: TuneConfig::default(),
        }
    }
}

impl SeriesConfig {
    /// Checks the values a user can set.
    pub fn validate(&self) -> Result<()> {
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

/// One part of the series cut into windows: scaled tensors for the model and
/// the windows in the series' own units for the metrics.
#[derive(Debug)]
pub struct WindowSet {
    /// Windows in the series' units.
    pub windows: Windows,
    /// Scaled inputs `[n, window, 1]`, float32, CPU.
    pub xs: Tensor,
    /// Scaled targets `[n, 1]`, float32, CPU.
    pub ys: Tensor,
    /// Index in the whole series of the first window's first value.
    pub start: usize,
}

impl WindowSet {
    fn new(
        part: &[f64],
        start: usize,
        scaler: &Scaler,
        window: usize,
        horizon: usize,
    ) -> Result<Self> {
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
    /// Standardisation fitted on the training part.
    pub scaler: Scaler,
    /// Windows of the training part.
    pub train: WindowSet,
    /// Windows of the validation part.
    pub val: WindowSet,
    /// Windows of the test part.
    pub test: WindowSet,
}

/// Loads or generates the series, splits it chronologically, fits the scaler
/// on the training part and cuts each part into windows of its own.
pub fn prepare(cfg: &SeriesConfig) -> Result<PreparedSeries> {
    let series = match cfg.synthetic {
        Some(Synthetic::Sine) => noisy_sine(&cfg.sine, cfg.train.seed),
        None => series::load_csv(&cfg.csv, &cfg.column, cfg.missing, &Default::default())?,
    };
    prepare_series(series, cfg)
}

/// [`prepare`] for a series already loaded.
pub fn prepare_series(series: Series, cfg: &SeriesConfig) -> Result<PreparedSeries> {
    let parts = series::split(&series.values, cfg.split, cfg.window + cfg.horizon)
        .with_context(|| format!("series {}", series.name))?;
    let scaler = Scaler::fit(parts.train).with_context(|| format!("series {}", series.name))?;
    let (w, h) = (cfg.window, cfg.horizon);
    let train = WindowSet::new(parts.train, 0, &scaler, w, h)?;
    let val = WindowSet::new(parts.val, parts.val_start(), &scaler, w, h)?;
    let test = WindowSet::new(parts.test, parts.test_start(), &scaler, w, h)?;
    Ok(PreparedSeries {
        series,
        scaler,
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
    /// Windows in the training, validation and test parts.
    pub windows: [usize; 3],
    /// The scaler fitted on the training part.
    pub scaler: Scaler,
}

/// The result of a run, as printed and written to `--metrics-json`.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesReport {
    /// The configuration that produced it.
    pub config: SeriesConfig,
    /// Device name.
    pub device: String,
    /// Trainable parameters.
    pub parameters: i64,
    /// What was loaded.
    pub data: DataSummary,
    /// Seconds spent loading and preparing the data.
    pub data_seconds: f64,
    /// One record per epoch (empty for `--eval-only`); metrics hold the
    /// validation loss (scaled MSE) and RMSE (series units).
    pub epochs: Vec<EpochRecord>,
    /// Mean training seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Mean training samples per second.
    pub samples_per_sec: f64,
    /// Test MSE on the scaled values (what the tutorial prints as "Test Loss").
    pub test_loss: f64,
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

/// Refuses a checkpoint whose `config.json` describes another model; notes a
/// different data set (the scaler is fitted on this run's training part).
fn check_checkpoint_config(path: &Path, cfg: &SeriesConfig, progress: Progress) -> Result<()> {
    if let Some(saved) = checkpoint::read_config::<SeriesConfig>(path)? {
        if saved.model != cfg.model {
            bail!(
                "{} was saved with model options {:?}, but this run uses {:?} \
                 (check --cell, --hidden, --layers)",
                checkpoint::config_path(path).display(),
                saved.model,
                cfg.model
            );
        }
        let data = |c: &SeriesConfig| {
            (
                c.csv.clone(),
                c.column.clone(),
                c.synthetic,
                c.window,
                c.horizon,
                c.split,
            )
        };
        if data(&saved) != data(cfg) {
            progress.line(format!(
                "note: {} was trained on other data or windows; the scaler is fitted on this \
                 run's training part",
                path.display()
            ));
        }
    }
    Ok(())
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

/// Trains (unless `eval_only`) and evaluates the recurrent model; writes the
/// plot to `plot` when given.
pub fn run(cfg: &SeriesConfig, opts: &RunOptions, plot: Option<&Path>) -> Result<SeriesReport> {
    let cfg = &opts.resolve_config(cfg)?;
    cfg.validate()?;
    let device = opts.device.resolve()?;
    let progress = Progress { quiet: opts.quiet };
    tch::manual_seed(cfg.train.seed as i64);

    let t0 = Instant::now();
    let data = prepare(cfg)?;
    let data_seconds = t0.elapsed().as_secs_f64();
    let (train_x, train_y) = (
        data.train.xs.to_device(device),
        data.train.ys.to_device(device),
    );

    let mut vs = nn::VarStore::new(device);
    let model = RecurrentNet::new(&vs.root(), &cfg.model);
    if let Some(path) = opts.resume.as_ref().or(opts.load.as_ref()) {
        check_checkpoint_config(path, cfg, progress)?;
    }
    let (ft, state) = prepare_weights(&mut vs, opts, &cfg.tune.finetune, &cfg.optim, progress)?;
    progress.line(format!(
        "rnn_series: {} ({} values{}), windows {} train / {} val / {} test, {} {} parameters, {} on {}",
        data.series.name,
        data.series.values.len(),
        if data.series.missing > 0 {
            format!(
                ", {} gaps: {} interpolated, {} dropped",
                data.series.missing,
                data.series.interpolated,
                data.series.missing - data.series.interpolated
            )
        } else {
            String::new()
        },
        data.train.windows.len(),
        data.val.windows.len(),
        data.test.windows.len(),
        cfg.model.cell.name(),
        parameter_count(&vs),
        if opts.eval_only { "evaluating" } else { "training" },
        crate::device::name(device)
    ));

    let eval_bs = cfg.train.batch_size.max(256);
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
            Some(checkpointing(&vs, opts, "rnn_series", cfg)?),
        )?;
        epochs = trainer.fit(&model, &mut opt, &train_x, &train_y, state, |_, _| {
            let (loss, pred) = predict(&model, &data.val, &data.scaler, eval_bs, device);
            let rmse = RegressionScores::new(&data.val.windows.targets, &pred).rmse;
            Ok(vec![("val loss".into(), loss), ("val rmse".into(), rmse)])
        })?;
    }

    let (test_loss, predictions) = predict(&model, &data.test, &data.scaler, eval_bs, device);
    let truth = data.test.windows.targets.clone();
    let test = RegressionScores::new(&truth, &predictions);
    let persistence = RegressionScores::new(&truth, &data.test.windows.last_inputs());
    let train_mean = RegressionScores::new(&truth, &vec![data.scaler.mean; truth.len()]);
    let forecast = forecast(
        &model,
        &data.series.values,
        cfg.window,
        &data.scaler,
        cfg.forecast,
        device,
    );

    save_final(&vs, opts, cfg, &epochs, progress)?;
    let n = epochs.len().max(1) as f64;
    let report = SeriesReport {
        config: cfg.clone(),
        device: crate::device::name(device),
        parameters: parameter_count(&vs),
        data: DataSummary {
            series: data.series.name.clone(),
            points: data.series.values.len(),
            missing: data.series.missing,
            interpolated: data.series.interpolated,
            windows: [
                data.train.windows.len(),
                data.val.windows.len(),
                data.test.windows.len(),
            ],
            scaler: data.scaler,
        },
        data_seconds,
        seconds_per_epoch: epochs.iter().map(|e| e.train_seconds).sum::<f64>() / n,
        samples_per_sec: epochs.iter().map(|e| e.samples_per_sec).sum::<f64>() / n,
        epochs,
        test_loss,
        verdict: verdict(&test, &persistence, &train_mean),
        beats_persistence: test.rmse < persistence.rmse,
        beats_train_mean: test.rmse < train_mean.rmse,
        test,
        persistence,
        train_mean,
        test_positions: data.test.target_positions(),
        test_truth: truth,
        test_predictions: predictions,
        forecast,
    };
    if let Some(path) = plot {
        write_plot(path, &report, &data)?;
        progress.line(format!("plot written to {}", path.display()));
    }
    if let Some(path) = &opts.metrics_json {
        checkpoint::write_json(path, &report)?;
    }
    Ok(report)
}

/// The picture of `--plot`: the series' test part with the model's
/// predictions (and the forecast), then training and validation loss per epoch.
fn write_plot(path: &Path, r: &SeriesReport, data: &PreparedSeries) -> Result<()> {
    let values = &data.series.values;
    let test_start = data.test.start;
    let mut lines = vec![
        Line {
            label: "truth".into(),
            points: (test_start..values.len())
                .map(|i| (i as f64, values[i]))
                .collect(),
        },
        Line {
            label: format!(
                "{} prediction (RMSE {:.3})",
                r.config.model.cell.name(),
                r.test.rmse
            ),
            points: r
                .test_positions
                .iter()
                .zip(&r.test_predictions)
                .map(|(&i, &p)| (i as f64, p))
                .collect(),
        },
        Line {
            label: format!("persistence (RMSE {:.3})", r.persistence.rmse),
            points: r
                .test_positions
                .iter()
                .zip(data.test.windows.last_inputs())
                .map(|(&i, p)| (i as f64, p))
                .collect(),
        },
    ];
    if !r.forecast.is_empty() {
        let end = values.len() - 1;
        let mut points = vec![(end as f64, values[end])];
        points.extend(
            r.forecast
                .iter()
                .enumerate()
                .map(|(k, &v)| ((end + 1 + k) as f64, v)),
        );
        lines.push(Line {
            label: format!("forecast ({} steps)", r.forecast.len()),
            points,
        });
    }
    let mut panels = vec![Panel {
        title: format!("{}: test part", r.data.series),
        x_label: "time step".into(),
        y_label: "value".into(),
        lines,
        log_y: false,
    }];
    if !r.epochs.is_empty() {
        let metric = |name: &str| -> Vec<(f64, f64)> {
            r.epochs
                .iter()
                .filter_map(|e| {
                    e.metrics
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| (e.epoch as f64, *v))
                })
                .collect()
        };
        panels.push(Panel {
            title: "loss per epoch (MSE on scaled values)".into(),
            x_label: "epoch".into(),
            y_label: "MSE".into(),
            lines: vec![
                Line {
                    label: "training".into(),
                    points: r
                        .epochs
                        .iter()
                        .map(|e| (e.epoch as f64, e.train_loss))
                        .collect(),
                },
                Line {
                    label: "validation".into(),
                    points: metric("val loss"),
                },
            ],
            log_y: true,
        });
    }
    plot::write_svg(path, &panels)
}

/// The end-of-run summary: the model against both baselines, speed, forecast.
pub fn print_report(r: &SeriesReport) {
    println!("\n== rnn_series report ({}) ==", r.device);
    println!(
        "series            {} ({} values; windows {} train / {} val / {} test)",
        r.data.series, r.data.points, r.data.windows[0], r.data.windows[1], r.data.windows[2]
    );
    println!(
        "model             {} cell, hidden {}, {} layer(s), {} parameters; window {}, horizon {}",
        r.config.model.cell.name(),
        r.config.model.hidden,
        r.config.model.layers,
        r.parameters,
        r.config.window,
        r.config.horizon
    );
    println!("\ntest part, in the series' units:");
    println!("  {:<22} {:>12} {:>12} {:>12}", "", "MSE", "RMSE", "MAE");
    for (name, s) in [
        (format!("{} model", r.config.model.cell.name()), &r.test),
        ("persistence (last)".to_string(), &r.persistence),
        ("training mean".to_string(), &r.train_mean),
    ] {
        println!(
            "  {name:<22} {:>12.4} {:>12.4} {:>12.4}",
            s.mse, s.rmse, s.mae
        );
    }
    println!("\n{}", r.verdict);
    println!(
        "test loss (scaled MSE, the tutorial's \"Test Loss\")  {:.6}",
        r.test_loss
    );
    if !r.epochs.is_empty() {
        println!(
            "seconds / epoch   {:.4}   ({:.0} samples/s)",
            r.seconds_per_epoch, r.samples_per_sec
        );
    }
    if !r.forecast.is_empty() {
        let shown: Vec<String> = r.forecast.iter().map(|v| format!("{v:.3}")).collect();
        println!(
            "forecast, next {} values: {}",
            r.forecast.len(),
            shown.join(", ")
        );
    }
}
