//! The tutorial's CNN (section 4.1) trained on the bundled MNIST.
//!
//! ```text
//! cargo run --release --example cnn_mnist                     # the tutorial's settings
//! cargo run --release --example cnn_mnist -- --no-logit-relu --optimizer adam --epochs 3
//! cargo run --release --example cnn_mnist -- --load runs/cnn/model.safetensors --eval-only
//! cargo run --release --example cnn_mnist -- --folds 5 --train-limit 6000 --epochs 2
//! cargo run --release --example cnn_mnist -- --load runs/cnn/model.safetensors --predict my_digits/ --show sheet.png
//! cargo run --release --example cnn_mnist -- --load runs/cnn/model.safetensors --predict test.csv --submission submission.csv
//! # transfer: pre-train on digits 0-4, fine-tune a new head on 100 images of 5-9
//! cargo run --release --example cnn_mnist -- --digits 0-4 --no-logit-relu --save runs/pre/m.safetensors
//! cargo run --release --example cnn_mnist -- --digits 5-9 --no-logit-relu --train-limit 100 \
//!     --init-from runs/pre/m.safetensors --reset fc --freeze conv
//! ```

use std::path::PathBuf;

use anyhow::Result;
use tchport::cli::{RunArgs, TrainArgs, TuneArgs};
use tchport::predict::{PredictConfig, Preprocess};
use tchport::session;
use tchport::tasks::cnn_mnist::{self, CnnMnist, MnistConfig};

/// Train the tutorial's CNN (conv 1→32, conv 32→64, fc 3136→10) on MNIST and
/// report test accuracy, macro F1 and the confusion matrix.
///
/// Defaults reproduce the tutorial: SGD, lr 0.001, no momentum, 10 epochs,
/// ReLU on the logits; batch 64 where the tutorial is silent.
#[derive(clap::Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    train: TrainArgs,
    /// Folder with the four MNIST IDX files (raw or .gz); Fashion-MNIST works too.
    /// Without IDX files, MNIST as CSV: mnist_train.csv + mnist_test.csv, or
    /// Kaggle's train.csv (its last 1/7 is then the test set).
    #[arg(long, value_name = "DIR", default_value_os_t = MnistConfig::default().data_dir)]
    data_dir: PathBuf,
    /// Train on the first N training images only (quick runs).
    #[arg(long, value_name = "N")]
    train_limit: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long, value_name = "N")]
    test_limit: Option<usize>,
    /// Normalise pixels with MNIST's mean/std (0.1307, 0.3081) after scaling to [0, 1].
    #[arg(long)]
    normalize: bool,
    /// Drop the tutorial's ReLU on the logits (the usual CNN; learns faster).
    #[arg(long)]
    no_logit_relu: bool,
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
    /// Stratified K-fold cross-validation on the training images: K fresh
    /// models, held-out accuracy per fold and its mean ± std (no test set).
    #[arg(long, value_name = "K", alias = "kfold",
          conflicts_with_all = ["val_fraction", "save", "resume", "eval_only"])]
    folds: Option<usize>,
    /// Names of the classes, label 0 first, comma-separated (e.g. Fashion-MNIST's
    /// `T-shirt/top,Trouser,...`): used in the report, the confusion matrix, the
    /// JSON and by --predict's class folders. Default: the digits.
    #[arg(long, value_name = "NAME,...")]
    class_names: Option<String>,
    /// Classify these image files with the model of --load instead of training
    /// (repeatable; a file, or a folder searched recursively; sub-folders named
    /// after classes, as torchvision's ImageFolder, give labels to score against;
    /// or CSV files of MNIST rows, 784 pixels with or without a label first,
    /// as Kaggle's test.csv).
    #[arg(long, value_name = "PATH", requires = "load")]
    predict: Vec<PathBuf>,
    /// How --predict turns an image into the model's 28×28 input: `digit`
    /// (MNIST's own construction: crop the ink, fit 20×20, centre the mass),
    /// `resize` (whole image to 28×28) or `none` (already 28×28).
    #[arg(long, value_enum, default_value_t = PredictConfig::default().preprocess, requires = "predict")]
    preprocess: Preprocess,
    /// Write one picture (PNG, or SVG by extension) of every --predict input
    /// as the model saw it, with its prediction; wrong ones marked.
    #[arg(long, value_name = "PATH", requires = "predict")]
    show: Option<PathBuf>,
    /// Write the --predict answers as Kaggle's Digit Recognizer submission:
    /// `ImageId,Label`, ImageId from 1 in input order (e.g. the rows of
    /// Kaggle's test.csv); the per-image lines are then not printed.
    #[arg(long, value_name = "FILE", requires = "predict")]
    submission: Option<PathBuf>,
    #[command(flatten)]
    tune: TuneArgs,
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    let d = MnistConfig::default();
    let (args, explicit): (Args, _) = tchport::cli::parse(TrainArgs::defaults(&d.optim, &d.train));
    tchport::cli::run(|| train(args, explicit));
}

fn train(args: Args, explicit: Vec<String>) -> Result<()> {
    let mut cfg = MnistConfig::default();
    args.train.apply(&mut cfg.optim, &mut cfg.train);
    cfg.model.logit_relu = !args.no_logit_relu;
    cfg.data_dir = args.data_dir;
    cfg.normalize = args.normalize;
    cfg.train_limit = args.train_limit;
    cfg.test_limit = args.test_limit;
    if let Some(d) = &args.digits {
        let digits = cnn_mnist::parse_digits(d)?;
        cfg.model.num_classes = digits.len() as i64;
        cfg.digits = Some(digits);
    }
    if let Some(text) = &args.class_names {
        let count = text.split(',').count();
        cfg.class_names = Some(tchport::data::mnist::parse_class_names(text, count)?);
    }
    cfg.val_fraction = args.val_fraction;
    cfg.tune = args.tune.into_config(cfg.train.epochs);
    let mut opts = args.run.into_options();
    opts.explicit = explicit;
    opts.folds = args.folds;
    if args.predict.is_empty() {
        return session::execute(&CnnMnist, &cfg, &opts);
    }
    let predict = PredictConfig {
        paths: args.predict,
        preprocess: args.preprocess,
        show: args.show,
        submission: args.submission,
        batch_size: cfg.train.batch_size.max(256),
        ..PredictConfig::default()
    };
    print!("{}", cnn_mnist::predict(&cfg, &opts, &predict)?.predict);
    Ok(())
}
