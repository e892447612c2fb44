//! The configuration of `transformer_lm`, declared once: every field is a
//! command-line flag (its doc comment the `--help` text, its default from the
//! section's `Default`) and a field of the `config.json` written beside a
//! checkpoint.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::models::GptConfig;
use crate::optim::{OptimConfig, OptimizerKind};

/// What a run does (`--task`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LmTask {
    /// Pre-train the language model on unlabelled text, then write a sample.
    #[default]
    Lm,
    /// Fine-tune a classifier on the rated movie-review sentences
    /// (`--init-from` a saved language model, or from scratch).
    Classify,
}

/// How the classifier reads a sentence's final hidden states (`--pooling`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The last character's (GPT-1's, Radford et al. 2018): under causal
    /// attention the only position that has seen the whole sentence.
    #[default]
    Last,
    /// The mean over the sentence's characters (padding excluded).
    Mean,
}

/// The whole configuration (`config.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct Config {
    /// Pre-train a language model, or fine-tune a classifier.
    #[arg(long, value_enum, default_value_t = LmTask::default())]
    pub task: LmTask,
    /// The text.
    #[command(flatten)]
    pub data: TextConfig,
    /// The GPT's shape.
    #[command(flatten)]
    pub model: GptConfig,
    /// Optimisation.
    #[command(flatten)]
    pub train: LmTrainConfig,
    /// Fine-tuning (`--task classify`).
    #[command(flatten)]
    pub classify: ClassifyConfig,
}

/// `--task classify`: the labelled sentences and the fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct ClassifyConfig {
    /// The rated sentences (`id TAB rating TAB sentence`; positive above 0).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "data/text/movie_reviews.txt"
    )]
    pub sentences: PathBuf,
    /// Start the backbone from this language model (a transformer_lm --save);
    /// its shape and vocabulary come with it. Without it: random initialisation.
    #[arg(long, value_name = "PATH")]
    pub init_from: Option<PathBuf>,
    /// Keep these parameters fixed (comma-separated name prefixes: `transformer`
    /// freezes the whole backbone, `transformer.wte,transformer.h.0` the
    /// embeddings and the first block): no gradient, not in the optimizer.
    #[arg(long, value_name = "PREFIX,...", value_delimiter = ',')]
    pub freeze: Vec<String>,
    /// Re-initialise these backbone parameters after --init-from (PyTorch's
    /// init for the seed), e.g. `transformer.h.3` for the last block.
    #[arg(
        long,
        value_name = "PREFIX,...",
        value_delimiter = ',',
        requires = "init_from"
    )]
    pub reset: Vec<String>,
    /// Learning rate of the parameters loaded by --init-from (the backbone);
    /// the classifier head and anything reset train at --lr. Both follow the
    /// same warm-up and cosine decay.
    #[arg(long, value_name = "LR", requires = "init_from")]
    pub lr_backbone: Option<f64>,
    /// How a sentence becomes one vector for the head: its last character's
    /// final hidden state (GPT-1), or the mean over its characters.
    #[arg(long, value_enum, default_value_t = Pooling::default())]
    pub pooling: Pooling,
    /// Passes over the training sentences.
    #[arg(long, value_name = "N", default_value_t = ClassifyConfig::default().epochs)]
    pub epochs: usize,
    /// Train on at most N sentences (a seeded random subset of the training split).
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Seed of the fixed 80/10/10 split.
    #[arg(long, value_name = "N", default_value_t = ClassifyConfig::default().data_seed)]
    pub data_seed: u64,
    /// Your own labelled sentences instead of the movie reviews: a CSV with a
    /// header (delimiter detected; quotes, multi-line cells, a byte-order mark,
    /// UTF-16 and gzip read), with --text-column and --label-column.
    #[arg(long, value_name = "FILE", requires_all = ["text_column", "label_column"])]
    pub csv: Option<PathBuf>,
    /// Your own labelled texts as class folders (torchvision's ImageFolder
    /// layout): DIR/CLASS/*.txt, one text per file, classes in name order.
    #[arg(long, value_name = "DIR", conflicts_with = "csv")]
    pub folders: Option<PathBuf>,
    /// The CSV column holding the sentences: a header name or a 1-based index.
    #[arg(long, value_name = "NAME|N", requires = "csv")]
    pub text_column: Option<String>,
    /// The CSV column holding the classes (any text; sorted, numerically when
    /// all are numbers, they become class ids 0, 1, ...).
    #[arg(long, value_name = "NAME|N", requires = "csv")]
    pub label_column: Option<String>,
    /// The classes' names by class id, recorded when a classifier is saved
    /// (`--predict` prints them); empty for a language model.
    #[arg(skip)]
    pub class_names: Vec<String>,
}

