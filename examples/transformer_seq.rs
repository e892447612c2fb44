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

use tchport::cli;
use tchport::session;
use tchport::tasks::transformer_seq::{self, TransformerSeq};

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
    /// Draw the last layer's attention weights per head for the first test
    /// sequence as an SVG heatmap (--arch transformer).
    #[arg(long, value_name = "PATH")]
    attention: Option<std::path::PathBuf>,
}

fn main() {
    let cli::Parsed { args, config, opts } = cli::parse::<Args, transformer_seq::Config>();
    let task = TransformerSeq {
        attention: args.attention,
    };
    cli::run(|| session::execute(&task, &config, &opts));
}
