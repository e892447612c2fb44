//! Metrics: classification (accuracy, per-class precision/recall/F1, confusion
//! matrix), regression (MSE, RMSE, MAE) and a running mean for losses.

use std::fmt;

use serde::Serialize;

/// A mean updated one weighted value at a time (a batch's mean loss, weighted by
/// its size, so that the epoch mean does not favour a small last batch).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunningMean {
    sum: f64,
    weight: f64,
}

impl RunningMean {
    /// An empty mean.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` with weight `weight` (for example a batch mean and the batch size).
    pub fn add(&mut self, value: f64, weight: f64) {
        self.sum += value * weight;
        self.weight += weight;
    }

    /// The mean so far; 0 before anything was added.
    pub fn mean(&self) -> f64 {
        if self.weight > 0.0 {
            self.sum / self.weight
        } else {
            0.0
        }
    }

    /// Total weight added.
    pub fn weight(&self) -> f64 {
        self.weight
    }
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassScores {
    /// TP / (TP + FP); 0 when the class was never predicted.
    pub precision: f64,
    /// TP / (TP + FN); 0 when the class never occurs.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// Number of true samples of the class.
    pub support: u64,
}

/// A confusion matrix, `counts[truth][prediction]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ConfusionMatrix {
    /// `counts[t][p]`: samples of class `t` predicted as `p`.
    pub counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Counts `(truth, prediction)` pairs over `num_classes` classes.
    ///
    /// # Panics
    /// If the slices differ in length or a class is outside `0..num_classes`
    /// (the model and the data loader guarantee both).
    pub fn new(truth: &[i64], predicted: &[i64], num_classes: usize) -> Self {
        assert_eq!(truth.len(), predicted.len(), "one prediction per sample");
        let mut counts = vec![vec![0u64; num_classes]; num_classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            counts[t as usize][p as usize] += 1;
        }
        Self { counts }
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.counts.len()
    }

