//! Running a classifier on prepared inputs: softmax probabilities, the
//! predicted class and the top 3, per file, and the summary (accuracy and
//! confusion matrix when labels are known).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tch::{nn::ModuleT, Device, Kind, Tensor};

use super::ink::PixelBox;
use crate::metrics::{ClassificationReport, ConfusionMatrix};

/// One class and its probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassProb {
    /// Class index, `0..num_classes`.
    pub class: i64,
    /// Softmax probability in [0, 1].
    pub probability: f64,
}

/// The model's answer for one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The most probable class (the first on ties, as `argmax`).
    pub class: i64,
    /// Its softmax probability.
    pub probability: f64,
    /// The three most probable classes, most probable first (fewer when the
    /// model has fewer classes).
    pub top3: Vec<ClassProb>,
    /// Softmax probability of every class, `num_classes` values summing to 1.
    pub probabilities: Vec<f64>,
}

/// Classifies `inputs` (`[n, 1, 28, 28]` float, already normalised as the model
/// was trained) with `model` in evaluation mode (`forward_t(.., false)`) and
/// without gradients, `batch_size` at a time on `device`.
///
/// # Panics
/// If `batch_size` is 0 or the model's output is not `[batch, classes]`
/// (programming errors, not user input).
pub fn classify(
    model: &impl ModuleT,
    inputs: &Tensor,
    batch_size: usize,
    device: Device,
) -> Vec<Prediction> {
    assert!(batch_size > 0, "batch size must be positive");
    let _guard = tch::no_grad_guard();
    let n = inputs.size()[0];
    let mut out = Vec::with_capacity(n as usize);
    let mut start = 0;
    while start < n {
        let len = (batch_size as i64).min(n - start);
        let batch = inputs.narrow(0, start, len).to_device(device);
        let probs = model
            .forward_t(&batch, false)
            .softmax(-1, Kind::Float)
            .to_device(Device::Cpu)
            .to_kind(Kind::Double);
        let classes = probs.size()[1];
        let flat = Vec::<f64>::try_from(probs.flatten(0, -1)).expect("double probabilities");
        out.extend(flat.chunks(classes as usize).map(prediction));
        crate::malloc::release_free_memory(); // the batch's buffers back to the system
        start += len;
    }
    out
}

fn prediction(probs: &[f64]) -> Prediction {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    // Stable sort: ties keep the lower class first, as argmax does.
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let top3: Vec<ClassProb> = order
        .iter()
        .take(3)
        .map(|&c| ClassProb {
            class: c as i64,
            probability: probs[c],
        })
        .collect();
    Prediction {
        class: top3[0].class,
        probability: top3[0].probability,
        top3,
        probabilities: probs.to_vec(),
    }
}

/// The result for one image file (an entry of the JSON report's `predictions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilePrediction {
    /// The image file (in JSON as a string; non-UTF-8 bytes replaced).
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// The true class from its `ImageFolder` sub-folder, when known.
    pub label: Option<i64>,
    /// Name of the true class, when known.
    pub label_name: Option<String>,
    /// Name of the predicted class.
    pub class_name: String,
    /// Whether the prediction equals the label, when known.
    pub correct: Option<bool>,
    /// The model's answer.
    #[serde(flatten)]
    pub prediction: Prediction,
    /// `--preprocess digit`: the box cropped, `[x0, y0, x1, y1]` in the
    /// decoded image's pixels (exclusive ends).
    pub crop: Option<PixelBox>,
    /// Warnings and notes about the file (an animated GIF's frames, ink
    /// that looks unlike one digit), one line each.
    pub warnings: Vec<String>,
}

impl FilePrediction {
    /// Joins a file, its label and the model's answer; `class_names` names the
    /// classes (its length is the model's number of classes).
    pub fn new(
        path: PathBuf,
        label: Option<i64>,
        prediction: Prediction,
        class_names: &[String],
    ) -> Self {
        let name = |c: i64| {
            class_names
                .get(c as usize)
                .cloned()
                .unwrap_or_else(|| c.to_string())
        };
        Self {
            path,
            label,
            label_name: label.map(name),
            class_name: name(prediction.class),
            correct: label.map(|l| l == prediction.class),
            prediction,
            crop: None,
            warnings: Vec::new(),
        }
    }
}

impl fmt::Display for FilePrediction {
    /// `path  -> 7 (98.1%)  top3: 7 98.1%, 1 1.2%, 9 0.3%  [true 7, ok]`, then
    /// one `  warning: path: …` line per warning.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.prediction;
        write!(
            f,
            "{}  -> {} ({:.1}%)  top3:",
            self.path.display(),
            self.class_name,
            100.0 * p.probability
        )?;
        for (i, c) in p.top3.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{} {:.1}%", c.class, 100.0 * c.probability)?;
        }
        if let (Some(name), Some(ok)) = (&self.label_name, self.correct) {
            write!(f, "  [true {name}, {}]", if ok { "ok" } else { "WRONG" })?;
        }
        for w in &self.warnings {
            write!(f, "\n  warning: {}: {w}", self.path.display())?;
        }
        Ok(())
    }
}

