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

use tchport::cli;
use tchport::session;
use tchport::tasks::rnn_series::{self, RnnSeries};

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
    /// With --load and --forecast: write the forecast as CSV (`step,value`).
    #[arg(long, value_name = "PATH.csv", requires = "forecast")]
    forecast_csv: Option<std::path::PathBuf>,
    /// Write an SVG of the test truth against the predictions and of the loss per epoch.
    #[arg(long, value_name = "PATH.svg")]
    plot: Option<std::path::PathBuf>,
}

fn main() {
    let cli::Parsed { args, config, opts } = cli::parse::<Args, rnn_series::Config>();
    cli::run(|| {
        if opts.load.is_some() && config.forecast > 0 && !opts.eval_only {
            let report = rnn_series::forecast_only(&config, &opts, args.forecast_csv.as_deref())?;
            print!("{report}");
            return Ok(());
        }
        session::execute(&RnnSeries { plot: args.plot }, &config, &opts)
    });
}
