//! The one run path of every example, after burn's `training.rs`: a [`Task`]
//! supplies its data, model, training batches, loss and scoring; [`run`] does
//! the rest, once, for every example:
//!
//! ```text
//! flags ─► Config (clap + serde, Default = the example's defaults) + RunOptions
//!       ─► saved::resolve (the config.json of --resume / --load / --init-from) ─► validate ─► device
//!       ─► Task::load_data ─► seed ─► Task::build_model ─► --load / --resume / --init-from
//!       ─► header ─► optimizer + Trainer (schedule, early stopping, checkpoints, Ctrl-C)
//!       ─► fit over Task::batches with Task::loss (Task::after_epoch each epoch)
//!       ─► save ─► Task::evaluate
//!       ─► RunReport { config, RunSummary, Task::Results } ─► --metrics-json, Task::print
//! ```
//!
//! With `RunOptions::folds` the same steps train one fresh model per fold of
//! the task's [`CrossValidation`] ([`cross_validation`]).
//!
//! # The contract
//!
//! A task implements six methods of [`Task`] — `load_data`, `build_model`,
//! `batches`, `loss`, `evaluate`, `print` — and its configuration
//! [`TaskConfig`] (its `config.json` sections, `run` and `validate`; the
//! configuration derives `clap::Args` and serde, so it is the command line
//! too, see [`crate::cli`]); `after_epoch`, `early_metric`, `describe`, `data_notes`,
//! `fitted_settings` and `cross_validation` have defaults. The batches come
//! from a [`Sampler`] the task owns: each epoch's batches depend only on the
//! run's seed and the epoch, so a resumed run sees what the uninterrupted one
//! saw ([`crate::train::ShuffledPairs`] serves a pair of tensors; a language
//! model samples windows of its corpus instead). The whole of a small task,
//! a line fitted to noisy points:
//!
//! ```no_run
//! use anyhow::Result;
//! use serde::{Deserialize, Serialize};
//! use tch::nn::{self, ModuleT};
//! use tchport::models::{init, Linear};
//! use tch::{Device, Kind, Tensor};
//! use tchport::cli::{self, Flags, FromFlags};
//! use tchport::session::{self, RunConfig, RunReport, Sections, Task, TaskConfig, Trained};
//! use tchport::train::{Batch, Loss, Sampler, ShuffledPairs};
//!
//! /// The whole configuration: `config.json` and the command line
//! /// (`--epochs`, `--lr`, ... from `RunConfig`; a field of its own would be a flag too).
//! #[derive(Debug, Clone, Default, Serialize, Deserialize, clap::Args)]
//! struct LineConfig {
//!     #[serde(flatten)]
//!     #[command(flatten)]
//!     run: RunConfig,
//! }
//!
//! impl FromFlags for LineConfig {
//!     fn complete(&mut self, flags: &Flags) { self.run.complete(flags) }
//! }
//!
//! impl TaskConfig for LineConfig {
//!     const SECTIONS: Sections = Sections { model: &[], inputs: &[], data: &[] };
//!     fn run(&self) -> &RunConfig { &self.run }
//!     fn validate(&self) -> Result<()> { self.run.validate() }
//! }
//!
//! /// `[n, 1]` inputs and targets.
//! struct Points { xs: Tensor, ys: Tensor }
//!
//! struct Line;
//!
//! impl Task for Line {
//!     const NAME: &'static str = "line";
//!     type Config = LineConfig;
//!     type Data = Points;
//!     type Model = Linear; // nn.Linear (able to hold int8 weights: --quantize int8)
//!     type Results = ();
//!
//!     fn load_data(&self, _cfg: &LineConfig, device: Device, _training: bool) -> Result<Points> {
//!         let xs = Tensor::rand([256, 1], (Kind::Float, device));
//!         let ys = &xs * 2.0 + 1.0 + Tensor::randn([256, 1], (Kind::Float, device)) * 0.1;
//!         Ok(Points { xs, ys })
//!     }
//!
//!     fn build_model(&self, p: &nn::Path, _cfg: &LineConfig) -> Linear {
//!         init::linear(p / "fc", 1, 1, true)
//!     }
//!
//!     fn batches<'d>(&self, cfg: &'d LineConfig, data: &'d Points, device: Device) -> Box<dyn Sampler + 'd> {
//!         ShuffledPairs::boxed(&data.xs, &data.ys, &cfg.run.train, device)
//!     }
//!
//!     fn loss(&self, model: &Linear, batch: &Batch) -> Tensor {
//!         Loss::Mse.on_batch(model, batch)
//!     }
//!
//!     fn evaluate(&self, t: &Trained<'_, Self>) -> Result<(f64, ())> {
//!         let _no_grad = tch::no_grad_guard();
//!         let mse = Loss::Mse.compute(&t.model.forward_t(&t.data.xs, false), &t.data.ys);
//!         Ok((mse.double_value(&[]), ()))
//!     }
//!
//!     fn print(&self, report: &RunReport<LineConfig, ()>) {
//!         println!("test MSE {:.4}", report.summary.test_loss);
//!     }
//! }
//!
//! /// The example's own flags (none here).
//! #[derive(clap::Parser)]
//! struct Args {}
//!
//! let cli::Parsed { config, opts, .. } = cli::parse::<Args, LineConfig>();
//! session::execute(&Line, &config, &opts)?;
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod config;
pub mod cross_validation;
mod options;
mod report;
pub mod saved;
mod weights;

