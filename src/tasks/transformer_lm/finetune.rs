//! The run of `--task classify`: the rated movie-review sentences, split
//! 80/10/10 by a fixed seed, a [`GptClassifier`] (from `--init-from`'s
//! pre-trained language model, or from scratch), AdamW for `--epochs` epochs
//! with the language model's warm-up and cosine decay over all steps, and the
//! test report beside the majority-class and bag-of-words baselines.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;
use tch::nn;
use tch::Device;

use super::bow::{self, BagOfWords};
use super::classify::{self, Encoded, GptClassifier};
use super::config::{Config, LmTrainConfig};
use super::{read_saved, vocab_path, RunOptions};
use crate::checkpoint;
use crate::data::labelled_text::{
    read_class_folders, read_labelled_csv, read_rated_sentences, train_val_test, LabelledText,
};
use crate::data::shuffle::{permutation, step_seed};
use crate::data::text::CharVocab;
use crate::metrics::{ClassificationReport, ConfusionMatrix};
use crate::models::Gpt;
use crate::optim::clip_grad_norm;
use crate::train::Progress;

/// The report of a fine-tuning run (`--metrics-json`).
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyReport {
    /// The configuration.
    pub config: Config,
    /// The pre-trained model the backbone came from, if any.
    pub init_from: Option<PathBuf>,
    /// Sentences per split: train, val, test.
    pub sizes: [usize; 3],
    /// Per epoch: mean training loss and validation accuracy.
    pub epochs: Vec<(f64, f64)>,
    /// The fine-tuned GPT on the test split.
    pub test: ClassificationReport,
    /// The majority class of the training labels on the test split.
    pub majority: ClassificationReport,
    /// Bag-of-words logistic regression on the test split.
    pub bag_of_words: ClassificationReport,
}

/// Runs `--task classify`.
pub fn run(cfg: &Config, opts: &RunOptions) -> Result<ClassifyReport> {
    if opts.plot.is_some() {
        anyhow::bail!(
            "--plot draws a language model's training curves (--task lm); --task classify \
             prints its epochs and writes them with --metrics-json"
        );
    }
    if opts.export_torchscript.is_some() {
        anyhow::bail!(
            "--export-torchscript exports the language model (--task lm); the classifier has no export"
        );
    }
    if opts.quantize.scheme().is_some() {
        anyhow::bail!(
            "--quantize/--save-quantized: --task classify trains; quantize the saved classifier \
             with --load CLASSIFIER --predict SENTENCE --quantize int8 (or --save-quantized PATH)"
        );
    }
    let progress = Progress { quiet: opts.quiet };
    let device = opts.device.resolve()?;
    let c = &cfg.classify;
    let (all, source) = labelled_sentences(c)?;
    let [train, val, test] = train_val_test(&all, c.data_seed)?;
    let train = limit(train, c.train_limit, c.data_seed);
    progress.line(format!(
        "{source}; split {} train / {} val / {} test (seed {})",
        train.len(),
        val.len(),
        test.len(),
        c.data_seed
    ));
    let (mut cfg, vocab, backbone) = backbone(cfg, &train)?;
    cfg.classify.class_names = train.class_names.clone();
    let mut vs = nn::VarStore::new(Device::Cpu);
    tch::manual_seed(cfg.train.seed as i64);
    let gpt = Gpt::new(&vs.root(), &cfg.model)?;
    let model = GptClassifier::new(&vs.root(), gpt, train.class_names.len() as i64, c.pooling);
    let tuned = crate::finetune::prepare(&mut vs, &c.finetune(), cfg.train.lr, None, false)?;
    for note in &tuned.notes {
        progress.line(note);
    }
    if let Some(path) = &backbone {
        progress.line(format!(
            "loaded {} backbone tensors from {} (classifier.* fresh)",
            tuned.loaded.len(),
            path.display()
        ));
    }
    // The frozen, re-initialised and learning-rate lines (the loaded names are above).
    if !(c.freeze.is_empty() && c.reset.is_empty() && c.lr_backbone.is_none()) {
        for line in tuned.lines().into_iter().skip(2) {
            progress.line(line);
        }
    }
    vs.set_device(device);
    let block = cfg.model.block_size as usize;
    let [tr, va, te] = [(&train, "train"), (&val, "val"), (&test, "test")]
        .map(|(d, what)| classify::encode(d, &vocab, block, what));
    for e in [&tr, &va, &te] {
        progress.line(&e.note);
    }
    let schedule = Schedule {
        lm: &cfg.train,
        epochs: c.epochs,
        lr_groups: &tuned.lr_groups,
    };
    let epochs = fit(&model, &vs, (&tr, &va), &schedule, progress)?;
    if let Some(path) = &opts.save {
        checkpoint::save_with_config(&vs, path, &cfg)?;
        crate::io::write_json(&vocab_path(path), &vocab)?;
    }
    let scores = score(&model, (&train, &test, &te), &cfg, device)?;
    let report = ClassifyReport {
        config: cfg.clone(),
        init_from: backbone,
        sizes: [train.len(), val.len(), test.len()],
        epochs,
        test: scores.test,
        majority: scores.majority,
        bag_of_words: scores.bag_of_words,
    };
    print_report(&report, &test.class_names);
    if let Some(path) = &opts.metrics_json {
        crate::io::write_metrics_json(path, &report)?;
    }
    Ok(report)
}

