//! The tutorial's RNN (section 4.2) on a real time series, with LSTM and GRU,
//! baselines, forecasts and plots.
//!
//! ```text
//! cargo run --release --example rnn_series                       # sunspots, the tutorial's settings
//! cargo run --release --example rnn_series -- --cell lstm --forecast 10 --plot runs/lstm.svg
//! cargo run --release --example rnn_series -- --synthetic sine
//! cargo run --release --example rnn_series -- --csv data/series/co2.csv --column co2 --missing interpolate
//! cargo run --release --example rnn_series -- --folds 4 --epochs 20
//! ```

use anyhow::Result;
use tchport::cli::{RunArgs, SeriesArgs, TrainArgs, TuneArgs};
use tchport::models::CellKind;
use tchport::session;
use tchport::tasks::rnn_series::{self, RnnSeries, SeriesConfig, Synthetic};

fn defaults() -> SeriesConfig {
    SeriesConfig::default()
}

/// Train the tutorial's RNN (recurrent layer, then a linear layer on the last
/// step) to predict a series from a window of its past values, and report test
/// MSE/RMSE/MAE against the persistence and training-mean baselines.
///
/// Defaults reproduce the tutorial: nn.RNN(1, 10) + Linear(10, 1), MSE, SGD,
/// lr 0.01, 100 epochs; on the bundled yearly sunspot numbers (1700–2008),
/// windows of 20 values, one step ahead, batch 16, split 70/15/15 in time
/// order, scaling fitted on the training part.
#[derive(clap::Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    series: SeriesArgs,
    /// Use a generated series instead of the CSV (seeded by --seed).
    #[arg(long, value_enum)]
    synthetic: Option<Synthetic>,
    /// Points of the synthetic sine.
    #[arg(long, value_name = "N", default_value_t = defaults().sine.len)]
    sine_len: usize,
    /// Period of the synthetic sine, in steps.
    #[arg(long, value_name = "STEPS", default_value_t = defaults().sine.period)]
    sine_period: f64,
    /// Standard deviation of the Gaussian noise on the sine (amplitude 1).
    #[arg(long, value_name = "STD", default_value_t = defaults().sine.noise)]
    sine_noise: f64,
    /// Past values per input window.
    #[arg(long, value_name = "N", default_value_t = defaults().window)]
    window: usize,
    /// Predict the value this many steps after the window's last value.
    #[arg(long, value_name = "N", default_value_t = defaults().horizon)]
    horizon: usize,
    /// Recurrent cell: the tutorial's tanh RNN, LSTM or GRU.
    #[arg(long, value_enum, default_value_t = defaults().model.cell)]
    cell: CellKind,
    /// Hidden units per recurrent layer.
    #[arg(long, value_name = "N", default_value_t = defaults().model.hidden)]
    hidden: i64,
    /// Stacked recurrent layers.
    #[arg(long, value_name = "N", default_value_t = defaults().model.layers)]
    layers: i64,
    #[command(flatten)]
    train: TrainArgs,
    /// Recursive forecast of this many values after the series' end (needs
    /// --horizon 1). With --load (and no --eval-only): only forecast, from the
    /// end of --csv, with the checkpoint's saved scaler; no training.
    #[arg(long, value_name = "N", default_value_t = defaults().forecast)]
    forecast: usize,
    /// With --load and --forecast: write the forecast as CSV (`step,value`).
    #[arg(long, value_name = "PATH.csv", requires = "forecast")]
    forecast_csv: Option<std::path::PathBuf>,
    /// Write an SVG of the test truth against the predictions and of the loss per epoch.
    #[arg(long, value_name = "PATH.svg")]
    plot: Option<std::path::PathBuf>,
    #[command(flatten)]
    tune: TuneArgs,
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    let d = defaults();
    let mut shown = TrainArgs::defaults(&d.optim, &d.train);
    shown.extend(SeriesArgs::defaults(&d.source));
    let (args, explicit): (Args, _) = tchport::cli::parse(shown);
    tchport::cli::run(|| train(args, explicit));
}

fn train(args: Args, explicit: Vec<String>) -> Result<()> {
    let mut cfg = defaults();
    args.train.apply(&mut cfg.optim, &mut cfg.train);
    args.series.apply(&mut cfg.source);
    cfg.model.cell = args.cell;
    cfg.model.hidden = args.hidden;
    cfg.model.layers = args.layers;
    cfg.synthetic = args.synthetic;
    cfg.sine.len = args.sine_len;
    cfg.sine.period = args.sine_period;
    cfg.sine.noise = args.sine_noise;
    cfg.window = args.window;
    cfg.horizon = args.horizon;
    cfg.forecast = args.forecast;
    cfg.tune = args.tune.into_config(cfg.train.epochs);
    let mut opts = args.run.into_options();
    opts.explicit = explicit;
    opts.folds = args.series.folds;
    if opts.load.is_some() && cfg.forecast > 0 && !opts.eval_only {
        let report = rnn_series::forecast_only(&cfg, &opts, args.forecast_csv.as_deref())?;
        print!("{report}");
        return Ok(());
    }
    session::execute(&RnnSeries { plot: args.plot }, &cfg, &opts)
}
