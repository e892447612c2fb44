//! The `--plot` figure of rnn_series: the series' test part with the model's
//! predictions, the persistence baseline and the forecast, then the training
//! and validation loss per epoch.

use std::path::Path;

use anyhow::{Context, Result};

use super::{write_svg, Line, Panel};
use crate::train::EpochRecord;

/// What the figure shows, in the series' units.
#[derive(Debug, Clone)]
pub(crate) struct ForecastFigure<'a> {
    /// The series' name.
    pub title: &'a str,
    /// The model's name in the legend (`RNN`, `LSTM`, `GRU`).
    pub model: &'a str,
    /// The whole series.
    pub values: &'a [f64],
    /// Index of the first value drawn (the test part's start).
    pub test_start: usize,
    /// Index in the series of each test target.
    pub test_positions: &'a [usize],
    /// The model's prediction of each test target.
    pub predictions: &'a [f64],
    /// The persistence forecast of each test target.
    pub persistence: Vec<f64>,
    /// Test RMSE of the model.
    pub rmse: f64,
    /// Test RMSE of persistence.
    pub persistence_rmse: f64,
    /// The recursive forecast after the series' end (may be empty).
    pub forecast: &'a [f64],
    /// Per-epoch records (`val loss` among their metrics); empty: no second panel.
    pub history: &'a [EpochRecord],
}

/// Writes the figure as SVG to `path`.
///
/// # Errors
/// A path not ending in `.svg`, a drawing or I/O error; the message starts
/// with `--plot figure` and names the file.
pub(crate) fn write(path: &Path, f: &ForecastFigure<'_>) -> Result<()> {
    let mut panels = vec![Panel {
        title: format!("{}: test part", f.title),
        x_label: "time step".into(),
        y_label: "value".into(),
        lines: test_lines(f),
        log_y: false,
        dots: false,
    }];
    if !f.history.is_empty() {
        panels.push(loss_panel(f.history));
    }
    write_svg(path, &panels).context("--plot figure")
}

fn at_positions(positions: &[usize], values: &[f64]) -> Vec<(f64, f64)> {
    positions
        .iter()
        .zip(values)
        .map(|(&i, &v)| (i as f64, v))
        .collect()
}

fn test_lines(f: &ForecastFigure<'_>) -> Vec<Line> {
    let values = f.values;
    let mut lines = vec![
        Line {
            label: "truth".into(),
            points: (f.test_start..values.len())
                .map(|i| (i as f64, values[i]))
                .collect(),
        },
        Line {
            label: format!("{} prediction (RMSE {:.3})", f.model, f.rmse),
            points: at_positions(f.test_positions, f.predictions),
        },
        Line {
            label: format!("persistence (RMSE {:.3})", f.persistence_rmse),
            points: at_positions(f.test_positions, &f.persistence),
        },
    ];
    if let (false, Some(end)) = (f.forecast.is_empty(), values.len().checked_sub(1)) {
        let mut points = vec![(end as f64, values[end])];
        points.extend(
            f.forecast
                .iter()
                .enumerate()
                .map(|(k, &v)| ((end + 1 + k) as f64, v)),
        );
        lines.push(Line {
            label: format!("forecast ({} steps)", f.forecast.len()),
            points,
        });
    }
    lines
}

/// Training and validation loss per epoch (log scale).
pub(crate) fn loss_panel(history: &[EpochRecord]) -> Panel {
    let metric = |name: &str| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|e| {
                e.metrics
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| (e.epoch as f64, *v))
            })
            .collect()
    };
    Panel {
        title: "loss per epoch (MSE on scaled values)".into(),
        x_label: "epoch".into(),
        y_label: "MSE".into(),
        lines: vec![
            Line {
                label: "training".into(),
                points: history
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
        dots: false,
    }
}