/// The labelled sentences (`--csv`, else the rated movie reviews) and a line
/// saying what was read.
pub(super) fn labelled_sentences(
    c: &super::config::ClassifyConfig,
) -> Result<(LabelledText, String)> {
    if let (Some(csv), Some(text), Some(label)) = (&c.csv, &c.text_column, &c.label_column) {
        return read_labelled_csv(csv, text, label);
    }
    if let Some(root) = &c.folders {
        return read_class_folders(root);
    }
    let (all, neutral) = read_rated_sentences(&c.sentences)?;
    let line = format!(
        "{}: {} rated sentences ({neutral} rated 0 left out); positive = rating above 0",
        c.sentences.display(),
        all.len()
    );
    Ok((all, line))
}

/// At most `n` training sentences, a seeded random subset (`--train-limit`).
fn limit(train: LabelledText, n: Option<usize>, seed: u64) -> LabelledText {
    match n {
        Some(n) if n < train.len() => {
            let mut idx = permutation(train.len(), seed, 1);
            idx.truncate(n);
            idx.sort_unstable();
            train.subset(&idx)
        }
        _ => train,
    }
}

/// The configuration with the backbone's shape, its vocabulary, and the
/// checkpoint to load: `--init-from`'s saved model, or a fresh model with the
/// vocabulary of the training sentences.
fn backbone(cfg: &Config, train: &LabelledText) -> Result<(Config, CharVocab, Option<PathBuf>)> {
    let mut cfg = cfg.clone();
    let Some(path) = cfg.classify.init_from.clone() else {
        let vocab = CharVocab::from_text(&train.texts.concat());
        cfg.model.vocab_size = vocab.len() as i64;
        return Ok((cfg, vocab, None));
    };
    let (saved, vocab) = read_saved(&path)?;
    cfg.model = saved.model;
    Ok((cfg, vocab, Some(path)))
}

/// How the fine-tuning steps: the language model's AdamW settings, warm-up
/// and cosine decay stretched over `epochs` epochs, each optimizer group
/// scaled to its base rate (`--lr` for the head, `--lr-backbone`).
struct Schedule<'a> {
    lm: &'a LmTrainConfig,
    epochs: usize,
    lr_groups: &'a [(usize, f64)],
}