impl ClassifyConfig {
    /// The fine-tuning settings in the form `crate::finetune` applies them.
    pub fn finetune(&self) -> crate::finetune::FinetuneConfig {
        crate::finetune::FinetuneConfig {
            init_from: self.init_from.clone(),
            freeze: self.freeze.clone(),
            reset: self.reset.clone(),
            lr_backbone: self.lr_backbone,
            strip_prefix: None,
        }
    }
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        Self {
            sentences: PathBuf::from("data/text/movie_reviews.txt"),
            init_from: None,
            freeze: Vec::new(),
            reset: Vec::new(),
            lr_backbone: None,
            pooling: Pooling::Last,
            epochs: 3,
            train_limit: None,
            data_seed: 0,
            csv: None,
            folders: None,
            text_column: None,
            label_column: None,
            class_names: Vec::new(),
        }
    }
}

/// Where the text comes from and how it is split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct TextConfig {
    /// UTF-8 text to train on: a file (`.gz` accepted) or a folder of `.txt`
    /// files, read in name order; repeatable [default: data/text/shakespeare,
    /// the 42 plays fetched by scripts/setup.sh].
    #[arg(long = "text", value_name = "PATH")]
    pub text: Vec<PathBuf>,
    /// Rated-sentence files (VADER's `id TAB rating TAB sentence`) read as
    /// unlabelled text, one sentence per line: ids and ratings are never
    /// read; repeatable. Added after --text.
    #[arg(long, value_name = "FILE")]
    pub text_sentences: Vec<PathBuf>,
    /// Add the training split of --sentences (the sentences `--task classify`
    /// trains on with the same --data-seed) as unlabelled text, and leave out
    /// of the whole text every line equal to one of its validation or test
    /// sentences (counted in the report).
    #[arg(long)]
    pub text_train_split: bool,
    /// Share of the text, at its end, held out for validation (nanoGPT's 0.1).
    #[arg(long, value_name = "F", default_value_t = TextConfig::default().val_fraction)]
    pub val_fraction: f64,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            text: Vec::new(),
            text_sentences: Vec::new(),
            text_train_split: false,
            val_fraction: 0.1,
        }
    }
}

impl TextConfig {
    /// Whether any text flag was given (--text, --text-sentences,
    /// --text-train-split).
    pub fn given(&self) -> bool {
        !(self.text.is_empty() && self.text_sentences.is_empty() && !self.text_train_split)
    }

    /// The `--text` paths, or the shipped Shakespeare when no text is given
    /// at all (neither --text, --text-sentences nor --text-train-split).
    pub fn paths(&self) -> Vec<PathBuf> {
        if !self.given() {
            vec![PathBuf::from("data/text/shakespeare")]
        } else {
            self.text.clone()
        }
    }
}

/// Step-based training with AdamW, warm-up and cosine decay (nanoGPT's
/// `train.py` and its `config/train_shakespeare_char.py`, at the CPU sizes of
/// nanoGPT's README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct LmTrainConfig {
    /// Optimizer steps (nanoGPT's max_iters; the cosine decay ends here).
    #[arg(long, value_name = "N", default_value_t = LmTrainConfig::default().max_steps)]
    pub max_steps: usize,
    /// Windows per step.
    #[arg(long, value_name = "N", default_value_t = LmTrainConfig::default().batch_size)]
    pub batch_size: i64,
    /// Steps between evaluations (and one at step 0 and at the end).
    #[arg(long, value_name = "N", default_value_t = LmTrainConfig::default().eval_every)]
    pub eval_every: usize,
    /// Random windows per split per evaluation (the same windows every time).
    #[arg(long, value_name = "N", default_value_t = LmTrainConfig::default().eval_batches)]
    pub eval_batches: usize,
    /// Peak learning rate, reached after the warm-up.
    #[arg(long, value_name = "LR", default_value_t = LmTrainConfig::default().lr)]
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    #[arg(long, value_name = "LR", default_value_t = LmTrainConfig::default().min_lr)]
    pub min_lr: f64,
    /// Steps of linear warm-up (nanoGPT's: lr·(step+1)/(N+1)).
    #[arg(long, value_name = "N", default_value_t = LmTrainConfig::default().warmup_steps)]
    pub warmup_steps: usize,
    /// AdamW β₂ (nanoGPT's 0.99 for small data; β₁ is 0.9).
    #[arg(long, value_name = "B", default_value_t = LmTrainConfig::default().beta2)]
    pub beta2: f64,
    /// AdamW's decoupled weight decay, applied to every parameter.
    #[arg(long, value_name = "WD", default_value_t = LmTrainConfig::default().weight_decay)]
    pub weight_decay: f64,
    /// Rescale the gradients to this total 2-norm when larger
    /// (`torch.nn.utils.clip_grad_norm_`); 0 turns clipping off.
    #[arg(long, value_name = "MAX", default_value_t = LmTrainConfig::default().clip_grad_norm)]
    pub clip_grad_norm: f64,
    /// Seed of the weights, the training windows, dropout and the sampling.
    #[arg(long, value_name = "N", default_value_t = LmTrainConfig::default().seed)]
    pub seed: u64,
}

