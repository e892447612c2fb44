//! The tutorial's CNN (section 4.1) trained on the bundled MNIST.
//!
//! ```text
//! cargo run --release --example cnn_mnist                     # the tutorial's settings
//! cargo run --release --example cnn_mnist -- --no-logit-relu --optimizer adam --epochs 3
//! cargo run --release --example cnn_mnist -- --load runs/cnn/model.safetensors --eval-only
//! # transfer: pre-train on digits 0-4, fine-tune a new head on 100 images of 5-9
//! cargo run --release --example cnn_mnist -- --digits 0-4 --no-logit-relu --save runs/pre/m.safetensors
//! cargo run --release --example cnn_mnist -- --digits 5-9 --no-logit-relu --train-limit 100 \
//!     --init-from runs/pre/m.safetensors --reset fc --freeze conv
//! ```

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use tchport::cli::RunArgs;
use tchport::optim::OptimizerKind;
use tchport::schedule::LrSchedule;
use tchport::tasks::mnist::{self, MnistConfig};

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
    #[command(flatten)]
    run: RunArgs,
    /// Keep only these digits, relabelled 0.. in the order given (the head gets
    /// one output per digit), e.g. `0-4`, `5-9` or `1,7`. Filters train and test
    /// before --train-limit/--test-limit.
    #[arg(long, value_name = "DIGITS")]
    digits: Option<String>,
    /// Hold out this fraction of the training images for validation
    /// (stratified by digit, seeded by --seed); validation loss and accuracy are
    /// printed every epoch and the test set is evaluated only at the end.
    #[arg(long, value_name = "F")]
    val_fraction: Option<f64>,
    /// Stop when the validation loss has not improved for PATIENCE epochs and
    /// keep the weights of the best epoch (needs --val-fraction).
    #[arg(long, value_name = "PATIENCE")]
    early_stopping: Option<usize>,
    /// Learning-rate schedule, stepped once per epoch like PyTorch's
    /// StepLR(--lr-step-size, --lr-gamma) / CosineAnnealingLR(T_max = --epochs, --lr-min).
    #[arg(long, value_enum)]
    lr_schedule: Option<ScheduleKind>,
    /// StepLR: epochs between decays.
    #[arg(long, default_value_t = 1)]
    lr_step_size: usize,
    /// StepLR: factor of each decay.
    #[arg(long, default_value_t = 0.7)]
    lr_gamma: f64,
    /// Cosine: the final learning rate (eta_min).
    #[arg(long, default_value_t = 0.0)]
    lr_min: f64,
    /// Start from the weights of this checkpoint (Rust or PyTorch safetensors)
    /// whose names and shapes match; the rest keep their fresh initialisation.
    /// Prints what was loaded, skipped and newly initialised.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["load", "resume"])]
    init_from: Option<PathBuf>,
    /// Keep these parameters fixed (comma-separated name prefixes, e.g. `conv`
    /// or `conv1,conv2.weight`): no gradient, not in the optimizer.
    #[arg(long, value_name = "PREFIX,...", value_delimiter = ',')]
    freeze: Vec<String>,
    /// Re-initialise these parameters after loading (PyTorch's init for the
    /// seed), e.g. `fc` for a new classification head.
    #[arg(long, value_name = "PREFIX,...", value_delimiter = ',')]
    reset: Vec<String>,
    /// Learning rate of the loaded, un-frozen parameters (the backbone); the
    /// reset / newly initialised ones train at --lr.
    #[arg(long, value_name = "LR")]
    lr_backbone: Option<f64>,
    /// Stratified K-fold cross-validation on the training images: K fresh
    /// models, held-out accuracy per fold and its mean ± std (no test set).
    #[arg(long, value_name = "K", conflicts_with_all = ["val_fraction", "save", "resume", "eval_only"])]
    kfold: Option<usize>,
}

/// `--lr-schedule` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ScheduleKind {
    /// StepLR.
    Step,
    /// CosineAnnealingLR.
    Cosine,
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
    if let Some(d) = &args.digits {
        let digits = mnist::parse_digits(d)?;
        cfg.model.num_classes = digits.len() as i64;
        cfg.digits = Some(digits);
    }
    cfg.val_fraction = args.val_fraction;
    cfg.early_stopping = args.early_stopping;
    cfg.lr_schedule = match args.lr_schedule {
        None => LrSchedule::Constant,
        Some(ScheduleKind::Step) => LrSchedule::Step {
            step_size: args.lr_step_size,
            gamma: args.lr_gamma,
        },
        Some(ScheduleKind::Cosine) => LrSchedule::Cosine {
            t_max: args.epochs,
            eta_min: args.lr_min,
        },
    };
    cfg.finetune.init_from = args.init_from;
    cfg.finetune.freeze = args.freeze;
    cfg.finetune.reset = args.reset;
    cfg.finetune.lr_backbone = args.lr_backbone;
    let opts = args.run.into_options();
    let report = mnist::run(&cfg, &opts)?;
    mnist::print_report(&report);
    Ok(())
}
