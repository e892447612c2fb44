//! Learning curves of several runs, read from their `--metrics-json` reports:
//! a two-panel picture (an after-epoch metric such as `val acc`, and the
//! training loss, per epoch) and the same numbers as a Markdown table
//! (`make optim-compare`).

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use super::{write_svg, Line, Panel};
use crate::train::EpochRecord;

/// One run's curves, as its `--metrics-json` report has them.
#[derive(Debug, Clone)]
pub struct RunCurves {
    /// Legend entry and table row name.
    pub label: String,
    /// The report the run was read from (errors name it).
    pub path: PathBuf,
    /// One record per epoch (`train_loss`, after-epoch `metrics`); not empty.
    pub epochs: Vec<EpochRecord>,
    /// `test.accuracy` of the report (cnn_mnist), a fraction in `[0, 1]`.
    pub test_accuracy: Option<f64>,
    /// The data the run used, in words, when the report says (cnn_mnist:
    /// training and validation images, batch, seed, test images).
    pub setup: Option<String>,
}

/// Splits a `LABEL=PATH` argument at its first `=`.
///
/// # Errors
/// No `=`, or an empty label or path; the message quotes `spec`.
pub fn parse_spec(spec: &str) -> Result<(String, PathBuf)> {
    match spec.split_once('=') {
        Some((label, path)) if !label.trim().is_empty() && !path.is_empty() => {
            Ok((label.to_string(), PathBuf::from(path)))
        }
        _ => {
            bail!("{spec:?}: expected LABEL=PATH.json, e.g. \"Adam lr 0.001=runs/optim/adam.json\"")
        }
    }
}

/// What the report says about the data, in words; `None` when a key is missing.
fn setup(report: &Value) -> Option<String> {
    let int = |pointer: &str| report.pointer(pointer).and_then(Value::as_i64);
    let (train, val) = (int("/train_images")?, int("/val_images")?);
    Some(format!(
        "{} training / {val} validation images, batch {}, seed {}; test accuracy on {} test images",
        train - val,
        int("/config/train/batch_size")?,
        int("/config/train/seed")?,
        int("/test/macro_avg/support")?,
    ))
}

/// Reads the `--metrics-json` report at `path` (any example's) under `label`.
///
/// # Errors
/// Naming `path`: unreadable, not JSON, no `epochs` list of records (not a
/// `--metrics-json` report), or no epoch recorded (an `--eval-only` run).
pub fn read_run(label: &str, path: &Path) -> Result<RunCurves> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let report: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let Some(epochs) = report.get("epochs") else {
        bail!(
            "{} has no \"epochs\" list: is it a --metrics-json report?",
            path.display()
        );
    };
    let epochs: Vec<EpochRecord> = serde_json::from_value(epochs.clone()).with_context(|| {
        format!(
            "{}: \"epochs\" is not a list of epoch records (epoch, train_loss, metrics, ...)",
            path.display()
        )
    })?;
    ensure!(
        !epochs.is_empty(),
        "{} records no epoch (an --eval-only run?): no curve to draw",
        path.display()
    );
    Ok(RunCurves {
        label: label.to_string(),
        path: path.to_path_buf(),
        epochs,
        test_accuracy: report.pointer("/test/accuracy").and_then(Value::as_f64),
        setup: setup(&report),
    })
}

impl RunCurves {
    /// `(epoch, value)` of the after-epoch metric `metric` for every epoch.
    ///
    /// # Errors
    /// An epoch without `metric`; the message names the file, the epoch and
    /// the metrics it has.
    pub fn metric(&self, metric: &str) -> Result<Vec<(f64, f64)>> {
        self.epochs
            .iter()
            .map(|e| match e.metrics.iter().find(|(k, _)| k == metric) {
                Some((_, v)) => Ok((e.epoch as f64, *v)),
                None => {
                    let have: Vec<&str> = e.metrics.iter().map(|(k, _)| k.as_str()).collect();
                    let hint = if metric.starts_with("val ")
                        && !have.iter().any(|k| k.starts_with("val "))
                    {
                        " (cnn_mnist records validation metrics with --val-fraction)"
                    } else {
                        ""
                    };
                    bail!(
                        "{}: epoch {} has no {metric:?} metric (it has {have:?}); pick one \
                         of those with --metric{hint}",
                        self.path.display(),
                        e.epoch
                    )
                }
            })
            .collect()
    }

    /// `(epoch, mean training loss)` for every epoch.
    pub fn train_loss(&self) -> Vec<(f64, f64)> {
        self.epochs
            .iter()
            .map(|e| (e.epoch as f64, e.train_loss))
            .collect()
    }
}

