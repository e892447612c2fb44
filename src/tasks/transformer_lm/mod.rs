//! `transformer_lm`: a GPT-style character language model (nanoGPT's model and
//! training recipe) pre-trained on unlabelled text — the tutorial's sections
//! 2.2–2.3 (pre-training) and 3.3 (self-attention, positional encoding) — then
//! used to write text.
//!
//! A run reads the text (`--text`, default the shipped Shakespeare), builds the
//! character vocabulary, splits the text 90/10 (nanoGPT's split), trains for
//! `--max-steps` AdamW steps with warm-up and cosine decay, reports the loss,
//! perplexity and bits per character on the whole validation text against
//! the unigram and bigram baselines, and prints a sample. `--save` writes the
//! weights (safetensors), `config.json` and `vocab.json`; `--load` reads them
//! back and only scores and generates.
//!
//! Files: `config.rs` (the options), `train.rs` (the loop), `eval.rs`
//! (scores and baselines), `generate.rs` (sampling).

pub mod bow;
pub mod classify;
pub mod config;
mod corpus;
pub mod eval;
pub mod finetune;
pub mod generate;
pub mod predict;
pub mod train;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tch::nn;

pub use config::{ClassifyConfig, Config, GenerateConfig, LmTask, LmTrainConfig, TextConfig};
pub use eval::{Baselines, Score};
pub use train::{EvalRecord, TrainRecord};

use crate::checkpoint;
use crate::data::text::{CharVocab, TokenSplit};
use crate::device::DeviceChoice;
use crate::models::Gpt;
use crate::train::Progress;

/// How a run is carried out (not part of `config.json`); the example's
/// flags `--device`, `--save`, `--load`, `--metrics-json`, `--quiet`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunOptions {
    /// Where to run; `cuda` fails clearly when no GPU is usable.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Save the weights (safetensors) with config.json and vocab.json beside them.
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
    /// Load a model saved with --save instead of training (its shape and
    /// vocabulary come from the files beside it); then score and generate.
    #[arg(long, value_name = "PATH")]
    pub load: Option<PathBuf>,
    /// Write the evaluations and final scores as JSON.
    #[arg(long, value_name = "PATH")]
    pub metrics_json: Option<PathBuf>,
    /// No progress bar or per-evaluation lines (the report is still printed).
    #[arg(long)]
    pub quiet: bool,
    /// (--task lm) After training, draw the learning curves as an SVG picture: train and
    /// validation loss by step beside the bigram and unigram baselines, and
    /// the learning rate.
    #[arg(long, value_name = "PATH.svg")]
    pub plot: Option<PathBuf>,
    /// (--task lm) Write the GPT as TorchScript: a traced module of its forward
    /// over one block of token ids (generation stays in the host program),
    /// with NAME.inputs.json beside it holding the vocabulary and block size.
    /// After training, or from --load.
    #[arg(long, value_name = "PATH.pt")]
    pub export_torchscript: Option<PathBuf>,
    /// `--quantize`, `--save-quantized` (int8 weights).
    #[command(flatten)]
    pub quantize: crate::quantize::QuantizeOptions,
}

/// The final report of a run (`--metrics-json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The configuration of the run (with --load: the saved model's).
    pub config: Config,
    /// The sampling settings.
    pub generation: GenerateConfig,
    /// The text files read, in order.
    pub files: Vec<PathBuf>,
    /// Characters of text read.
    pub text_chars: usize,
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Trainable parameters.
    pub parameters: i64,
    /// The training run (absent with --load).
    pub training: Option<TrainRecord>,
    /// The model on every character of the validation text (absent when
    /// `--load` is given no text to score: it then only generates).
    pub val: Option<Score>,
    /// The baselines on the same characters (absent with `val`).
    pub baselines: Option<Baselines>,
    /// The generated texts (`--num-samples`; after training one sample of
    /// [`SAMPLE_AFTER_TRAINING`] characters).
    pub samples: Vec<String>,
}