pub use config::{RunConfig, Sections, TaskConfig};
pub use cross_validation::{CrossValidationReport, FoldResult};
pub use options::{RunOptions, TuneConfig};
pub use report::{RunReport, RunSummary};
pub use weights::{
    checkpointing, optimizer_and_trainer, parameter_count, prepare_weights, save_final,
    TrainerParts,
};

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use tch::{nn, Device, Tensor};

use crate::torchscript::{ScriptModule, UseModel};
use crate::train::{Batch, EpochRecord, FitOutcome, Progress, Sampler};

/// What one example supplies to the shared run path: its data, its model,
/// its training batches and loss, and its scoring and report. Six methods are
/// required; the rest have defaults. See the module's documentation for a
/// whole example.
pub trait Task {
    /// The example's name (`cnn_mnist`): messages and `runs/<name>/`.
    const NAME: &'static str;
    /// Everything that determines a run.
    type Config: TaskConfig;
    /// The prepared data (training set, validation and test parts).
    type Data;
    /// The model; its Linear layers can take int8 weights ([`crate::quantize`]).
    type Model: nn::ModuleT + crate::quantize::Quantize;
    /// What the example reports beyond [`RunSummary`], flattened into the same JSON object.
    type Results: Serialize;

    /// Reads and prepares the data (errors name the file); tensors may be put
    /// on `device` already. Without `training` (`--eval-only`) only what the
    /// evaluation needs has to be read.
    fn load_data(&self, cfg: &Self::Config, device: Device, training: bool) -> Result<Self::Data>;
    /// Builds the model under `p` (PyTorch's initialisation, seeded by the caller).
    fn build_model(&self, p: &nn::Path, cfg: &Self::Config) -> Self::Model;
    /// The training batches of `data`, on `device`: each epoch's must depend
    /// only on the run's seed and the epoch ([`Sampler`]);
    /// [`crate::train::ShuffledPairs`] serves a pair of tensors.
    fn batches<'d>(
        &self,
        cfg: &'d Self::Config,
        data: &'d Self::Data,
        device: Device,
    ) -> Box<dyn Sampler + 'd>;
    /// The mean training loss of `batch` (`[]`), the model run in train mode,
    /// as burn's `TrainStep`: the loop calls `backward` on it.
    fn loss(&self, model: &Self::Model, batch: &Batch) -> Tensor;
    /// The final evaluation: the test loss and the example's results (writes
    /// the example's pictures too).
    fn evaluate(&self, t: &Trained<'_, Self>) -> Result<(f64, Self::Results)>;
    /// Prints the end-of-run report.
    fn print(&self, report: &RunReport<Self::Config, Self::Results>);

    /// The metrics printed and recorded after every epoch (validation
    /// scores); none by default.
    fn after_epoch(&self, _t: &Trained<'_, Self>) -> Result<Vec<(String, f64)>> {
        Ok(Vec::new())
    }
    /// The metric of [`Task::after_epoch`] that `--early-stopping` watches
    /// (smaller is better).
    fn early_metric(&self) -> &'static str {
        "val loss"
    }
    /// One line on the data, printed before training.
    fn describe(&self, _cfg: &Self::Config, _data: &Self::Data) -> String {
        String::new()
    }
    /// Lines to print about how the data was read (which file of which
    /// layout was used, ...).
    fn data_notes(&self, _data: &Self::Data) -> Vec<String> {
        Vec::new()
    }
    /// Records in the configuration what was fitted on the data (a scaler),
    /// so that `config.json` carries it to a loaded model.
    fn fitted_settings(&self, _cfg: &mut Self::Config, _data: &Self::Data) {}
    /// The task's cross-validation, when it has one (`--folds K`); `None`
    /// refuses `--folds`.
    fn cross_validation(&self) -> Option<&dyn CrossValidation<Self>> {
        None
    }
    /// The input the model is traced at by `--export-torchscript` (batch
    /// 1, on `device`) and what it means; it is also the probe a TorchScript
    /// `--load` is checked on. `None`: the task exports nothing.
    fn trace_input(
        &self,
        _cfg: &Self::Config,
        _device: Device,
    ) -> Option<crate::torchscript::TraceInput> {
        None
    }
}

