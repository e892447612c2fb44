//! `peers`: the worker that times the project's three models in candle or burn,
//! answering the JSON cases of `bench/peers/bench_peers.py` (see `protocol`).
//!
//! ```text
//! bench/peers/target/release/peers --framework candle --threads 2 < cases.jsonl
//! bench/peers/target/release/peers --framework burn-ndarray --list-models
//! ```

mod positions;
mod protocol;
mod weights;
mod with_burn;
mod with_candle;

use anyhow::Result;
use clap::{Parser, ValueEnum};

/// Time the project's models in a pure-Rust framework, one JSON case per stdin line.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The framework (and backend) to run.
    #[arg(long, value_enum)]
    framework: FrameworkKind,
    /// Threads of the framework's pool (rayon's global pool, and
    /// `matrixmultiply`'s through MATMUL_NUM_THREADS, which the driver sets);
    /// 0 leaves the default (all CPUs).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print the models this build can time, one per line, and exit.
    #[arg(long)]
    list_models: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FrameworkKind {
    /// candle 0.9 on the CPU (default features: `gemm` for matrix products).
    Candle,
    /// burn 0.19 with its NdArray backend (default features: SIMD, multi-threads) and autodiff.
    BurnNdarray,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    if args.list_models {
        for m in protocol::MODELS {
            println!("{m}");
        }
        return Ok(());
    }
    if args.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build_global()?;
    }
    let threads = rayon::current_num_threads();
    match args.framework {
        FrameworkKind::Candle => protocol::serve(&with_candle::Candle, threads),
        FrameworkKind::BurnNdarray => protocol::serve(
            &with_burn::Burn::<with_burn::NdArrayAutodiff>::default(),
            threads,
        ),
    }
}