/// An image that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The file.
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// The error, naming the file.
    pub error: String,
}

/// Counts over a prediction run; accuracy and the confusion matrix over the
/// labelled images only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictSummary {
    /// Images classified.
    pub images: usize,
    /// Images skipped (unreadable, unsupported, blank...), see the report's `skipped`.
    pub skipped: usize,
    /// Files in the folders that are not images, not read.
    pub ignored: usize,
    /// Classified images with a label.
    pub labelled: usize,
    /// Labelled images predicted correctly.
    pub correct: usize,
    /// `correct / labelled`; `None` without labels.
    pub accuracy: Option<f64>,
    /// Accuracy, per-class scores and `confusion[truth][prediction]` over the
    /// labelled images; `None` without labels.
    pub classification: Option<ClassificationReport>,
}

impl PredictSummary {
    /// Counts `predictions` of a model with `num_classes` classes.
    pub fn new(
        predictions: &[FilePrediction],
        skipped: usize,
        ignored: usize,
        num_classes: usize,
    ) -> Self {
        let (truth, predicted): (Vec<i64>, Vec<i64>) = predictions
            .iter()
            .filter_map(|p| p.label.map(|l| (l, p.prediction.class)))
            .unzip();
        let labelled = truth.len();
        let correct = truth.iter().zip(&predicted).filter(|(t, p)| t == p).count();
        let classification =
            (labelled > 0).then(|| ConfusionMatrix::new(&truth, &predicted, num_classes).report());
        Self {
            images: predictions.len(),
            skipped,
            ignored,
            labelled,
            correct,
            accuracy: (labelled > 0).then(|| correct as f64 / labelled as f64),
            classification,
        }
    }
}

impl fmt::Display for PredictSummary {
    /// `12 image(s) classified, 1 skipped, 2 other file(s) ignored; accuracy
    /// 91.67% (11/12 labelled)`, then the confusion matrix when labels are known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} image(s) classified, {} skipped, {} other file(s) ignored",
            self.images, self.skipped, self.ignored
        )?;
        match (&self.accuracy, &self.classification) {
            (Some(acc), Some(report)) => {
                writeln!(
                    f,
                    "; accuracy {:.2}% ({}/{} labelled)",
                    100.0 * acc,
                    self.correct,
                    self.labelled
                )?;
                let cm = ConfusionMatrix {
                    counts: report.confusion.clone(),
                };
                write!(f, "{cm}")
            }
            _ => writeln!(
                f,
                "; no labels (put images in sub-folders named after the classes, or give a CSV a label column)"
            ),
        }
    }
}

/// Serialises a path as a string even when it is not valid UTF-8 (serde's
/// own `PathBuf` impl fails there), replacing bad bytes with U+FFFD.
pub(crate) fn lossy_path<S: serde::Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top3_is_sorted_and_ties_keep_the_lower_class() {
        let p = prediction(&[0.1, 0.4, 0.1, 0.4]);
        assert_eq!(p.class, 1);
        let classes: Vec<i64> = p.top3.iter().map(|c| c.class).collect();
        assert_eq!(classes, [1, 3, 0]);
        let two = prediction(&[0.3, 0.7]);
        assert_eq!(two.top3.len(), 2);
    }

    #[test]
    fn the_summary_counts_only_labelled_images() {
        let names: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let files = vec![
            FilePrediction::new("x".into(), Some(0), prediction(&[0.9, 0.1]), &names),
            FilePrediction::new("y".into(), Some(0), prediction(&[0.2, 0.8]), &names),
            FilePrediction::new("z".into(), None, prediction(&[0.2, 0.8]), &names),
        ];
        assert_eq!(files[1].correct, Some(false));
        assert_eq!(files[1].label_name.as_deref(), Some("a"));
        assert_eq!(files[1].class_name, "b");
        let s = PredictSummary::new(&files, 1, 2, 2);
        assert_eq!((s.images, s.labelled, s.correct), (3, 2, 1));
        assert_eq!(s.accuracy, Some(0.5));
        let cm = s
            .classification
            .as_ref()
            .expect("labelled")
            .confusion
            .clone();
        assert_eq!(cm, vec![vec![1, 1], vec![0, 0]]);
        let text = s.to_string();
        assert!(text.contains("accuracy 50.00% (1/2 labelled)"), "{text}");
        assert!(files[1].to_string().contains("[true a, WRONG]"));
    }

    #[cfg(unix)]
    #[test]
    fn paths_that_are_not_utf8_still_serialise() {
        use std::os::unix::ffi::OsStringExt;
        let path = PathBuf::from(std::ffi::OsString::from_vec(b"dir/\xffx.png".to_vec()));
        let names = vec!["a".to_string(), "b".to_string()];
        let p = FilePrediction::new(path, None, prediction(&[0.9, 0.1]), &names);
        let json = serde_json::to_value(&p).expect("serialises");
        assert_eq!(json["path"], "dir/\u{fffd}x.png");
        assert_eq!(json["class"], 0);
    }
}