/// The vocabulary file beside a checkpoint.
pub(crate) fn vocab_path(checkpoint: &Path) -> PathBuf {
    checkpoint.with_file_name("vocab.json")
}

/// Characters written after training (nanoGPT's `sample.py` default).
pub const SAMPLE_AFTER_TRAINING: usize = 500;

/// The text of a run as token ids, with its vocabulary and split (no split:
/// `--load` without a text flag, nothing to score).
struct Text {
    vocab: CharVocab,
    split: Option<TokenSplit>,
    chars: usize,
    files: Vec<PathBuf>,
}

/// Runs `transformer_lm`: trains (or loads), scores, generates, saves.
pub fn run(cfg: &Config, gen: &GenerateConfig, opts: &RunOptions) -> Result<Report> {
    gen.validate()?;
    opts.quantize.check(crate::quantize::RunShape {
        load: opts.load.as_deref(),
        trains: opts.load.is_none(),
        save: opts.save.as_deref(),
        export_torchscript: opts.export_torchscript.is_some(),
    })?;
    if let Some(path) = &opts.plot {
        crate::plot::svg::check_path(path)?; // refused before training, not after
        if opts.load.is_some() {
            anyhow::bail!("--plot draws the curves of a training run: leave out --load");
        }
    }
    let progress = Progress { quiet: opts.quiet };
    let device = opts.device.resolve()?;
    let (cfg, vocab) = match &opts.load {
        Some(path) => loaded_config(cfg, path)?,
        None => (cfg.clone(), None),
    };
    cfg.train.validate()?;
    let text = match vocab {
        // --load with no text given: generate only (the cold start of a deployed model).
        Some(vocab) if !cfg.data.given() => {
            progress
                .line("no --text given: the loaded model only generates (give --text to score it)");
            Text {
                vocab,
                split: None,
                chars: 0,
                files: Vec::new(),
            }
        }
        vocab => read_text(&cfg, vocab, progress)?,
    };
    text.vocab.encode(&gen.prompt, "--prompt")?; // refused before training, not after
    let mut cfg = cfg;
    cfg.model.vocab_size = text.vocab.len() as i64;

    tch::manual_seed(cfg.train.seed as i64);
    let mut vs = nn::VarStore::new(tch::Device::Cpu);
    let mut model = Gpt::new(&vs.root(), &cfg.model)?;
    vs.set_device(device);
    let parameters: i64 = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    progress.line(model_line(&cfg.model, parameters, device));
    let (training, mut int8) = match &opts.load {
        Some(path) => {
            let scheme = opts.quantize.scheme();
            let loaded = crate::quantize::load(&mut vs, &mut model, path, None, scheme)?;
            if let (Some(save), Some(_)) = (&opts.save, &loaded.int8) {
                bail!(
                    "--save {} writes float32 weights; the model runs with int8 weights: write \
                     them with --save-quantized PATH",
                    save.display()
                );
            }
            for note in loaded.notes {
                progress.line(note);
            }
            progress.line(loaded.line);
            (None, loaded.int8)
        }
        None => {
            let split = text
                .split
                .as_ref()
                .context("a training run reads its text")?;
            let record = train::train(&model, &vs, split, &cfg.train, progress)?;
            (Some(record), None)
        }
    };
    if let Some(path) = &opts.save {
        checkpoint::save_with_config(&vs, path, &cfg)?;
        crate::io::write_json(&vocab_path(path), &text.vocab)?;
    }
    if let Some(path) = &opts.quantize.save_quantized {
        if int8.is_none() {
            let q = crate::quantize::quantize_model(&vs, &mut model, None)?;
            progress.line(format!("quantized: {}", q.summary()));
            int8 = Some(q);
        }
        let int8 = int8.as_ref().context("quantized above")?;
        println!("{}", crate::quantize::save(&vs, int8, path, &cfg)?);
        crate::io::write_json(&vocab_path(path), &text.vocab)?;
    }
    if let Some(path) = &opts.export_torchscript {
        let input = trace_input(&cfg.model, &text.vocab, device);
        let forward = |x: &tch::Tensor| nn::ModuleT::forward_t(&model, x, false);
        let export = crate::torchscript::export(&vs, &forward, &input, "transformer_lm", path)?;
        println!("{export}");
    }
    let report = score(&model, &text, gen, device, (cfg, parameters, training))?;
    if let (Some(path), Some(t), Some(b)) = (&opts.plot, &report.training, &report.baselines) {
        crate::plot::write_svg(path, &learning_curves(t, b))?;
        println!("learning curves: {}", path.display());
    }
    if let Some(path) = &opts.save {
        println!(
            "saved {} (config.json, vocab.json beside it)",
            path.display()
        );
    }
    if let Some(path) = &opts.metrics_json {
        crate::io::write_metrics_json(path, &report)?;
    }
    Ok(report)
}