/// Cross-validation of a [`Task`] (`--folds K`): the folds and how a fold's
/// model is scored. A task that has it returns itself from
/// [`Task::cross_validation`].
pub trait CrossValidation<T: Task + ?Sized> {
    /// The `k` folds: each a data set whose training part trains a fresh
    /// model and whose held-out part scores it.
    fn folds(&self, cfg: &T::Config, data: &T::Data, k: usize) -> Result<Vec<T::Data>>;
    /// The held-out score of a fold's model: `(held-out samples, score)`.
    fn fold_score(&self, t: &Trained<'_, T>) -> Result<(usize, f64)>;
    /// What [`CrossValidation::fold_score`] measures (`held-out accuracy`, `held-out RMSE`).
    fn fold_metric(&self) -> &'static str;
}

/// A model with its data, as the task's scoring functions see it.
pub struct Trained<'a, T: Task + ?Sized> {
    /// The run's configuration.
    pub cfg: &'a T::Config,
    /// The model (trained, or being trained; a TorchScript module of
    /// `--load` with `--eval-only`).
    pub model: &'a UseModel<T::Model>,
    /// The data.
    pub data: &'a T::Data,
    /// Where the model lives.
    pub device: Device,
    /// Bars and lines.
    pub progress: Progress,
    /// The epochs trained so far.
    pub history: &'a [EpochRecord],
}