/// The two panels: `metric` per epoch, then the training loss per epoch (on a
/// log scale when every loss is positive).
///
/// # Errors
/// No run, or a run without `metric` ([`RunCurves::metric`]).
pub fn panels(runs: &[RunCurves], metric: &str) -> Result<[Panel; 2]> {
    ensure!(!runs.is_empty(), "no run to draw");
    let metric_lines = runs
        .iter()
        .map(|r| {
            Ok(Line {
                label: r.label.clone(),
                points: r.metric(metric)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let loss_lines: Vec<Line> = runs
        .iter()
        .map(|r| Line {
            label: r.label.clone(),
            points: r.train_loss(),
        })
        .collect();
    let log_y = loss_lines
        .iter()
        .all(|l| l.points.iter().all(|&(_, y)| y > 0.0));
    Ok([
        Panel {
            title: format!("{} per epoch", describe(metric)),
            x_label: "epoch".into(),
            y_label: metric.into(),
            lines: metric_lines,
            log_y: false,
            dots: true,
        },
        Panel {
            title: "training loss per epoch".into(),
            x_label: "epoch".into(),
            y_label: if log_y {
                "training loss (log scale)".into()
            } else {
                "training loss".into()
            },
            lines: loss_lines,
            log_y,
            dots: true,
        },
    ])
}

/// Writes the two [`panels`] as an SVG picture at `path` (atomically).
///
/// # Errors
/// Those of [`panels`], a path not ending in `.svg`, or an I/O error naming it.
pub fn write_curves(path: &Path, runs: &[RunCurves], metric: &str) -> Result<()> {
    write_svg(path, &panels(runs, metric)?)
}

/// `metric` in words: `val acc` → `validation accuracy`, `val rmse` →
/// `validation RMSE`; other names unchanged.
fn describe(metric: &str) -> String {
    metric
        .split(' ')
        .map(|word| match word {
            "val" => "validation",
            "acc" => "accuracy",
            "rmse" => "RMSE",
            "mae" => "MAE",
            "mse" => "MSE",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` with its first letter in upper case.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
}

/// Whether `metric` is an accuracy (a fraction shown as a percentage).
fn is_accuracy(metric: &str) -> bool {
    metric.contains("acc")
}

/// One table cell: the metric and the training loss of an epoch.
fn cell(value: f64, loss: f64, percent: bool) -> String {
    if percent {
        format!("{:.2} % (loss {loss:.3})", 100.0 * value)
    } else {
        format!("{value:.4} (loss {loss:.3})")
    }
}

/// The curves as a Markdown table: one row per run, `metric` (accuracies in
/// per cent) and the training loss for each epoch, the test accuracy at the
/// end when the reports have one; a line above says what the numbers are.
///
/// # Errors
/// Those of [`panels`].
pub fn markdown_table(runs: &[RunCurves], metric: &str) -> Result<String> {
    ensure!(!runs.is_empty(), "no run to tabulate");
    let epochs = runs.iter().map(|r| r.epochs.len()).max().unwrap_or(0);
    let with_test = runs.iter().any(|r| r.test_accuracy.is_some());
    let percent = is_accuracy(metric);
    let mut head = vec!["run".to_string()];
    head.extend((1..=epochs).map(|e| format!("epoch {e}")));
    if with_test {
        head.push("test (end)".into());
    }
    let mut lines = vec![
        format!("| {} |", head.join(" | ")),
        format!("|{}", "---|".repeat(head.len())),
    ];
    for run in runs {
        let values = run.metric(metric)?;
        let mut row = vec![run.label.clone()];
        row.extend(
            (0..epochs).map(|i| match (values.get(i), run.epochs.get(i)) {
                (Some(&(_, v)), Some(e)) => cell(v, e.train_loss, percent),
                _ => "–".into(),
            }),
        );
        if with_test {
            row.push(
                run.test_accuracy
                    .map_or("–".into(), |a| format!("{:.2} %", 100.0 * a)),
            );
        }
        lines.push(format!("| {} |", row.join(" | ")));
    }
    let setup = runs[0]
        .setup
        .as_ref()
        .map_or(String::new(), |s| format!("; {s}"));
    let what = capitalised(&describe(metric));
    Ok(format!(
        "{what} per epoch (training loss in brackets){setup}.\n\n{}\n",
        lines.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_at_the_first_equals_sign() {
        let (label, path) = parse_spec("SGD lr=0.01=runs/a.json").unwrap();
        assert_eq!(
            (label.as_str(), path),
            ("SGD lr", PathBuf::from("0.01=runs/a.json"))
        );
        for bad in ["runs/a.json", "=runs/a.json", "Adam="] {
            let err = parse_spec(bad).unwrap_err().to_string();
            assert!(
                err.contains("LABEL=PATH.json") && err.contains(bad),
                "{err}"
            );
        }
    }

    #[test]
    fn metrics_are_named_in_words() {
        assert_eq!(describe("val acc"), "validation accuracy");
        assert_eq!(describe("val rmse"), "validation RMSE");
        assert_eq!(describe("test acc"), "test accuracy");
        assert_eq!(describe("custom"), "custom");
    }

    #[test]
    fn cells_show_accuracies_in_per_cent() {
        assert!(is_accuracy("val acc") && !is_accuracy("val rmse"));
        assert_eq!(cell(0.91514, 0.9791, true), "91.51 % (loss 0.979)");
        assert_eq!(cell(0.25, 0.5, false), "0.2500 (loss 0.500)");
    }
}