/// What the GPT is traced at by `--export-torchscript`: one block of token
/// ids `[1, block_size]` (`i mod vocab_size`), with the vocabulary.
pub fn trace_input(
    model: &crate::models::GptConfig,
    vocab: &CharVocab,
    device: tch::Device,
) -> crate::torchscript::TraceInput {
    let ids = tch::Tensor::arange(model.block_size, (tch::Kind::Int64, device))
        .remainder(model.vocab_size)
        .unsqueeze(0); // [1, block]
    crate::torchscript::TraceInput {
        example: ids,
        input: format!(
            "[1, {}] int64 token ids: the index of each character in settings.vocab \
             (characters outside it have no id)",
            model.block_size
        ),
        output: format!(
            "[1, {}, {}] logits of the next character at every position",
            model.block_size, model.vocab_size
        ),
        settings: serde_json::json!({
            "vocab": vocab.chars.iter().collect::<String>(),
            "block_size": model.block_size,
        }),
        prepare: None,
    }
}

/// Reads `--text`, builds (or takes the saved) vocabulary and splits the ids.
fn read_text(cfg: &Config, vocab: Option<CharVocab>, progress: Progress) -> Result<Text> {
    let (corpus, notes) = corpus::read(cfg)?;
    for note in notes {
        progress.line(note);
    }
    let vocab = vocab.unwrap_or_else(|| CharVocab::from_text(&corpus.text));
    let ids = vocab.encode(&corpus.text, "the text")?;
    progress.line(format!(
        "text: {} characters from {} file(s), vocabulary of {} characters; {:.0}% for validation",
        ids.len(),
        corpus.files.len(),
        vocab.len(),
        cfg.data.val_fraction * 100.0
    ));
    let split = TokenSplit::new(&ids, cfg.data.val_fraction, cfg.model.block_size)?;
    Ok(Text {
        vocab,
        split: Some(split),
        chars: ids.len(),
        files: corpus.files,
    })
}

/// The two panels of `--plot`: loss by step (train and validation windows,
/// the baselines as flat lines), and the learning rate.
fn learning_curves(t: &TrainRecord, b: &Baselines) -> [crate::plot::Panel; 2] {
    use crate::plot::{Line, Panel};
    let line = |label: &str, f: &dyn Fn(&EvalRecord) -> f64| Line {
        label: label.to_string(),
        points: t.evals.iter().map(|e| (e.step as f64, f(e))).collect(),
    };
    let flat = |label: &str, y: f64| line(label, &|_| y);
    let loss = Panel {
        title: "transformer_lm: loss per character (nats)".into(),
        x_label: "optimizer step".into(),
        y_label: "cross-entropy".into(),
        lines: vec![
            line("train", &|e| e.train.loss),
            line("validation", &|e| e.val.loss),
            flat("bigram (validation text)", b.bigram.loss),
            flat("unigram (validation text)", b.unigram.loss),
        ],
        log_y: false,
        dots: true,
    };
    let lr = Panel {
        title: "learning rate (warm-up, cosine decay)".into(),
        x_label: "optimizer step".into(),
        y_label: "lr".into(),
        lines: vec![line("lr of the last step", &|e| e.lr)],
        log_y: false,
        dots: true,
    };
    [loss, lr]
}

