//! A GPT-style character language model (nanoGPT's model and CPU recipe)
//! pre-trained on Shakespeare's plays, then writing text.
//!
//! ```text
//! cargo run --release --example transformer_lm                        # 2000 steps, ~10 min on 2 cores
//! cargo run --release --example transformer_lm -- --max-steps 200 --save runs/lm/model.safetensors
//! cargo run --release --example transformer_lm -- --load runs/lm/model.safetensors --generate 300 \
//!     --prompt "ROMEO." --temperature 0.8
//! cargo run --release --example transformer_lm -- --text my_notes/ --val-fraction 0.2
//! ```

use tchport::device::DeviceChoice;
use tchport::tasks::transformer_lm::{self, Config, GenerateConfig, LmTask, RunOptions};

/// Pre-train a small GPT on unlabelled text (default: the 42 plays fetched by
/// scripts/setup.sh), report loss, perplexity and bits per character on the
/// held-out text against the unigram and bigram baselines, and write a
/// sample.
#[derive(clap::Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    cfg: Config,
    #[command(flatten)]
    gen: GenerateConfig,
    /// Where to run; `cuda` fails clearly when no GPU is usable.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// libtorch's intra-op CPU threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    threads: Option<i32>,
    /// Save the weights (safetensors) with config.json and vocab.json beside them.
    #[arg(long, value_name = "PATH")]
    save: Option<std::path::PathBuf>,
    /// Load a model saved with --save instead of training (its shape and
    /// vocabulary come from the files beside it); then score and generate.
    #[arg(long, value_name = "PATH")]
    load: Option<std::path::PathBuf>,
    /// Write the evaluations and final scores as JSON.
    #[arg(long, value_name = "PATH")]
    metrics_json: Option<std::path::PathBuf>,
    /// No progress bar or per-evaluation lines (the report is still printed).
    #[arg(long)]
    quiet: bool,
}

fn main() {
    let args: Args = clap::Parser::parse();
    tchport::cli::run(|| {
        if let Some(n) = args.threads {
            tch::set_num_threads(n);
        }
        let opts = RunOptions {
            device: args.device,
            save: args.save,
            load: args.load,
            metrics_json: args.metrics_json,
            quiet: args.quiet,
        };
        match args.cfg.task {
            LmTask::Lm => transformer_lm::run(&args.cfg, &args.gen, &opts).map(|_| ()),
            LmTask::Classify => transformer_lm::finetune::run(&args.cfg, &opts).map(|_| ()),
        }
    });
}