/// Trains for `epochs` epochs; returns per epoch the mean training loss and
/// the validation accuracy.
fn fit(
    model: &GptClassifier,
    vs: &nn::VarStore,
    (train, val): (&Encoded, &Encoded),
    sched: &Schedule,
    progress: Progress,
) -> Result<Vec<(f64, f64)>> {
    let (lm, epochs) = (sched.lm, sched.epochs);
    let batch = lm.batch_size as usize;
    let per_epoch = train.ids.len().div_ceil(batch);
    let schedule = LmTrainConfig {
        max_steps: epochs * per_epoch,
        ..lm.clone()
    };
    let mut opt = lm.optim().build(vs)?;
    let params = opt.parameters();
    let mut out = Vec::new();
    for epoch in 0..epochs {
        let order = permutation(train.ids.len(), lm.seed, epoch as u64);
        let mut total = 0.0;
        for (step, rows) in order.chunks(batch).enumerate() {
            let global = epoch * per_epoch + step;
            let lr = schedule.lr_at(global);
            for &(group, base) in sched.lr_groups {
                opt.set_lr(group, if base == lm.lr { lr } else { base * lr / lm.lr });
            }
            tch::manual_seed(step_seed(lm.seed, epoch as u64, step as u64));
            let (idx, lengths, labels) = classify::batch(train, rows, vs.device());
            let loss = model
                .logits(&idx, &lengths, true)
                .cross_entropy_for_logits(&labels);
            opt.zero_grad();
            loss.backward();
            if lm.clip_grad_norm > 0.0 {
                clip_grad_norm(&params, lm.clip_grad_norm);
            }
            opt.step();
            total += loss.double_value(&[]) * rows.len() as f64;
        }
        let (pred, _) = classify::predict(model, val, batch, vs.device())?;
        let classes = model.classes();
        let acc = ConfusionMatrix::new(&val.labels, &pred, classes).accuracy();
        let mean = total / train.ids.len() as f64;
        progress.line(format!(
            "epoch {}/{epochs}: train loss {mean:.4} · val accuracy {:.2}%",
            epoch + 1,
            100.0 * acc
        ));
        out.push((mean, acc));
    }
    Ok(out)
}

/// The test reports of the model and of the two baselines.
struct TestScores {
    test: ClassificationReport,
    majority: ClassificationReport,
    bag_of_words: ClassificationReport,
}

fn score(
    model: &GptClassifier,
    (train, test, encoded): (&LabelledText, &LabelledText, &Encoded),
    cfg: &Config,
    device: Device,
) -> Result<TestScores> {
    let classes = test.class_names.len();
    let (pred, _) = classify::predict(model, encoded, cfg.train.batch_size as usize, device)?;
    let report = |p: &[i64]| ConfusionMatrix::new(&test.labels, p, classes).report();
    let majority = vec![bow::majority(&train.labels, classes); test.len()];
    let bag = BagOfWords::fit(train, cfg.train.seed)?.predict(&test.texts)?;
    Ok(TestScores {
        test: report(&pred),
        majority: report(&majority),
        bag_of_words: report(&bag),
    })
}

fn print_report(r: &ClassifyReport, names: &[String]) {
    println!("test split, {} sentences:", r.sizes[2]);
    println!("  {:<34} {:>9} {:>9}", "", "accuracy", "macro F1");
    let reset = &r.config.classify.reset;
    let gpt = match &r.init_from {
        Some(_) if reset.iter().any(|p| p == "transformer") => {
            "GPT from random init (--reset)".to_string()
        }
        Some(p) => format!(
            "GPT fine-tuned from {}",
            p.file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
        ),
        None => "GPT from random initialisation".to_string(),
    };
    for (name, s) in [
        (gpt.as_str(), &r.test),
        ("majority class", &r.majority),
        ("bag-of-words logistic regression", &r.bag_of_words),
    ] {
        println!(
            "  {name:<34} {:>8.2}% {:>9.3}",
            100.0 * s.accuracy,
            s.macro_avg.f1
        );
    }
    println!(
        "confusion matrix of the GPT (rows: truth {names:?}; columns: prediction): {:?}",
        r.test.confusion
    );
}
