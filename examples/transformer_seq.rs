//! The tutorial's section 4.3 sequence model next to a real Transformer encoder,
//! on one sequence task (input size 10, one target per time step).
//!
//! ```text
//! cargo run --release --example transformer_seq                    # transformer on sunspots
//! cargo run --release --example transformer_seq -- --arch lstm     # the tutorial's LSTM
//! cargo run --release --example transformer_seq -- --task recall --optimizer adam --lr 0.001 \
//!     --epochs 30 --attention runs/attention.svg
//! ```

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use tchport::cli::{RunArgs, TuneArgs};
use tchport::data::series::MissingPolicy;
use tchport::optim::OptimizerKind;
use tchport::tasks::sequence::{self, Arch, SeqTask, SequenceConfig};

/// Train a Transformer encoder (`--arch transformer`) or the tutorial's
/// LSTM(10, 50) + Linear(50, 1) (`--arch lstm`) to predict one value per time
/// step, and report test MSE/RMSE/MAE against a baseline, parameters and
/// seconds per epoch.
///
/// Defaults follow the tutorial: MSE loss, SGD, lr 0.01, 100 epochs; batch 16
/// where it is silent.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Model.
    #[arg(long, value_enum, default_value_t = Arch::Transformer)]
    arch: Arch,
    /// Data: a CSV series (previous 10 values → next value at every step) or
    /// the synthetic delayed-recall problem (target = feature 0 from --delay steps back).
    #[arg(long, value_enum, default_value_t = SeqTask::Series)]
    task: SeqTask,
    /// Steps per sequence [default: 32 for series, 2 × --delay for recall].
    #[arg(long)]
    seq_len: Option<usize>,
    /// Transformer width.
    #[arg(long, default_value_t = 64)]
    d_model: i64,
    /// Attention heads (must divide --d-model).
    #[arg(long, default_value_t = 4)]
    heads: i64,
    /// Encoder layers.
    #[arg(long, default_value_t = 2)]
    layers: i64,
    /// Feed-forward width of each encoder layer.
    #[arg(long, default_value_t = 128)]
    ff_dim: i64,
    /// Transformer dropout (position encoding, attention weights, residual branches).
    #[arg(long, default_value_t = 0.1)]
    dropout: f64,
    /// Causal mask: step t attends only to steps ≤ t. On by default for
    /// --task series, where the next step's input holds this step's target.
    #[arg(long, conflicts_with = "no_causal")]
    causal: bool,
    /// No causal mask (for --task series this lets the model read the answer).
    #[arg(long)]
    no_causal: bool,
    /// LSTM hidden size (the tutorial's 50).
    #[arg(long, default_value_t = 50)]
    hidden: i64,
    /// Passes over the training sequences.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Sequences per mini-batch.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    lr: f64,
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    optimizer: OptimizerKind,
    /// SGD momentum (0 = plain SGD, as in the tutorial).
    #[arg(long, default_value_t = 0.0)]
    momentum: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Seed of the initial weights, dropout and batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CSV file of --task series (a header line is required).
    #[arg(long, default_value = "data/series/sunspots.csv")]
    csv: PathBuf,
    /// Column of the values in --csv.
    #[arg(long, default_value = "SUNACTIVITY")]
    column: String,
    /// Empty or non-numeric cells in --csv.
    #[arg(long, value_enum, default_value_t = MissingPolicy::Error)]
    missing: MissingPolicy,
    /// Recall: how many steps back the target is.
    #[arg(long, default_value_t = 32)]
    delay: usize,
    /// Recall: training sequences.
    #[arg(long, default_value_t = 2000)]
    train_sequences: usize,
    /// Recall: validation sequences (scored after every epoch).
    #[arg(long, default_value_t = 500)]
    val_sequences: usize,
    /// Recall: test sequences.
    #[arg(long, default_value_t = 500)]
    test_sequences: usize,
    /// Recall: seed of the synthetic data.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
    /// Draw the last layer's attention weights per head for the first test
    /// sequence as an SVG heatmap (--arch transformer).
    #[arg(long, value_name = "PATH")]
    attention: Option<PathBuf>,
    #[command(flatten)]
    tune: TuneArgs,
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    tchport::cli::run(|| train(Args::parse()));
}

fn train(args: Args) -> Result<()> {
    let mut cfg = SequenceConfig::for_task(args.task);
    cfg.arch = args.arch;
    cfg.seq_len = args.seq_len;
    let t = &mut cfg.transformer;
    t.d_model = args.d_model;
    t.heads = args.heads;
    t.layers = args.layers;
    t.ff_dim = args.ff_dim;
    t.dropout = args.dropout;
    if args.causal {
        t.causal = true;
    }
    if args.no_causal {
        t.causal = false;
    }
    cfg.lstm.hidden_size = args.hidden;
    cfg.optim.optimizer = args.optimizer;
    cfg.optim.lr = args.lr;
    cfg.optim.momentum = args.momentum;
    cfg.optim.weight_decay = args.weight_decay;
    cfg.train.epochs = args.epochs;
    cfg.train.batch_size = args.batch_size;
    cfg.train.seed = args.seed;
    cfg.series.csv = args.csv;
    cfg.series.column = args.column;
    cfg.series.missing = args.missing;
    cfg.recall.delay = args.delay;
    cfg.recall.train = args.train_sequences;
    cfg.recall.val = args.val_sequences;
    cfg.recall.test = args.test_sequences;
    cfg.recall.data_seed = args.data_seed;
    cfg.tune = args.tune.into_config(cfg.train.epochs);
    let opts = args.run.into_options();
    let report = sequence::run(&cfg, &opts, args.attention.as_deref())?;
    sequence::print_report(&report);
    Ok(())
}
