//! `--load M --predict "a sentence"` (repeatable) and `--predict-file
//! lines.txt`: a classifier saved by `--task classify --save` labels new
//! sentences, one `label TAB probability TAB sentence` line each (the
//! probability is the softmax of the predicted class).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tch::nn;

use super::classify::{self, GptClassifier};
use super::config::LmTask;
use super::{read_saved, RunOptions};
use crate::data::labelled_text::LabelledText;
use crate::models::Gpt;
use crate::train::Progress;

/// The sentences to classify: `--predict` texts, then the lines of `--predict-file`.
#[derive(Debug, Clone, Default)]
pub struct PredictInputs {
    /// `--predict SENTENCE`, in order.
    pub sentences: Vec<String>,
    /// `--predict-file FILE`: one sentence per non-empty line (UTF-8).
    pub file: Option<PathBuf>,
}

/// One classified sentence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentencePrediction {
    /// The sentence as given.
    pub sentence: String,
    /// The predicted class's name (as saved with the classifier).
    pub label: String,
    /// Its softmax probability, in (0, 1].
    pub probability: f64,
}

/// Classifies `inputs` with the classifier of `opts.load`, printing one
/// `label TAB probability TAB sentence` line per sentence to stdout (notes
/// to stderr) and, with `--metrics-json`, the predictions as JSON.
///
/// # Errors
/// No `--load`; a checkpoint that is no classifier (a language model, or
/// another example's); no sentence; an unreadable or non-UTF-8 file (its name
/// and byte offset).
pub fn predict(opts: &RunOptions, inputs: &PredictInputs) -> Result<Vec<SentencePrediction>> {
    let progress = Progress { quiet: opts.quiet };
    let Some(path) = &opts.load else {
        bail!("--predict classifies with a trained classifier: add --load CHECKPOINT (saved by --task classify --save)");
    };
    let sentences = gather(inputs)?;
    let (cfg, vocab) = read_saved(path)?;
    if cfg.task != LmTask::Classify || cfg.classify.class_names.is_empty() {
        bail!(
            "{} is a language model (--task lm), not a classifier: --predict needs a model saved by \
             --task classify --save (use --generate to write with a language model)",
            path.display()
        );
    }
    let names = &cfg.classify.class_names;
    let device = opts.device.resolve()?;
    let mut vs = nn::VarStore::new(device);
    let gpt = Gpt::new(&vs.root(), &cfg.model)?;
    let mut model = GptClassifier::new(&vs.root(), gpt, names.len() as i64, cfg.classify.pooling);
    let export = opts.export_torchscript.is_some();
    let shape = crate::quantize::RunShape::use_of(path, opts.save.as_deref(), export);
    opts.quantize.check(shape)?;
    let scheme = opts.quantize.scheme();
    let loaded = crate::quantize::load(&mut vs, &mut model, path, None, scheme)?;
    for note in &loaded.notes {
        note_to_stderr(progress, note);
    }
    if loaded.int8.is_some() {
        note_to_stderr(progress, &loaded.line);
    }
    if let (Some(out), Some(int8)) = (&opts.quantize.save_quantized, &loaded.int8) {
        note_to_stderr(progress, &crate::quantize::save(&vs, int8, out, &cfg)?);
        crate::io::write_json(&super::vocab_path(out), &vocab)?;
    }
    let data = LabelledText {
        labels: vec![0; sentences.len()],
        texts: sentences,
        class_names: names.clone(),
    };
    let enc = classify::encode(&data, &vocab, cfg.model.block_size as usize, "--predict");
    note_to_stderr(progress, &enc.note);
    let (classes, probs) = classify::predict(&model, &enc, 64, device)?;
    let out: Vec<SentencePrediction> = data
        .texts
        .into_iter()
        .zip(classes.iter().zip(&probs))
        .map(|(sentence, (&c, &p))| SentencePrediction {
            sentence,
            label: names[c as usize].clone(),
            probability: p,
        })
        .collect();
    for p in &out {
        println!("{}\t{:.4}\t{}", p.label, p.probability, p.sentence);
    }
    if let Some(json) = &opts.metrics_json {
        let report = serde_json::json!({ "config": &cfg, "checkpoint": path, "predictions": &out });
        crate::io::write_metrics_json(json, &report)?;
    }
    Ok(out)
}

/// Notes go to stderr, so that stdout holds only the prediction lines.
fn note_to_stderr(progress: Progress, note: &str) {
    if !progress.quiet {
        eprintln!("{note}");
    }
}

/// The `--predict` sentences, then the non-empty lines of `--predict-file`.
fn gather(inputs: &PredictInputs) -> Result<Vec<String>> {
    let mut out = inputs.sentences.clone();
    if let Some(file) = &inputs.file {
        out.extend(read_lines(file)?);
    }
    if out.is_empty() {
        bail!("nothing to classify: --predict-file has no non-empty line");
    }
    Ok(out)
}

/// The non-empty lines of `file` (a final `\r` dropped), UTF-8.
fn read_lines(file: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text: byte {} starts an invalid sequence",
            file.display(),
            e.valid_up_to()
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Ok(text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect())
}