/// Runs `task` as the flags say (one run, or cross-validation with
/// `opts.folds`), writes `--metrics-json` and prints the report.
pub fn execute<T: Task>(task: &T, cfg: &T::Config, opts: &RunOptions) -> Result<()> {
    opts.check_quantize()?;
    if opts.export_only() {
        return export_loaded(task, cfg, opts);
    }
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
    opts.check_quantize()?;
    let progress = Progress { quiet: opts.quiet };
    let mut cfg = saved::resolve(cfg, opts, progress)?;
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

    let (mut built, state) = Built::new(task, cfg, opts, device)?;
    progress.line(format!(
        "{}: {}{} parameters, {} on {}",
        T::NAME,
        match task.describe(cfg, &data) {
            d if d.is_empty() => d,
            d => d + ", ",
        },
        parameter_count(&built.vs),
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
    save_final(
        (&built.vs, opt.as_ref()),
        opts,
        cfg,
        &outcome.history,
        progress,
    )?;
    if let Some(path) = &opts.quantize.save_quantized {
        built.save_quantized(cfg, path)?;
    }
    let (vs, model, ft) = (&built.vs, &built.model, built.finetune.clone());
    let trained = Trained {
        cfg,
        model,
        data: &data,
        device,
        progress,
        history: &outcome.history,
    };
    let (test_loss, results) = task.evaluate(&trained)?;
    if let Some(path) = &opts.export_torchscript {
        export_torchscript(task, (cfg, vs, model), device, path, progress)?;
    }
    let report = RunReport {
        config: cfg.clone(),
        summary: RunSummary::new(vs, device, data_seconds, outcome, test_loss)
            .with_finetune(cfg.run().tune.finetune.is_active().then_some(ft)),
        results,
    };
    if let Some(path) = &opts.metrics_json {
        crate::io::write_metrics_json(path, &report)?;
    }
    Ok(report)
}

/// A fresh model of a run, seeded with `--seed`, with `--load`/`--resume`/
/// `--init-from` applied: what [`run`] and each fold of cross-validation train.
pub(crate) struct Built<T: Task> {
    /// The variables (of the example's model, also when `model` is a
    /// TorchScript module).
    pub vs: nn::VarStore,
    /// The model.
    pub model: UseModel<T::Model>,
    /// What `--init-from`/`--freeze`/`--reset` did, with the learning-rate groups.
    pub finetune: crate::finetune::FinetuneReport,
    /// The int8 weights of an int8 `--load` or of `--quantize` (`None`: float32).
    pub int8: Option<crate::quantize::Int8Model>,
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
        tch::manual_seed(cfg.run().train.seed as i64);
        let mut vs = nn::VarStore::new(device);
        let mut model = task.build_model(&vs.root(), cfg);
        if let Some(path) = torchscript_load(opts)? {
            let script = load_torchscript(task, (cfg, opts), &model, (path, device), progress)?;
            let built = Self {
                vs,
                model: UseModel::TorchScript(script),
                finetune: Default::default(),
                int8: None,
                device,
                progress,
            };
            return Ok((built, Default::default()));
        }
        let (finetune, state, int8) = match opts.load.as_deref().filter(|_| opts.eval_only) {
            // --eval-only of --load: a float checkpoint (quantized with
            // --quantize) or an int8 one, through the use paths' loading.
            Some(path) if opts.quantize.scheme().is_some() || is_int8_file(path)? => {
                if let Some(save) = &opts.save {
                    anyhow::bail!(
                        "--save {} writes float32 weights; {} holds int8 weights: write them \
                         with --save-quantized PATH",
                        save.display(),
                        path.display()
                    );
                }
                let loaded =
                    load_checkpoint::<T>(cfg, opts, (&mut vs, &mut model, path), progress)?;
                (Default::default(), Default::default(), loaded.int8)
            }
            _ => {
                let (finetune, state) = prepare_weights(&mut vs, opts, cfg, progress)?;
                (finetune, state, None)
            }
        };
        let built = Self {
            vs,
            model: UseModel::Native(model),
            finetune,
            int8,
            device,
            progress,
        };
        Ok((built, state))
    }

    /// `--save-quantized PATH`: the model's int8 weights (quantizing the
    /// model in place first when it is float32: after training) written to
    /// `path` with `cfg` as `config.json`.
    ///
    /// # Errors
    /// A TorchScript model; [`crate::quantize::quantize_model`]'s and
    /// [`crate::quantize::save`]'s.
    pub fn save_quantized(&mut self, cfg: &T::Config, path: &std::path::Path) -> Result<()> {
        let UseModel::Native(model) = &mut self.model else {
            bail_torchscript("--save-quantized")?
        };
        if self.int8.is_none() {
            let int8 = crate::quantize::quantize_model(&self.vs, model, None)?;
            self.progress.line(format!("quantized: {}", int8.summary()));
            self.int8 = Some(int8);
        }
        let int8 = self.int8.as_ref().expect("quantized above");
        let line = crate::quantize::save(&self.vs, int8, path, cfg)?;
        self.progress.line(line);
        Ok(())
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
        let Some(model) = self.model.native() else {
            anyhow::bail!("a TorchScript module is run, not trained");
        };
        let checkpointing = match checkpoints {
            true => Some(checkpointing(vs, opts, T::NAME, cfg)?),
            false => None,
        };
        let (mut opt, trainer) = optimizer_and_trainer(TrainerParts {
            cfg,
            vs,
            finetune: &self.finetune,
            early_metric: task.early_metric(),
            device,
            progress,
            checkpointing,
            log_every: opts.log_every,
        })?;
        let sampler = task.batches(cfg, data, device);
        let mut state = state;
        if checkpoints {
            let steps = sampler.num_batches();
            state = weights::resume_optimizer(&mut opt, opts, (state, steps), progress)?;
        }
        let loss = |batch: &Batch| task.loss(model, batch);
        let outcome = trainer.fit(&mut opt, sampler.as_ref(), loss, state, |_, _| {
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
pub(crate) struct Loaded<T: Task> {
    /// The configuration, with the checkpoint's input settings.
    pub cfg: T::Config,
    /// The variables (kept alive as long as the model; never read).
    pub _vs: nn::VarStore,
    /// The model with the checkpoint's weights, or `--load`'s TorchScript module.
    pub model: UseModel<T::Model>,
    /// Where it lives.
    pub device: Device,
}

/// Loads `--load`'s checkpoint into `task`'s model for use, without reading
/// any training data: the input settings come from its `config.json`
/// and its model options come from its `config.json` ([`saved::resolve`]).
///
/// # Errors
/// No `--load`; the checkpoint's errors (see [`crate::checkpoint`]).
pub(crate) fn load_for_use<T: Task>(
    task: &T,
    cfg: &T::Config,
    opts: &RunOptions,
    what: &str,
) -> Result<Loaded<T>> {
    let Some(path) = &opts.load else {
        anyhow::bail!("{what} uses a trained model: add --load CHECKPOINT");
    };
    let export = opts.export_torchscript.is_some();
    let shape = crate::quantize::RunShape::use_of(path, opts.save.as_deref(), export);
    opts.quantize.check(shape)?;
    let progress = Progress { quiet: opts.quiet };
    let cfg = saved::resolve(cfg, opts, progress)?;
    cfg.validate()?;
    let device = opts.device.resolve()?;
    let mut vs = nn::VarStore::new(device);
    let mut model = task.build_model(&vs.root(), &cfg);
    if crate::checkpoint::is_torchscript(path)? {
        let script = load_torchscript(task, (&cfg, opts), &model, (path, device), progress)?;
        let model = UseModel::TorchScript(script);
        return Ok(Loaded {
            cfg,
            _vs: vs,
            model,
            device,
        });
    }
    let loaded = load_checkpoint::<T>(&cfg, opts, (&mut vs, &mut model, path), progress)?;
    if let (Some(out), Some(int8)) = (&opts.quantize.save_quantized, &loaded.int8) {
        progress.line(crate::quantize::save(&vs, int8, out, &cfg)?);
    }
    Ok(Loaded {
        cfg,
        _vs: vs,
        model: UseModel::Native(model),
        device,
    })
}

/// Whether `path` is an int8 checkpoint of `--save-quantized` (read by its
/// content; a PyTorch file is not). Not for TorchScript archives, which
/// [`torchscript_load`] has taken before.
fn is_int8_file(path: &std::path::Path) -> Result<bool> {
    let read = crate::checkpoint::read_checkpoint(path)?;
    Ok(crate::quantize::file::is_int8(&read.tensors))
}

/// Refuses `what` for a TorchScript module, whose weights are not this
/// example's variables.
fn bail_torchscript<V>(what: &str) -> Result<V> {
    anyhow::bail!(
        "{what}: a TorchScript module's weights are not this example's variables; quantize \
         its state_dict's model instead (torch.jit.load(FILE).state_dict(), saved as safetensors)"
    )
}

/// Loads `--load`'s checkpoint `path` into `vs` and `model` (int8 weights
/// when the file holds them or `--quantize` asks; `--strip-prefix` applied)
/// and prints its notes and the line that says what was loaded.
///
/// # Errors
/// [`crate::quantize::load`]'s: an unreadable file, weights that do not fit.
fn load_checkpoint<T: Task>(
    cfg: &T::Config,
    opts: &RunOptions,
    (vs, model, path): (&mut nn::VarStore, &mut T::Model, &std::path::Path),
    progress: Progress,
) -> Result<crate::quantize::Loaded> {
    let strip = cfg.run().tune.finetune.strip_prefix.as_deref();
    let loaded = crate::quantize::load(vs, model, path, strip, opts.quantize.scheme())?;
    for note in &loaded.notes {
        progress.line(note);
    }
    progress.line(&loaded.line);
    Ok(loaded)
}

/// `--load M --export-torchscript P` without `--eval-only`: exports the
/// loaded model; no data is read. `--metrics-json` gets the configuration
/// and the export's [`crate::torchscript::ExportReport`] (`"torchscript"`).
fn export_loaded<T: Task>(task: &T, cfg: &T::Config, opts: &RunOptions) -> Result<()> {
    let progress = Progress { quiet: opts.quiet };
    // --save-quantized is written by load_for_use.
    let loaded = load_for_use(task, cfg, opts, "--export-torchscript")?;
    let report = match opts.export_torchscript.as_deref() {
        Some(path) => {
            let parts = (&loaded.cfg, &loaded._vs, &loaded.model);
            let export = export_torchscript(task, parts, loaded.device, path, progress)?;
            serde_json::json!({"config": &loaded.cfg, "torchscript": export})
        }
        // --save-quantized alone.
        None => serde_json::json!({
            "config": &loaded.cfg,
            "save_quantized": &opts.quantize.save_quantized,
        }),
    };
    if let Some(json) = &opts.metrics_json {
        crate::io::write_metrics_json(json, &report)?;
    }
    Ok(())
}

/// Writes `model` (with its configuration and variables) as TorchScript
/// to `path` ([`crate::torchscript::export()`]), prints what was written and
/// returns it.
///
/// # Errors
/// A task without a trace input, a TorchScript model, the export's errors.
fn export_torchscript<T: Task>(
    task: &T,
    (cfg, vs, model): (&T::Config, &nn::VarStore, &UseModel<T::Model>),
    device: Device,
    path: &std::path::Path,
    progress: Progress,
) -> Result<crate::torchscript::ExportReport> {
    let Some(input) = task.trace_input(cfg, device) else {
        anyhow::bail!(
            "--export-torchscript: {} has no TorchScript export",
            T::NAME
        );
    };
    let UseModel::Native(model) = model else {
        anyhow::bail!(
            "--export-torchscript {}: --load is a TorchScript module already",
            path.display()
        );
    };
    let forward = |x: &Tensor| nn::ModuleT::forward_t(model, x, false);
    let report = crate::torchscript::export(vs, &forward, &input, T::NAME, path)?;
    progress.line(report.to_string());
    Ok(report)
}

/// `--load`'s file when it is a TorchScript archive and the run only
/// evaluates (`--eval-only`); with `--save` it is refused, as a module's
/// weights are not the example's variables. `None` otherwise: a training run
/// then refuses the file in [`prepare_weights`], naming the conversion.
fn torchscript_load(opts: &RunOptions) -> Result<Option<&std::path::Path>> {
    let Some(path) = opts.load.as_deref().filter(|_| opts.eval_only) else {
        return Ok(None);
    };
    if !crate::checkpoint::is_torchscript(path)? {
        return Ok(None);
    }
    if let Some(save) = &opts.save {
        anyhow::bail!(
            "--save {}: {} is a TorchScript module, whose weights are not this example's \
             variables; save its state_dict in Python (torch.jit.load(FILE).state_dict())",
            save.display(),
            path.display()
        );
    }
    Ok(Some(path))
}

/// Loads the TorchScript module at `path`, checked on `task`'s trace input
/// against the shape `model` (the example's own, fresh) gives, and prints the
/// line that says what was loaded.
///
/// # Errors
/// `--quantize` (a module's weights are not the example's variables); a task
/// without a trace input; [`ScriptModule::load`]'s errors.
fn load_torchscript<T: Task>(
    task: &T,
    (cfg, opts): (&T::Config, &RunOptions),
    model: &T::Model,
    (path, device): (&std::path::Path, Device),
    progress: Progress,
) -> Result<ScriptModule> {
    if opts.quantize.scheme().is_some() {
        bail_torchscript(&format!("--quantize with --load {}", path.display()))?;
    }
    let Some(input) = task.trace_input(cfg, device) else {
        anyhow::bail!(
            "{}: {} cannot run TorchScript modules",
            path.display(),
            T::NAME
        );
    };
    let expected = tch::no_grad(|| nn::ModuleT::forward_t(model, &input.example, false)).size();
    let script = ScriptModule::load(path, device, input, &expected)?;
    progress.line(script.loaded_line());
    Ok(script)
}
