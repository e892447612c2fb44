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

use tchport::tasks::transformer_lm::predict::PredictInputs;
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
    #[command(flatten)]
    opts: RunOptions,
    /// libtorch's intra-op CPU threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    threads: Option<i32>,
    /// Classify this sentence with the classifier of --load (saved by --task
    /// classify --save) instead of training (repeatable): one line
    /// `label TAB probability TAB sentence` each.
    #[arg(long, value_name = "SENTENCE", requires = "load")]
    predict: Vec<String>,
    /// Classify every non-empty line of this UTF-8 file, after the --predict sentences.
    #[arg(long, value_name = "FILE", requires = "load")]
    predict_file: Option<std::path::PathBuf>,
}

fn main() {
    let Args {
        cfg,
        gen,
        opts,
        threads,
        predict,
        predict_file,
    } = clap::Parser::parse();
    tchport::cli::run(|| {
        if let Some(n) = threads {
            tch::set_num_threads(n);
        }
        if !predict.is_empty() || predict_file.is_some() {
            let inputs = PredictInputs {
                sentences: predict,
                file: predict_file,
            };
            return transformer_lm::predict::predict(&opts, &inputs).map(|_| ());
        }
        match cfg.task {
            LmTask::Lm => transformer_lm::run(&cfg, &gen, &opts).map(|_| ()),
            LmTask::Classify => transformer_lm::finetune::run(&cfg, &opts).map(|_| ()),
        }
    });
}
