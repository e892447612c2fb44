//! The one run path of every example, after burn's `training.rs`: a [`Task`]
//! supplies its data, model and scoring; [`run`] does the rest, once, for all
//! three examples:
//!
//! ```text
//! flags ─► Config (serde, Default = the example's defaults) + RunOptions
//!       ─► resolve (--resume's config.json) ─► validate ─► device
//!       ─► Task::load_data ─► seed ─► Task::build_model ─► --load / --resume / --init-from
//!       ─► header ─► optimizer + Trainer (schedule, early stopping, checkpoints, Ctrl-C)
//!       ─► fit (Task::after_epoch each epoch) ─► save ─► Task::evaluate
//!       ─► RunReport { config, RunSummary, Task::Results } ─► --metrics-json, Task::print
//! ```
//!
//! With `RunOptions::folds` the same steps train one fresh model per fold
//! ([`cross_validation`]).

pub mod config;
pub mod cross_validation;
mod inputs;
mod options;
mod report;
mod weights;

pub use config::TaskConfig;
pub use cross_validation::{CrossValidationReport, FoldResult};
pub use options::{RunOptions, TuneConfig};
pub use report::{RunReport, RunSummary};
pub use weights::{
    check_checkpoint_config, checkpointing, optimizer_and_trainer, parameter_count,
    prepare_weights, save_final, TrainerParts,
};

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use tch::{nn, Device, Tensor};

use crate::train::{EpochRecord, FitOutcome, Loss, Progress};

/// What one example supplies to the shared run path: its data, its model, what
/// it measures after each epoch and at the end, and how it prints its report.
pub trait Task {
    /// The example's name (`cnn_mnist`): messages and `runs/<name>/`.
    const NAME: &'static str;
    /// Everything that determines a run.
    type Config: TaskConfig;
    /// The prepared data (training set, validation and test parts).
    type Data;
    /// The model.
    type Model: nn::ModuleT;
    /// What the example reports beyond [`RunSummary`], flattened into the same JSON object.
    type Results: Serialize;

