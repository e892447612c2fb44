//! Small helpers every example's `main` uses.

/// Restores the default `SIGPIPE` action, so `cnn_mnist | head` ends quietly
/// like any Unix tool instead of panicking on a closed stdout.
pub fn reset_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to SIG_DFL at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Runs an example's body with Ctrl-C handling installed: on error prints
/// `error: <message: causes>` to stderr and exits with status 1, or 130 after
/// a Ctrl-C (no panic, no backtrace for user errors).
pub fn run<T>(body: impl FnOnce() -> anyhow::Result<T>) {
    reset_sigpipe();
    let result = crate::train::install_interrupt_handler().and_then(|()| body());
    if let Err(e) = result {
        if let Some(stop) = e.downcast_ref::<crate::train::Interrupted>() {
            eprintln!("stopped: {stop}");
            std::process::exit(130);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// The flags every example shares — device, checkpoints, resume, reports —
/// flattened into each example's own `Args` with `#[command(flatten)]`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Where to run; `cuda` fails clearly when no GPU is usable.
    #[arg(long, value_enum, default_value_t = crate::device::DeviceChoice::Auto)]
    pub device: crate::device::DeviceChoice,
    /// libtorch's intra-op CPU threads (default: libtorch's choice, one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    pub threads: Option<i32>,
    /// Save the final weights (safetensors; config.json and train_state.json are
    /// written beside it). A --resume run without --save saves over its checkpoint.
    #[arg(long, value_name = "PATH")]
    pub save: Option<std::path::PathBuf>,
    /// Start from these weights (safetensors, from Rust or PyTorch).
    #[arg(long, value_name = "PATH")]
    pub load: Option<std::path::PathBuf>,
    /// Only evaluate the weights given by --load.
    #[arg(long, requires = "load")]
    pub eval_only: bool,
    /// Continue an interrupted or checkpointed run from this checkpoint, with its
    /// saved configuration (config.json), epoch count and batch order.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["load", "eval_only"])]
    pub resume: Option<std::path::PathBuf>,
    /// Write a checkpoint (weights, config.json, train_state.json) every N epochs,
    /// to --save or runs/<example>/checkpoint.safetensors. Ctrl-C always writes
    /// one there before exiting.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: Option<u64>,
    /// Write the per-epoch and final metrics as JSON.
    #[arg(long, value_name = "PATH")]
    pub metrics_json: Option<std::path::PathBuf>,
    /// No progress bars or per-epoch lines (the final report is still printed).
    #[arg(long)]
    pub quiet: bool,
}

impl RunArgs {
    /// Applies `--threads` and returns the options of the run.
    pub fn into_options(self) -> crate::tasks::RunOptions {
        if let Some(n) = self.threads {
            tch::set_num_threads(n);
        }
        crate::tasks::RunOptions {
            device: self.device,
            save: self.save,
            load: self.load,
            resume: self.resume,
            checkpoint_every: self.checkpoint_every.map(|n| n as usize),
            eval_only: self.eval_only,
            metrics_json: self.metrics_json,
            quiet: self.quiet,
        }
    }
}

/// `--lr-schedule` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleKind {
    /// PyTorch's StepLR(--lr-step-size, --lr-gamma).
    Step,
    /// PyTorch's CosineAnnealingLR(T_max = --epochs, eta_min = --lr-min).
    Cosine,
}

/// Fine-tuning, learning-rate schedule and early stopping: the flags every
/// example shares, flattened into its `Args`.
#[derive(Debug, Clone, clap::Args)]
pub struct TuneArgs {
    /// Stop when the validation metric (loss for cnn_mnist, RMSE for the series
    /// examples) has not improved for PATIENCE epochs, and keep the weights of
    /// the best epoch (cnn_mnist needs --val-fraction).
    #[arg(long, value_name = "PATIENCE")]
    pub early_stopping: Option<usize>,
    /// Learning-rate schedule, stepped once per epoch as PyTorch's schedulers are.
    #[arg(long, value_enum)]
    pub lr_schedule: Option<ScheduleKind>,
    /// StepLR: epochs between decays.
    #[arg(long, default_value_t = 1)]
    pub lr_step_size: usize,
    /// StepLR: factor of each decay.
    #[arg(long, default_value_t = 0.7)]
    pub lr_gamma: f64,
    /// Cosine: the final learning rate (eta_min).
    #[arg(long, default_value_t = 0.0)]
    pub lr_min: f64,
    /// Start from the weights of this checkpoint (Rust or PyTorch safetensors)
    /// whose names and shapes match; the rest keep their fresh initialisation.
    /// Prints what was loaded, skipped and newly initialised.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["load", "resume"])]
    pub init_from: Option<std::path::PathBuf>,
    /// Keep these parameters fixed (comma-separated name prefixes, e.g. `conv`
    /// or `conv1,conv2.weight`): no gradient, not in the optimizer.
    #[arg(long, value_name = "PREFIX,...", value_delimiter = ',')]
    pub freeze: Vec<String>,
    /// Re-initialise these parameters after loading (PyTorch's init for the
    /// seed), e.g. `fc` for a new head.
    #[arg(long, value_name = "PREFIX,...", value_delimiter = ',')]
    pub reset: Vec<String>,
    /// Learning rate of the loaded, un-frozen parameters (the backbone); the
    /// reset / newly initialised ones train at --lr.
    #[arg(long, value_name = "LR")]
    pub lr_backbone: Option<f64>,
}

impl TuneArgs {
    /// The run's tuning configuration (a cosine schedule spans `epochs`).
    pub fn into_config(self, epochs: usize) -> crate::tasks::TuneConfig {
        use crate::schedule::LrSchedule;
        let lr_schedule = match self.lr_schedule {
            None => LrSchedule::Constant,
            Some(ScheduleKind::Step) => LrSchedule::Step {
                step_size: self.lr_step_size,
                gamma: self.lr_gamma,
            },
            Some(ScheduleKind::Cosine) => LrSchedule::Cosine {
                t_max: epochs,
                eta_min: self.lr_min,
            },
        };
        let finetune = crate::finetune::FinetuneConfig {
            init_from: self.init_from,
            freeze: self.freeze,
            reset: self.reset,
            lr_backbone: self.lr_backbone,
        };
        crate::tasks::TuneConfig {
            finetune,
            lr_schedule,
            early_stopping: self.early_stopping,
        }
    }
}