impl Default for LmTrainConfig {
    fn default() -> Self {
        Self {
            max_steps: 2000,
            batch_size: 12,
            eval_every: 250,
            eval_batches: 20,
            lr: 1e-3,
            min_lr: 1e-4,
            warmup_steps: 100,
            beta2: 0.99,
            weight_decay: 0.1,
            clip_grad_norm: 1.0,
            seed: 1337,
        }
    }
}

impl LmTrainConfig {
    /// Checks the values a user can set.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size < 1 {
            bail!("--batch-size must be at least 1, got {}", self.batch_size);
        }
        if self.eval_every < 1 || self.eval_batches < 1 {
            bail!("--eval-every and --eval-batches must be at least 1");
        }
        if !(self.min_lr >= 0.0 && self.min_lr <= self.lr) {
            bail!(
                "--min-lr ({}) must be in [0, --lr ({})]",
                self.min_lr,
                self.lr
            );
        }
        if self.clip_grad_norm.is_nan() || self.clip_grad_norm < 0.0 {
            bail!(
                "--clip-grad-norm must be 0 (off) or positive, got {}",
                self.clip_grad_norm
            );
        }
        self.optim().validate()
    }

    /// The AdamW of these settings (β₁ 0.9, ε 1e-8).
    pub fn optim(&self) -> OptimConfig {
        OptimConfig {
            optimizer: OptimizerKind::AdamW,
            lr: self.lr,
            weight_decay: self.weight_decay,
            beta2: self.beta2,
            clip_grad_norm: (self.clip_grad_norm > 0.0).then_some(self.clip_grad_norm),
            ..OptimConfig::default()
        }
    }

    /// The learning rate of step `step` (0-based): nanoGPT's `get_lr` with
    /// `lr_decay_iters = max_steps`: `lr·(step+1)/(warmup+1)` during the
    /// warm-up, then a cosine from `lr` to `min_lr`.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / (self.warmup_steps + 1) as f64;
        }
        if step > self.max_steps || self.max_steps <= self.warmup_steps {
            return self.min_lr;
        }
        let ratio = (step - self.warmup_steps) as f64 / (self.max_steps - self.warmup_steps) as f64;
        let coeff = 0.5 * (1.0 + (std::f64::consts::PI * ratio).cos());
        self.min_lr + coeff * (self.lr - self.min_lr)
    }
}

/// Sampling: after training one sample of 500 characters; with `--load`,
/// `--generate N` characters, `--num-samples` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct GenerateConfig {
    /// With --load: characters to generate (streamed to stdout as they come).
    #[arg(long, value_name = "N", requires = "load", default_value_t = GenerateConfig::default().generate)]
    pub generate: usize,
    /// Text the samples continue (its characters must be in the vocabulary).
    #[arg(long, value_name = "TEXT", default_value_t = GenerateConfig::default().prompt)]
    pub prompt: String,
    /// Softmax temperature: below 1 sharper, above 1 more random; 0 is greedy
    /// decoding (always the likeliest character).
    #[arg(long, value_name = "T", default_value_t = GenerateConfig::default().temperature)]
    pub temperature: f64,
    /// Sample only among the K likeliest characters (K ≥ the vocabulary: all).
    #[arg(long, value_name = "K", default_value_t = GenerateConfig::default().top_k)]
    pub top_k: i64,
    /// Nucleus sampling: only among the likeliest characters whose
    /// probabilities add up to P (1: off).
    #[arg(long, value_name = "P", default_value_t = GenerateConfig::default().top_p)]
    pub top_p: f64,
    /// Independent samples (one after the other, from one seeded generator).
    #[arg(long, value_name = "K", default_value_t = GenerateConfig::default().num_samples)]
    pub num_samples: usize,
}

impl Default for GenerateConfig {
    /// nanoGPT's `sample.py`: temperature 0.8, top-k 200, start "\n", one sample.
    fn default() -> Self {
        Self {
            generate: 500,
            prompt: "\n".into(),
            temperature: 0.8,
            top_k: 200,
            top_p: 1.0,
            num_samples: 1,
        }
    }
}

impl GenerateConfig {
    /// Checks the values a user can set.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            bail!(
                "--temperature must be 0 (greedy) or positive, got {}",
                self.temperature
            );
        }
        if self.top_k < 1 {
            bail!(
                "--top-k must be at least 1, got {} (leave it out for nanoGPT's 200; a K as large as \
                 the vocabulary keeps every character)",
                self.top_k
            );
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            bail!("--top-p must be in (0, 1], got {}", self.top_p);
        }
        if self.num_samples < 1 {
            bail!("--num-samples must be at least 1");
        }
        if self.prompt.is_empty() {
            bail!("--prompt must not be empty (the model needs one character to start from)");
        }
        Ok(())
    }
}