    /// Reads and prepares the data (errors name the file); tensors may be put
    /// on `device` already. Without `training` (`--eval-only`) only what the
    /// evaluation needs has to be read.
    fn load_data(&self, cfg: &Self::Config, device: Device, training: bool) -> Result<Self::Data>;
    /// Records in the configuration what was fitted on the data (a scaler),
    /// so that `config.json` carries it to a loaded model.
    fn fitted_settings(&self, _cfg: &mut Self::Config, _data: &Self::Data) {}
    /// Lines to print about how the data was read (which file of which
    /// layout was used, ...).
    fn data_notes(&self, _data: &Self::Data) -> Vec<String> {
        Vec::new()
    }
    /// One line on the data and the model, printed before training.
    fn describe(&self, cfg: &Self::Config, data: &Self::Data) -> String;
    /// Builds the model under `p` (PyTorch's initialisation, seeded by the caller).
    fn build_model(&self, p: &nn::Path, cfg: &Self::Config) -> Self::Model;
    /// The training inputs and targets, `[n, ...]` each.
    fn training_set<'d>(&self, data: &'d Self::Data) -> (&'d Tensor, &'d Tensor);
    /// The training loss.
    fn loss(&self) -> Loss;
    /// The metric `--early-stopping` watches, as [`Task::after_epoch`] names it.
    fn early_metric(&self) -> &'static str;
    /// The metrics printed and recorded after every epoch (validation scores).
    fn after_epoch(&self, t: &Trained<'_, Self>) -> Result<Vec<(String, f64)>>;
    /// The final evaluation: the test loss and the example's results (writes
    /// the example's pictures too).
    fn evaluate(&self, t: &Trained<'_, Self>) -> Result<(f64, Self::Results)>;
    /// Prints the end-of-run report.
    fn print(&self, report: &RunReport<Self::Config, Self::Results>);
    /// The folds of `--kfold`/`--folds K`: each a data set whose training part
    /// trains a fresh model and whose held-out part scores it.
    fn folds(&self, cfg: &Self::Config, data: &Self::Data, k: usize) -> Result<Vec<Self::Data>>;
    /// The held-out score of a fold's model: `(held-out samples, score)`.
    fn fold_score(&self, t: &Trained<'_, Self>) -> Result<(usize, f64)>;
    /// What [`Task::fold_score`] measures (`held-out accuracy`, `held-out RMSE`).
    fn fold_metric(&self) -> &'static str;
}

/// A model with its data, as the task's scoring functions see it.
pub struct Trained<'a, T: Task + ?Sized> {
    /// The run's configuration.
    pub cfg: &'a T::Config,
    /// The model (trained, or being trained).
    pub model: &'a T::Model,
    /// The data.
    pub data: &'a T::Data,
    /// Where the model lives.
    pub device: Device,
    /// Bars and lines.
    pub progress: Progress,
    /// The epochs trained so far.
    pub history: &'a [EpochRecord],
}

/// What [`run`] or [`cross_validation::run`] produced.
#[derive(Debug)]
pub enum Outcome<C, R> {
    /// One training run.
    Run(RunReport<C, R>),
    /// `--kfold`/`--folds`.
    CrossValidation(CrossValidationReport<C>),
}

/// Runs `task` as the flags say (one run, or cross-validation with
/// `opts.folds`), writes `--metrics-json` and prints the report.
pub fn execute<T: Task>(task: &T, cfg: &T::Config, opts: &RunOptions) -> Result<()> {
    match opts.folds {
        Some(k) => {
            let report = cross_validation::run(task, cfg, opts, k)?;
            cross_validation::print(&report);
        }
        None => {
            let report = run(task, cfg, opts)?;
            task.print(&report);
        }
    }
    Ok(())
}

/// Trains (unless `--eval-only`) and evaluates `task`; with `--resume` the
/// configuration, weights and position come from that checkpoint. Writes
/// `--metrics-json`.
pub fn run<T: Task>(
    task: &T,
    cfg: &T::Config,
    opts: &RunOptions,
) -> Result<RunReport<T::Config, T::Results>> {
    let progress = Progress { quiet: opts.quiet };
    let mut cfg = inputs::from_checkpoint(opts.resolve_config(cfg)?, opts, progress)?;
    cfg.validate()?;
    let device = opts.device.resolve()?;

    let t0 = Instant::now();
    let data = task.load_data(&cfg, device, !opts.eval_only)?;
    let data_seconds = t0.elapsed().as_secs_f64();
    task.fitted_settings(&mut cfg, &data);
    let cfg = &cfg;
    for note in task.data_notes(&data) {
        progress.line(note);
    }

    let (built, state) = Built::new(task, cfg, opts, device)?;
    let (vs, model, ft) = (&built.vs, &built.model, built.finetune.clone());
    progress.line(format!(
        "{}: {}, {} parameters, {} on {}",
        T::NAME,
        task.describe(cfg, &data),
        parameter_count(vs),
        if opts.eval_only {
            "evaluating"
        } else {
            "training"
        },
        crate::device::name(device)
    ));
    let (outcome, opt) = if opts.eval_only {
        (FitOutcome::untrained(&state), None)
    } else {
        let (outcome, opt) = built.fit(task, cfg, &data, state, opts, true)?;
        (outcome, Some(opt))
    };
    save_final((vs, opt.as_ref()), opts, cfg, &outcome.history, progress)?;
    let trained = Trained {
        cfg,
        model,
        data: &data,
        device,
        progress,
        history: &outcome.history,
    };
    let (test_loss, results) = task.evaluate(&trained)?;
    let report = RunReport {
        config: cfg.clone(),
        summary: RunSummary::new(vs, device, data_seconds, outcome, test_loss)
            .with_finetune(cfg.tune().finetune.is_active().then_some(ft)),
        results,
    };
    if let Some(path) = &opts.metrics_json {
        crate::checkpoint::write_json(path, &report)?;
    }
    Ok(report)
}

/// A fresh model of a run, seeded with `--seed`, with `--load`/`--resume`/
/// `--init-from` applied: what [`run`] and each fold of cross-validation train.
pub struct Built<T: Task> {
    /// The variables.
    pub vs: nn::VarStore,
    /// The model.
    pub model: T::Model,
    /// What `--init-from`/`--freeze`/`--reset` did, with the learning-rate groups.
    pub finetune: crate::finetune::FinetuneReport,
    /// Where it lives.
    pub device: Device,
    /// Bars and lines.
    pub progress: Progress,
}

impl<T: Task> Built<T> {
    /// Seeds, builds the model on `device` and prepares its weights; returns
    /// the training state to start from.
    pub fn new(
        task: &T,
        cfg: &T::Config,
        opts: &RunOptions,
        device: Device,
    ) -> Result<(Self, crate::train::TrainState)> {
        let progress = Progress { quiet: opts.quiet };
        tch::manual_seed(cfg.train().seed as i64);
        let mut vs = nn::VarStore::new(device);
        let model = task.build_model(&vs.root(), cfg);
        let (finetune, state) = prepare_weights(&mut vs, opts, cfg, progress)?;
        let built = Self {
            vs,
            model,
            finetune,
            device,
            progress,
        };
        Ok((built, state))
    }

    /// Trains on `data`'s training set from `state`, calling
    /// [`Task::after_epoch`] after each epoch; `checkpoints`: write `--save`'s
    /// periodic and Ctrl-C checkpoints and, with `--resume`, start from the
    /// optimizer state saved beside it. Returns the outcome and the optimizer
    /// (for the final checkpoint).
    pub fn fit(
        &self,
        task: &T,
        cfg: &T::Config,
        data: &T::Data,
        state: crate::train::TrainState,
        opts: &RunOptions,
        checkpoints: bool,
    ) -> Result<(FitOutcome, crate::optim::Optimizer)> {
        let (vs, device, progress) = (&self.vs, self.device, self.progress);
        let checkpointing = match checkpoints {
            true => Some(checkpointing(vs, opts, T::NAME, cfg)?),
            false => None,
        };
        let (mut opt, trainer) = optimizer_and_trainer(TrainerParts {
            cfg,
            vs,
            finetune: &self.finetune,
            loss: task.loss(),
            early_metric: task.early_metric(),
            device,
            progress,
            checkpointing,
            log_every: opts.log_every,
        })?;
        let (xs, ys) = task.training_set(data);
        let mut state = state;
        if checkpoints {
            let steps = (xs.size()[0] as usize).div_ceil(cfg.train().batch_size.max(1));
            state = weights::resume_optimizer(&mut opt, opts, (state, steps), progress)?;
        }
        let outcome = trainer.fit(&self.model, &mut opt, xs, ys, state, |_, _| {
            task.after_epoch(&Trained {
                cfg,
                model: &self.model,
                data,
                device,
                progress,
                history: &[],
            })
        })?;
        Ok((outcome, opt))
    }
}

/// A trained model loaded for use on new inputs (`--predict`, `--forecast`).
pub struct Loaded<T: Task> {
    /// The configuration, with the checkpoint's input settings.
    pub cfg: T::Config,
    /// The variables (keep alive as long as the model).
    pub vs: nn::VarStore,
    /// The model with the checkpoint's weights.
    pub model: T::Model,
    /// Where it lives.
    pub device: Device,
}

/// Loads `--load`'s checkpoint into `task`'s model for use, without reading
/// any training data: the input settings come from its `config.json`
/// ([`TaskConfig::input_differences`]) and its model options must match.
///
/// # Errors
/// No `--load`; the checkpoint's errors (see [`crate::checkpoint`]).
pub fn load_for_use<T: Task>(
    task: &T,
    cfg: &T::Config,
    opts: &RunOptions,
    what: &str,
) -> Result<Loaded<T>> {
    let Some(path) = &opts.load else {
        anyhow::bail!("{what} uses a trained model: add --load CHECKPOINT");
    };
    let progress = Progress { quiet: opts.quiet };
    let cfg = inputs::from_checkpoint(cfg.clone(), opts, progress)?;
    cfg.validate()?;
    let device = opts.device.resolve()?;
    let mut vs = nn::VarStore::new(device);
    let model = task.build_model(&vs.root(), &cfg);
    weights::check_checkpoint_config(path, &cfg, progress)?;
    let strip = cfg.tune().finetune.strip_prefix.as_deref();
    for note in crate::checkpoint::load_stripping(&mut vs, path, strip)? {
        progress.line(note);
    }
    progress.line(format!("loaded {}", path.display()));
    Ok(Loaded {
        cfg,
        vs,
        model,
        device,
    })
}
