//! Recursive forecasts past the series' end, and the forecast-only use (`--forecast`).

use anyhow::{bail, Result};
use serde::Serialize;
use tch::nn::ModuleT;
use tch::{Device, Tensor};

use super::task::load_series;
use super::*;
use crate::data::series::{Scaler, Series, TimeAxis};

/// Recursive forecast: from the last `window` values of `values`, predicts
/// the next value, appends it to the window, drops the oldest, `steps` times.
pub fn forecast(
    model: &impl ModuleT,
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

/// What `--load ... --forecast N` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ForecastReport {
    /// The model's configuration (from the checkpoint's `config.json`).
    pub config: Config,
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
pub(super) fn forecast_times(series: &Series, steps: usize) -> Option<Vec<String>> {
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
    cfg: &Config,
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
        crate::io::write_text(path, &text)?;
    }
    if let Some(path) = &opts.metrics_json {
        crate::io::write_metrics_json(path, &report)?;
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
