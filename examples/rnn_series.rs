//! The tutorial's RNN (section 4.2) on a real time series, with LSTM and GRU,
//! baselines, forecasts and plots.
//!
//! ```text
//! cargo run --release --example rnn_series                       # sunspots, the tutorial's settings
//! cargo run --release --example rnn_series -- --cell lstm --forecast 10 --plot runs/lstm.svg
//! cargo run --release --example rnn_series -- --synthetic sine
//! cargo run --release --example rnn_series -- --csv data/series/co2.csv --column co2 --missing interpolate
//! ```

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use tchport::cli::{RunArgs, TuneArgs};
use tchport::data::series::{MissingPolicy, SineConfig, SplitFractions};
use tchport::models::{CellKind, RnnConfig};
use tchport::optim::{OptimConfig, OptimizerKind};
use tchport::tasks::series::{self, SeriesConfig, Synthetic};
use tchport::train::LoopConfig;

/// Train the tutorial's RNN (recurrent layer, then a linear layer on the last
/// step) to predict a series from a window of its past values, and report test
/// MSE/RMSE/MAE against the persistence and training-mean baselines.
///
/// Defaults reproduce the tutorial: nn.RNN(1, 10) + Linear(10, 1), MSE, SGD,
/// lr 0.01, 100 epochs; on the bundled yearly sunspot numbers (1700–2008),
/// windows of 20 values, one step ahead, batch 16, split 70/15/15 in time
/// order, scaling fitted on the training part.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// CSV file with a header line.
    #[arg(long, default_value = "data/series/sunspots.csv")]
    csv: PathBuf,
    /// Column of the CSV holding the series (exact name, else ignoring case).
    #[arg(long, default_value = "SUNACTIVITY")]
    column: String,
    /// Empty or non-numeric cells: stop with an error, drop the row, or
    /// interpolate linearly (co2.csv needs interpolate or drop).
    #[arg(long, value_enum, default_value_t = MissingPolicy::Error)]
    missing: MissingPolicy,
    /// Use a generated series instead of the CSV (seeded by --seed).
    #[arg(long, value_enum)]
    synthetic: Option<Synthetic>,
    /// Points of the synthetic sine.
    #[arg(long, default_value_t = 1000)]
    sine_len: usize,
    /// Period of the synthetic sine, in steps.
    #[arg(long, default_value_t = 50.0)]
    sine_period: f64,
    /// Standard deviation of the Gaussian noise on the sine (amplitude 1).
    #[arg(long, default_value_t = 0.1)]
    sine_noise: f64,
    /// Past values per input window.
    #[arg(long, default_value_t = 20)]
    window: usize,
    /// Predict the value this many steps after the window's last value.
    #[arg(long, default_value_t = 1)]
    horizon: usize,
    /// Leading fraction of the series used for training.
    #[arg(long, default_value_t = 0.70)]
    train_frac: f64,
    /// Following fraction used for validation (the test part is the rest).
    #[arg(long, default_value_t = 0.15)]
    val_frac: f64,
    /// Recurrent cell: the tutorial's tanh RNN, LSTM or GRU.
    #[arg(long, value_enum, default_value_t = CellKind::Rnn)]
    cell: CellKind,
    /// Hidden units per recurrent layer.
    #[arg(long, default_value_t = 10)]
    hidden: i64,
    /// Stacked recurrent layers.
    #[arg(long, default_value_t = 1)]
    layers: i64,
    /// Passes over the training windows.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Windows per mini-batch (the last, smaller batch is kept).
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
    /// Seed of the initial weights, the batch order and the synthetic series.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Recursive forecast of this many values after the series' end (needs --horizon 1).
    #[arg(long, default_value_t = 0)]
    forecast: usize,
    /// Write an SVG of the test truth against the predictions and of the loss per epoch.
    #[arg(long, value_name = "PATH.svg")]
    plot: Option<PathBuf>,
    #[command(flatten)]
    tune: TuneArgs,
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    tchport::cli::run(|| train(Args::parse()));
}

fn train(args: Args) -> Result<()> {
    let defaults = SeriesConfig::default();
    let tune = args.tune.into_config(args.epochs);
    let cfg = SeriesConfig {
        model: RnnConfig {
            cell: args.cell,
            hidden: args.hidden,
            layers: args.layers,
            ..defaults.model
        },
        optim: OptimConfig {
            optimizer: args.optimizer,
            lr: args.lr,
            momentum: args.momentum,
            weight_decay: args.weight_decay,
        },
        train: LoopConfig {
            epochs: args.epochs,
            batch_size: args.batch_size,
            seed: args.seed,
            ..defaults.train
        },
        csv: args.csv,
        column: args.column,
        missing: args.missing,
        synthetic: args.synthetic,
        sine: SineConfig {
            len: args.sine_len,
            period: args.sine_period,
            noise: args.sine_noise,
        },
        window: args.window,
        horizon: args.horizon,
        split: SplitFractions {
            train: args.train_frac,
            val: args.val_frac,
        },
        forecast: args.forecast,
        tune,
    };
    let opts = args.run.into_options();
    let report = series::run(&cfg, &opts, args.plot.as_deref())?;
    series::print_report(&report);
    Ok(())
}
