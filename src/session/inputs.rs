//! The settings that change what a model's inputs mean (`--normalize`,
//! `--digits`, `--class-names`, `--window`, `--horizon`, ...) come from the
//! `config.json` beside a checkpoint loaded for use (`--load`, with or
//! without `--eval-only`; `--resume` takes the whole saved configuration
//! anyway). A flag given explicitly that contradicts it is an error naming
//! both values. With `--init-from` (fine-tuning for a new task) the flags
//! rule, and the run says which of these settings differ. Without a
//! `config.json` (a PyTorch checkpoint) the flags rule. The model's options
//! (`--no-logit-relu`, `--cell`, `--d-model`, ...) likewise come from
//! `config.json` when none of their flags is given; given ones must match.

use anyhow::{bail, Result};

use super::{RunOptions, TaskConfig};
use crate::checkpoint;
use crate::train::Progress;

/// `cfg` with the input settings of the checkpoint `opts` loads, when it has
/// a `config.json`; notes for `--init-from`.
pub fn from_checkpoint<C: TaskConfig>(
    mut cfg: C,
    opts: &RunOptions,
    progress: Progress,
) -> Result<C> {
    if let (Some(path), None) = (&opts.load, &opts.resume) {
        if let Some(saved) = checkpoint::read_config::<C>(path)? {
            let config = checkpoint::config_path(path);
            for (flag, ours, theirs) in cfg.input_differences(&saved) {
                if opts.explicit.iter().any(|f| f == flag) {
                    bail!(
                        "{flag} {ours} contradicts the checkpoint: {} says {flag} {theirs} \
                         (drop {flag} to use the checkpoint's setting)",
                        config.display()
                    );
                }
                progress.line(format!(
                    "{flag} {theirs} (from {}; this run's default was {ours})",
                    config.display()
                ));
            }
            cfg.adopt_inputs(&saved);
            let given = cfg
                .model_flags()
                .iter()
                .any(|f| opts.explicit.iter().any(|e| e == f));
            if cfg.model_mismatch(&saved).is_some() && !given {
                cfg.adopt_model(&saved);
                progress.line(format!("model options from {}", config.display()));
            }
        }
    }
    if let Some(path) = &cfg.tune().finetune.init_from {
        if let Some(saved) = checkpoint::read_config::<C>(path)? {
            for (flag, ours, theirs) in cfg.input_differences(&saved) {
                progress.line(format!(
                    "note: {} was trained with {flag} {theirs}; this run uses {ours} (--init-from: the flags rule)",
                    path.display()
                ));
            }
        }
    }
    Ok(cfg)
}
