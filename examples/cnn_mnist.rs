//! The tutorial's CNN (section 4.1) trained on the bundled MNIST.
//!
//! ```text
//! cargo run --release --example cnn_mnist                     # the tutorial's settings
//! cargo run --release --example cnn_mnist -- --no-logit-relu --optimizer adam --epochs 3
//! cargo run --release --example cnn_mnist -- --load runs/cnn/model.safetensors --eval-only
//! ```

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use tchport::device::DeviceChoice;
use tchport::optim::OptimizerKind;
use tchport::tasks::mnist::{self, MnistConfig};
use tchport::tasks::RunOptions;

/// Train the tutorial's CNN (conv 1→32, conv 32→64, fc 3136→10) on MNIST and
/// report test accuracy, macro F1 and the confusion matrix.
///
/// Defaults reproduce the tutorial: SGD, lr 0.001, no momentum, 10 epochs,
/// ReLU on the logits; batch 64 where the tutorial is silent.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Images per mini-batch (the last, smaller batch is kept).
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.001)]
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
    /// Seed of the initial weights and of the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to run; `cuda` fails clearly when no GPU is usable.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// Folder with the four MNIST IDX files (raw or .gz); Fashion-MNIST works too.
    #[arg(long, default_value = "data/mnist")]
    data_dir: PathBuf,
    /// Train on the first N training images only (quick runs).
    #[arg(long)]
    train_limit: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Normalise pixels with MNIST's mean/std (0.1307, 0.3081) after scaling to [0, 1].
    #[arg(long)]
    normalize: bool,
    /// Drop the tutorial's ReLU on the logits (the usual CNN; learns faster).
    #[arg(long)]
    no_logit_relu: bool,
    /// Save the final weights (safetensors; config.json and train_state.json are
    /// written beside it). A --resume run without --save saves over its checkpoint.
    #[arg(long, value_name = "PATH")]
    save: Option<PathBuf>,
    /// Start from these weights (safetensors, from Rust or PyTorch).
    #[arg(long, value_name = "PATH")]
    load: Option<PathBuf>,
    /// Continue an interrupted or checkpointed run from this checkpoint, with
    /// its saved configuration (config.json), epoch count and batch order.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["load", "eval_only"])]
    resume: Option<PathBuf>,
    /// Write a checkpoint (weights, config.json, train_state.json) every N
    /// epochs, to --save or runs/cnn_mnist/checkpoint.safetensors. Ctrl-C
    /// always writes one there before exiting.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_every: Option<u64>,
    /// Only evaluate the weights given by --load.
    #[arg(long, requires = "load")]
    eval_only: bool,
    /// Write the per-epoch and final metrics as JSON.
    #[arg(long, value_name = "PATH")]
    metrics_json: Option<PathBuf>,
    /// No progress bars or per-epoch lines (the final report is still printed).
    #[arg(long)]
    quiet: bool,
}

fn main() {
    tchport::cli::run(|| train(Args::parse()));
}

fn train(args: Args) -> Result<()> {
    let mut cfg = MnistConfig::default();
    cfg.model.logit_relu = !args.no_logit_relu;
    cfg.optim.optimizer = args.optimizer;
    cfg.optim.lr = args.lr;
    cfg.optim.momentum = args.momentum;
    cfg.optim.weight_decay = args.weight_decay;
    cfg.train.epochs = args.epochs;
    cfg.train.batch_size = args.batch_size;
    cfg.train.seed = args.seed;
    cfg.data_dir = args.data_dir;
    cfg.normalize = args.normalize;
    cfg.train_limit = args.train_limit;
    cfg.test_limit = args.test_limit;
    let opts = RunOptions {
        device: args.device,
        save: args.save,
        load: args.load,
        resume: args.resume,
        checkpoint_every: args.checkpoint_every.map(|n| n as usize),
        eval_only: args.eval_only,
        metrics_json: args.metrics_json,
        quiet: args.quiet,
    };
    let report = mnist::run(&cfg, &opts)?;
    mnist::print_report(&report);
    Ok(())
}