    /// Number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Fraction of samples on the diagonal; 0 for an empty matrix.
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.num_classes()).map(|c| self.counts[c][c]).sum();
        ratio(correct, self.total())
    }

    /// Precision, recall and F1 of every class; a class that is never
    /// predicted or never occurs scores 0 where its denominator is 0.
    pub fn per_class(&self) -> Vec<ClassScores> {
        (0..self.num_classes())
            .map(|c| {
                let tp = self.counts[c][c];
                let predicted: u64 = self.counts.iter().map(|row| row[c]).sum();
                let support: u64 = self.counts[c].iter().sum();
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassScores {
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect()
    }

    /// Unweighted means of precision, recall and F1 over all classes.
    pub fn macro_avg(&self) -> ClassScores {
        let per = self.per_class();
        let n = per.len().max(1) as f64;
        ClassScores {
            precision: per.iter().map(|s| s.precision).sum::<f64>() / n,
            recall: per.iter().map(|s| s.recall).sum::<f64>() / n,
            f1: per.iter().map(|s| s.f1).sum::<f64>() / n,
            support: per.iter().map(|s| s.support).sum(),
        }
    }

    /// Everything above, ready for JSON.
    pub fn report(&self) -> ClassificationReport {
        ClassificationReport {
            accuracy: self.accuracy(),
            macro_avg: self.macro_avg(),
            per_class: self.per_class(),
            confusion: self.counts.clone(),
        }
    }
}

impl fmt::Display for ConfusionMatrix {
    /// Rows are true classes, columns predictions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.num_classes();
        let width = self
            .counts
            .iter()
            .flatten()
            .max()
            .map_or(1, |m| m.to_string().len())
            .max(4);
        write!(f, "{:>10} |", "true\\pred")?;
        for c in 0..n {
            write!(f, " {c:>width$}")?;
        }
        writeln!(f)?;
        writeln!(f, "{}", "-".repeat(12 + n * (width + 1)))?;
        for (t, row) in self.counts.iter().enumerate() {
            write!(f, "{t:>10} |")?;
            for v in row {
                write!(f, " {v:>width$}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Accuracy, macro scores, per-class scores and the confusion matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationReport {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Unweighted means over classes.
    pub macro_avg: ClassScores,
    /// Scores of each class.
    pub per_class: Vec<ClassScores>,
    /// `confusion[truth][prediction]`.
    pub confusion: Vec<Vec<u64>>,
}

/// Mean squared error, its root and the mean absolute error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RegressionScores {
    /// Mean squared error.
    pub mse: f64,
    /// Square root of the MSE, in the data's units.
    pub rmse: f64,
    /// Mean absolute error, in the data's units.
    pub mae: f64,
}

impl RegressionScores {
    /// Scores of `predicted` against `truth` (equal lengths; all 0 when empty).
    pub fn new(truth: &[f64], predicted: &[f64]) -> Self {
        assert_eq!(truth.len(), predicted.len(), "one prediction per target");
        let n = truth.len().max(1) as f64;
        let mse = truth
            .iter()
            .zip(predicted)
            .map(|(t, p)| (t - p).powi(2))
            .sum::<f64>()
            / n;
        let mae = truth
            .iter()
            .zip(predicted)
            .map(|(t, p)| (t - p).abs())
            .sum::<f64>()
            / n;
        Self {
            mse,
            rmse: mse.sqrt(),
            mae,
        }
    }
}

/// Peak resident memory of this process so far, in MiB (`getrusage`'s
/// `ru_maxrss`; 0 where unavailable).
pub(crate) fn peak_rss_mb() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: getrusage only writes into the zeroed struct we pass.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0 {
            // Linux reports KiB, macOS bytes.
            let kib = if cfg!(target_os = "macos") {
                usage.ru_maxrss as f64 / 1024.0
            } else {
                usage.ru_maxrss as f64
            };
            return kib / 1024.0;
        }
    }
    0.0
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn running_mean_weights_by_batch_size() {
        let mut m = RunningMean::new();
        assert_eq!(m.mean(), 0.0);
        m.add(1.0, 3.0);
        m.add(3.0, 1.0);
        assert!(close(m.mean(), 1.5));
        assert_eq!(m.weight(), 4.0);
    }

    #[test]
    fn hand_computed_three_class_example() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let cm = ConfusionMatrix::new(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], 3);
        assert_eq!(cm.counts, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert!(close(cm.accuracy(), 4.0 / 6.0));
        let s = cm.per_class();
        // class 0: TP 2, predicted 2, support 3
        assert!(close(s[0].precision, 1.0) && close(s[0].recall, 2.0 / 3.0) && close(s[0].f1, 0.8));
        // class 1: TP 1, predicted 2, support 2
        assert!(close(s[1].precision, 0.5) && close(s[1].recall, 0.5) && close(s[1].f1, 0.5));
        // class 2: TP 1, predicted 2, support 1
        assert!(close(s[2].precision, 0.5) && close(s[2].recall, 1.0) && close(s[2].f1, 2.0 / 3.0));
        let m = cm.macro_avg();
        assert!(close(m.precision, 2.0 / 3.0));
        assert!(close(m.recall, (2.0 / 3.0 + 0.5 + 1.0) / 3.0));
        assert!(close(m.f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0));
        assert_eq!(m.support, 6);
    }

    #[test]
    fn empty_classes_score_zero_without_dividing_by_zero() {
        // Class 2 never occurs and is never predicted; class 1 is never predicted.
        let cm = ConfusionMatrix::new(&[0, 1], &[0, 0], 3);
        let s = cm.per_class();
        assert_eq!((s[1].precision, s[1].recall, s[1].f1), (0.0, 0.0, 0.0));
        assert_eq!(
            (s[2].precision, s[2].recall, s[2].f1, s[2].support),
            (0.0, 0.0, 0.0, 0)
        );
        assert!(close(s[0].precision, 0.5) && close(s[0].recall, 1.0));
        let empty = ConfusionMatrix::new(&[], &[], 2);
        assert_eq!(empty.accuracy(), 0.0);
        assert_eq!(empty.macro_avg().f1, 0.0);
    }

    #[test]
    fn confusion_matrix_prints_as_a_table() {
        let text = ConfusionMatrix::new(&[0, 1, 1], &[0, 1, 0], 2).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("true\\pred"));
        assert!(lines[2].trim_start().starts_with("0 |"));
        assert!(lines[3].ends_with("   1    1"), "{text}");
    }

    #[test]
    fn regression_scores_by_hand() {
        let s = RegressionScores::new(&[1.0, 2.0, 3.0], &[2.0, 2.0, 1.0]);
        assert!(close(s.mse, 5.0 / 3.0));
        assert!(close(s.rmse, (5.0f64 / 3.0).sqrt()));
        assert!(close(s.mae, 1.0));
    }
}