fn model_line(m: &crate::models::GptConfig, parameters: i64, device: tch::Device) -> String {
    format!(
        "model: GPT, {} layers × {} heads × {} wide, block {}, {parameters} parameters, on {}",
        m.n_layer,
        m.n_head,
        m.n_embd,
        m.block_size,
        crate::device::name(device)
    )
}

/// The configuration and vocabulary saved beside the checkpoint `path` by
/// `--save` (`config.json`, `vocab.json`); errors name the missing file.
pub(crate) fn read_saved(path: &Path) -> Result<(Config, CharVocab)> {
    let saved: Config = checkpoint::read_config(path)?.with_context(|| {
        format!(
            "{} has no config.json beside it: transformer_lm needs the model's shape and vocabulary \
             saved with --save",
            path.display()
        )
    })?;
    let vocab_file = vocab_path(path);
    let text = std::fs::read_to_string(&vocab_file).with_context(|| {
        format!(
            "{} is not a transformer_lm checkpoint: it has no vocab.json beside it ({})",
            path.display(),
            vocab_file.display()
        )
    })?;
    let vocab: CharVocab = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a vocabulary file", vocab_file.display()))?;
    Ok((saved, vocab))
}

/// `--load`: the saved model's configuration and vocabulary; the text options
/// stay the command line's (the text scored may be another), and so does the
/// seed (it seeds the sampling).
fn loaded_config(cli: &Config, path: &Path) -> Result<(Config, Option<CharVocab>)> {
    let (saved, vocab) = read_saved(path)?;
    let cfg = Config {
        data: cli.data.clone(),
        train: LmTrainConfig {
            seed: cli.train.seed,
            ..saved.train.clone()
        },
        ..saved
    };
    Ok((cfg, Some(vocab)))
}

fn score(
    model: &Gpt,
    text: &Text,
    gen: &GenerateConfig,
    device: tch::Device,
    (config, parameters, training): (Config, i64, Option<TrainRecord>),
) -> Result<Report> {
    let block = model.config().block_size;
    let scores = text.split.as_ref().map(|split| {
        let val = Score::new(eval::full_text_loss(model, &split.val, block, device));
        let baselines = eval::baselines(&split.train, &split.val, text.vocab.len() as i64);
        (val, baselines)
    });
    if let Some((val, baselines)) = scores {
        print_scores(val, baselines, parameters, training.as_ref(), &config.train);
    }
    let chars = if training.is_some() {
        SAMPLE_AFTER_TRAINING
    } else {
        gen.generate
    };
    let samples = generate::generate(model, &text.vocab, gen, config.train.seed, chars, device)?;
    Ok(Report {
        config,
        generation: gen.clone(),
        files: text.files.clone(),
        text_chars: text.chars,
        vocab_size: text.vocab.len(),
        parameters,
        training,
        val: scores.map(|s| s.0),
        baselines: scores.map(|s| s.1),
        samples,
    })
}

fn print_scores(
    val: Score,
    baselines: Baselines,
    parameters: i64,
    training: Option<&TrainRecord>,
    train: &LmTrainConfig,
) {
    if let Some(t) = training {
        println!(
            "trained {} steps in {:.1} s ({:.1} ms/step); gradient clipping (--clip-grad-norm {}): \
             {} of {} steps clipped",
            t.steps,
            t.train_seconds,
            1000.0 * t.train_seconds / t.steps.max(1) as f64,
            train.clip_grad_norm,
            t.clipped_steps,
            t.steps
        );
    }
    println!("validation text, every character ({parameters} parameters):");
    println!(
        "  {:<26} {:>8} {:>11} {:>10}",
        "", "loss", "perplexity", "bits/char"
    );
    for (name, s) in [
        ("GPT", val),
        ("bigram (train counts)", baselines.bigram),
        ("unigram (train counts)", baselines.unigram),
    ] {
        println!(
            "  {name:<26} {:>8.4} {:>11.2} {:>10.3}",
            s.loss, s.perplexity, s.bits_per_char
        );
    }
}
