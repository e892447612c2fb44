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

use tchport::cli;
use tchport::predict::{PredictConfig, Preprocess};
use tchport::session;
use tchport::tasks::cnn_mnist::{self, CnnMnist};

/// Train the tutorial's CNN (conv 1→32, conv 32→64, fc 3136→10) on MNIST and
/// report test accuracy, macro F1 and the confusion matrix.
///
/// Defaults reproduce the tutorial: SGD, lr 0.001, no momentum, 10 epochs,
/// ReLU on the logits; batch 64 where the tutorial is silent.
#[derive(clap::Parser, Debug)]
#[command(version)]
struct Args {
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
}

fn main() {
    let cli::Parsed { args, config, opts } = cli::parse::<Args, cnn_mnist::Config>();
    cli::run(|| {
        if args.predict.is_empty() {
            return session::execute(&CnnMnist, &config, &opts);
        }
        let predict = PredictConfig {
            paths: args.predict,
            preprocess: args.preprocess,
            show: args.show,
            submission: args.submission,
            batch_size: config.run.train.batch_size.max(256),
            ..PredictConfig::default()
        };
        print!("{}", cnn_mnist::predict(&config, &opts, &predict)?.predict);
        Ok(())
    });
}
