//! Learning curves of several runs from their `--metrics-json` reports: one
//! SVG picture (a metric per epoch, training loss per epoch) and, with
//! `--table`, the same numbers as a Markdown table (`make optim-compare`).
//!
//! ```text
//! cargo run --release --example plot_curves -- runs/optim/curves.svg \
//!     "SGD=runs/optim/sgd.json" "Adam=runs/optim/adam.json" --table runs/optim/table.md
//! ```

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use tchport::io::write_text;
use tchport::plot::{curves, svg};

/// Draw the learning curves of several runs, each read from a `--metrics-json`
/// report of any example: the after-epoch metric `--metric` per epoch above,
/// the training loss per epoch (log scale) below, one line per run.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The SVG picture to write.
    #[arg(value_name = "OUT.svg")]
    out: PathBuf,
    /// The runs, in legend order: a label, `=`, and the run's --metrics-json report.
    #[arg(value_name = "LABEL=PATH.json", required = true, value_parser = run_spec)]
    runs: Vec<(String, PathBuf)>,
    /// After-epoch metric of the upper panel (cnn_mnist: `val acc` with
    /// --val-fraction, else `test acc`; the series examples: `val rmse`, `val loss`).
    #[arg(long, default_value = "val acc")]
    metric: String,
    /// Also write the numbers as a Markdown table here (and print it).
    #[arg(long, value_name = "OUT.md")]
    table: Option<PathBuf>,
}

fn run_spec(spec: &str) -> Result<(String, PathBuf), String> {
    curves::parse_spec(spec).map_err(|e| e.to_string())
}

fn main() {
    let args = Args::parse();
    tchport::cli::run(|| draw(&args));
}

fn draw(args: &Args) -> Result<()> {
    svg::check_path(&args.out)?;
    let runs = args
        .runs
        .iter()
        .map(|(label, path)| curves::read_run(label, path))
        .collect::<Result<Vec<_>>>()?;
    if let Some(path) = &args.table {
        let table = curves::markdown_table(&runs, &args.metric)?;
        write_text(path, &table)?;
        print!("{table}");
    }
    curves::write_curves(&args.out, &runs, &args.metric)?;
    match &args.table {
        Some(table) => println!("wrote {} and {}", table.display(), args.out.display()),
        None => println!("wrote {}", args.out.display()),
    }
    Ok(())
}
