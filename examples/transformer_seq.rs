//! The tutorial's section 4.3 sequence model next to a real Transformer encoder,
//! on one sequence task (input size 10, one target per time step).
//!
//! ```text
//! cargo run --release --example transformer_seq                    # transformer on sunspots
//! cargo run --release --example transformer_seq -- --arch lstm     # the tutorial's LSTM
//! cargo run --release --example transformer_seq -- --task recall --optimizer adam --lr 0.001 \
//!     --epochs 30 --attention runs/attention.svg
//! cargo run --release --example transformer_seq -- --folds 3 --epochs 20  # rolling origin
//! ```

use anyhow::Result;
use tchport::cli::{RunArgs, SeriesArgs, TrainArgs, TuneArgs};
use tchport::models::Arch;
use tchport::session;
use tchport::tasks::transformer_seq::{SequenceConfig, SequenceKind, TransformerSeq};

fn defaults() -> SequenceConfig {
    SequenceConfig::default()
}

/// Train a Transformer encoder (`--arch transformer`) or the tutorial's
/// LSTM(10, 50) + Linear(50, 1) (`--arch lstm`) to predict one value per time
/// step, and report test MSE/RMSE/MAE against a baseline, parameters and
/// seconds per epoch.
///
/// Defaults follow the tutorial: MSE loss, SGD, lr 0.01, 100 epochs; batch 16
/// where it is silent.
#[derive(clap::Parser, Debug)]
#[command(version)]
struct Args {
    /// Model.
    #[arg(long, value_enum, default_value_t = defaults().arch)]
    arch: Arch,
    /// Data: a CSV series (previous 10 values → next value at every step) or
    /// the synthetic delayed-recall problem (target = feature 0 from --delay steps back).
    #[arg(long, value_enum, default_value_t = defaults().task)]
    task: SequenceKind,
    /// Steps per sequence [default: 32 for series, 2 × --delay for recall].
    #[arg(long, value_name = "N")]
    seq_len: Option<usize>,
    /// Transformer width.
    #[arg(long, value_name = "N", default_value_t = defaults().transformer.d_model)]
    d_model: i64,
    /// Attention heads (must divide --d-model).
    #[arg(long, value_name = "N", default_value_t = defaults().transformer.heads)]
    heads: i64,
    /// Encoder layers.
    #[arg(long, value_name = "N", default_value_t = defaults().transformer.layers)]
    layers: i64,
    /// Feed-forward width of each encoder layer.
    #[arg(long, value_name = "N", default_value_t = defaults().transformer.ff_dim)]
    ff_dim: i64,
    /// Transformer dropout (position encoding, attention weights, residual branches).
    #[arg(long, value_name = "P", default_value_t = defaults().transformer.dropout)]
    dropout: f64,
    /// Causal mask: step t attends only to steps ≤ t. On by default for
    /// --task series, where the next step's input holds this step's target.
    #[arg(long, conflicts_with = "no_causal")]
    causal: bool,
    /// No causal mask (for --task series this lets the model read the answer).
    #[arg(long)]
    no_causal: bool,
    /// LSTM hidden size (the tutorial's 50).
    #[arg(long, value_name = "N", default_value_t = defaults().lstm.hidden_size)]
    hidden: i64,
    #[command(flatten)]
    train: TrainArgs,
    #[command(flatten)]
    series: SeriesArgs,
    /// Recall: how many steps back the target is.
    #[arg(long, value_name = "STEPS", default_value_t = defaults().recall.delay)]
    delay: usize,
    /// Recall: training sequences.
    #[arg(long, value_name = "N", default_value_t = defaults().recall.train)]
    train_sequences: usize,
    /// Recall: validation sequences (scored after every epoch).
    #[arg(long, value_name = "N", default_value_t = defaults().recall.val)]
    val_sequences: usize,
    /// Recall: test sequences.
    #[arg(long, value_name = "N", default_value_t = defaults().recall.test)]
    test_sequences: usize,
    /// Recall: seed of the synthetic data.
    #[arg(long, value_name = "N", default_value_t = defaults().recall.data_seed)]
    data_seed: u64,
    /// Draw the last layer's attention weights per head for the first test
    /// sequence as an SVG heatmap (--arch transformer).
    #[arg(long, value_name = "PATH")]
    attention: Option<std::path::PathBuf>,
    #[command(flatten)]
    tune: TuneArgs,
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    let d = defaults();
    let mut shown = TrainArgs::defaults(&d.optim, &d.train);
    shown.extend(SeriesArgs::defaults(&d.series));
    let (args, explicit): (Args, _) = tchport::cli::parse(shown);
    tchport::cli::run(|| train(args, explicit));
}

fn train(args: Args, explicit: Vec<String>) -> Result<()> {
    let mut cfg = SequenceConfig::for_task(args.task);
    args.train.apply(&mut cfg.optim, &mut cfg.train);
    args.series.apply(&mut cfg.series);
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
    cfg.recall.delay = args.delay;
    cfg.recall.train = args.train_sequences;
    cfg.recall.val = args.val_sequences;
    cfg.recall.test = args.test_sequences;
    cfg.recall.data_seed = args.data_seed;
    cfg.tune = args.tune.into_config(cfg.train.epochs);
    let mut opts = args.run.into_options();
    opts.explicit = explicit;
    opts.folds = args.series.folds;
    let task = TransformerSeq {
        attention: args.attention,
    };
    session::execute(&task, &cfg, &opts)
}
