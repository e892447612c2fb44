//! The command line of the examples: the flag groups they share, each
//! declared once and flattened into every example's `Args`, with defaults
//! taken from the example's own `Default` configuration ([`parse`]), and the
//! `main` wrapper that turns errors into one line and an exit status.

use std::path::PathBuf;

use clap::{ArgMatches, CommandFactory, FromArgMatches, ValueEnum};

use crate::data::series::{MissingPolicy, SplitFractions};
use crate::data::source::SeriesSource;
use crate::optim::{OptimConfig, OptimizerKind};
use crate::session::{RunOptions, TuneConfig};
use crate::train::LoopConfig;

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
    /// to --save or `runs/<example>/checkpoint.safetensors`. Ctrl-C always writes
    /// one there before exiting.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: Option<u64>,
    /// Write the per-epoch and final metrics as JSON.
    #[arg(long, value_name = "PATH")]
    pub metrics_json: Option<std::path::PathBuf>,
    /// No progress bars or per-epoch lines (the final report is still printed).
    #[arg(long)]
    pub quiet: bool,
    /// On a GPU, read the running loss back (and refresh the bar) every N
    /// steps instead of every step, so the host never waits on the device
    /// mid-epoch; a non-finite loss then restores the weights of the last
    /// read-back. The CPU always reads every step.
    #[arg(long, value_name = "N", default_value_t = RunOptions::default().log_every as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub log_every: u64,
}

impl RunArgs {
    /// Applies `--threads` and returns the options of the run.
    pub fn into_options(self) -> RunOptions {
        if let Some(n) = self.threads {
            tch::set_num_threads(n);
        }
        RunOptions {
            device: self.device,
            save: self.save,
            load: self.load,
            resume: self.resume,
            checkpoint_every: self.checkpoint_every.map(|n| n as usize),
            eval_only: self.eval_only,
            metrics_json: self.metrics_json,
            quiet: self.quiet,
            folds: None,
            log_every: self.log_every as usize,
            explicit: Vec::new(),
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
    /// Warm-up: the learning rate rises linearly from 0 over the first N
    /// optimizer steps (step s trains at s/N of the schedule's rate), then
    /// follows --lr-schedule; PyTorch's LambdaLR stepped every step.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub warmup_steps: usize,
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
    /// Remove this key prefix (e.g. `model.` of a PyTorch Lightning checkpoint)
    /// from the checkpoint of --load or --init-from. Without it, a prefix every
    /// key shares is removed when that makes the keys fit the model (a notice
    /// says so).
    #[arg(long, value_name = "PREFIX")]
    pub strip_prefix: Option<String>,
}

impl TuneArgs {
    /// The run's tuning configuration (a cosine schedule spans `epochs`).
    pub fn into_config(self, epochs: usize) -> TuneConfig {
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
            strip_prefix: self.strip_prefix,
        };
        TuneConfig {
            finetune,
            lr_schedule,
            warmup_steps: self.warmup_steps,
            early_stopping: self.early_stopping,
        }
    }
}

/// Parses an example's flags, first giving the flags of `defaults` (clap ids,
/// e.g. `"epochs"`) their default values, so that `--help` shows each
/// example's own defaults, which come from its `Default` configuration.
/// Exits with clap's message and status on bad flags, like `Parser::parse`.
///
/// Also returns the flags given explicitly on the command line (`--normalize`,
/// `--window`, ...; see `RunOptions::explicit`).
pub fn parse<A: CommandFactory + FromArgMatches>(
    defaults: Vec<(&'static str, String)>,
) -> (A, Vec<String>) {
    let matches = command_with_defaults::<A>(defaults).get_matches();
    let args = A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (args, explicit_flags(&matches))
}

/// The long names of the flags `matches` got from the command line.
fn explicit_flags(matches: &ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| {
            matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|id| format!("--{}", id.as_str().replace('_', "-")))
        .collect()
}

/// [`parse`] on given arguments (the first is the program name), for tests.
pub fn try_parse_from<A: CommandFactory + FromArgMatches>(
    defaults: Vec<(&'static str, String)>,
    args: &[&str],
) -> Result<A, clap::Error> {
    let matches: ArgMatches = command_with_defaults::<A>(defaults).try_get_matches_from(args)?;
    A::from_arg_matches(&matches)
}

fn command_with_defaults<A: CommandFactory>(
    defaults: Vec<(&'static str, String)>,
) -> clap::Command {
    let mut cmd = A::command();
    for (id, value) in defaults {
        // Leaked once per flag at start-up: clap keeps `&'static str` defaults.
        let value: &'static str = Box::leak(value.into_boxed_str());
        cmd = cmd.mut_arg(id, |a| a.default_value(value));
    }
    cmd
}

/// The name clap shows for a value of a `ValueEnum`.
fn value_name<E: ValueEnum>(value: &E) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
}

/// The training flags every example shares; their defaults are the example's
/// (from [`TrainArgs::defaults`]).
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Passes over the training data.
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Samples per mini-batch (the last, smaller batch is kept).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Learning rate.
    #[arg(long, value_name = "LR", allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Optimizer (torch.optim's SGD, Adam or AdamW, computed as PyTorch computes them).
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// SGD momentum (0 = plain SGD, as in the tutorial).
    #[arg(long, value_name = "M")]
    pub momentum: Option<f64>,
    /// Weight decay: an L2 term for SGD and Adam, decoupled for AdamW
    /// [default: 0; AdamW: 0.01, PyTorch's]
    #[arg(long, value_name = "W")]
    pub weight_decay: Option<f64>,
    /// SGD dampening of the momentum.
    #[arg(long, value_name = "D")]
    pub dampening: Option<f64>,
    /// SGD Nesterov momentum (needs --momentum > 0, --dampening 0).
    #[arg(long)]
    pub nesterov: bool,
    /// Adam/AdamW beta1 (decay of the first moment).
    #[arg(long, value_name = "B")]
    pub beta1: Option<f64>,
    /// Adam/AdamW beta2 (decay of the second moment).
    #[arg(long, value_name = "B")]
    pub beta2: Option<f64>,
    /// Adam/AdamW epsilon of the denominator.
    #[arg(long, value_name = "E")]
    pub eps: Option<f64>,
    /// Before each step, rescale the gradients so that their total 2-norm is
    /// at most MAX (torch.nn.utils.clip_grad_norm_); the report says how often.
    #[arg(long, value_name = "MAX")]
    pub clip_grad_norm: Option<f64>,
    /// Seed of the initial weights, dropout, the batch order (and synthetic data).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

impl TrainArgs {
    /// The defaults `--help` shows: those of `optim` and `train`.
    pub fn defaults(optim: &OptimConfig, train: &LoopConfig) -> Vec<(&'static str, String)> {
        vec![
            ("epochs", train.epochs.to_string()),
            ("batch_size", train.batch_size.to_string()),
            ("lr", optim.lr.to_string()),
            ("optimizer", value_name(&optim.optimizer)),
            ("momentum", optim.momentum.to_string()),
            ("dampening", optim.dampening.to_string()),
            ("beta1", optim.beta1.to_string()),
            ("beta2", optim.beta2.to_string()),
            ("eps", optim.eps.to_string()),
            ("seed", train.seed.to_string()),
        ]
    }

    /// Sets the given flags in `optim` and `train`.
    pub fn apply(&self, optim: &mut OptimConfig, train: &mut LoopConfig) {
        set(&mut train.epochs, self.epochs);
        set(&mut train.batch_size, self.batch_size);
        set(&mut train.seed, self.seed);
        set(&mut optim.lr, self.lr);
        set(&mut optim.optimizer, self.optimizer);
        set(&mut optim.momentum, self.momentum);
        let adamw_default = optim.optimizer == OptimizerKind::AdamW && optim.weight_decay == 0.0;
        match self.weight_decay {
            Some(w) => optim.weight_decay = w,
            None if adamw_default => optim.weight_decay = crate::optim::ADAMW_DEFAULT_WEIGHT_DECAY,
            None => {}
        }
        set(&mut optim.dampening, self.dampening);
        optim.nesterov |= self.nesterov;
        set(&mut optim.beta1, self.beta1);
        set(&mut optim.beta2, self.beta2);
        set(&mut optim.eps, self.eps);
        if self.clip_grad_norm.is_some() {
            optim.clip_grad_norm = self.clip_grad_norm;
        }
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// Where a series comes from and how it is split: the flags `rnn_series` and
/// `transformer_seq` share (defaults from [`SeriesSource::default`]).
#[derive(Debug, Clone, clap::Args)]
pub struct SeriesArgs {
    /// CSV file with a header line.
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
    /// Column of the CSV holding the series: its name (exact, else ignoring
    /// case) or its 1-based index.
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,
    /// Empty or non-numeric cells: stop with an error, drop the row, or
    /// interpolate linearly.
    #[arg(long, value_enum)]
    pub missing: Option<MissingPolicy>,
    /// Leading fraction of the series used for training.
    #[arg(long, value_name = "F", alias = "train-frac")]
    pub train_fraction: Option<f64>,
    /// Following fraction used for validation (the test part is the rest).
    #[arg(long, value_name = "F", alias = "val-frac")]
    pub val_fraction: Option<f64>,
    /// Field delimiter of the CSV: one character, or `tab` (default: detected
    /// among `,` `;` tab `|` from the header and the first rows).
    #[arg(long, value_name = "C", value_parser = crate::data::csv::parse_delimiter)]
    pub delimiter: Option<char>,
    /// Numbers are written with a decimal comma (`12,5` is 12.5).
    #[arg(long)]
    pub decimal_comma: bool,
    /// Skip N lines before the header (text that agencies put above the table).
    #[arg(long, value_name = "N")]
    pub skip_rows: Option<usize>,
    /// The first line is data, not a header; --column is then a 1-based index.
    #[arg(long)]
    pub no_header: bool,
    /// The column of dates or times (name or 1-based index); `none` reads
    /// the rows in file order (default: detected among the columns).
    #[arg(long, value_name = "NAME|N")]
    pub time_column: Option<String>,
    /// How `01/02/2020` is read when no day above 12 decides: day first
    /// (dmy) or month first (mdy).
    #[arg(long, value_enum)]
    pub date_order: Option<crate::data::time::DateOrder>,
    /// Sort rows that are out of time order (default: refuse them, naming
    /// the lines; newest-first files are always reversed).
    #[arg(long)]
    pub sort_time: bool,
    /// Rows that share a time: refuse them, keep the first or the last in
    /// the file, or take the mean of their values.
    #[arg(long, value_enum)]
    pub duplicates: Option<crate::data::time::Duplicates>,
    /// Thousands separator in numbers: `,` `.` `'` `_` `space`, or `none`
    /// (default: read from the column when unambiguous, else refused).
    #[arg(long, value_name = "C", value_parser = crate::data::numbers::parse_thousands)]
    pub thousands: Option<crate::data::numbers::Thousands>,
    /// Text encoding of the file (`windows-1252`, `latin1`, `utf-16le`,
    /// `utf-8`…; default: UTF-8, UTF-16 by its byte-order mark, else Windows-1252).
    #[arg(long, value_name = "NAME")]
    pub encoding: Option<String>,
    /// The sheet of an `.xlsx`, `.xls` or `.ods` workbook to read (default: the first).
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
    /// Rolling-origin evaluation instead of one run: K expanding training
    /// windows, each scored on the block right after it (as long as the test
    /// part); per-fold RMSE and mean ± std.
    #[arg(long, value_name = "K", conflicts_with_all = ["save", "resume", "eval_only"])]
    pub folds: Option<usize>,
}

impl SeriesArgs {
    /// The defaults `--help` shows: those of `source`.
    pub fn defaults(source: &SeriesSource) -> Vec<(&'static str, String)> {
        vec![
            ("csv", source.csv.display().to_string()),
            ("column", source.column.clone()),
            ("missing", value_name(&source.missing)),
            ("train_fraction", source.split.train.to_string()),
            ("val_fraction", source.split.val.to_string()),
            ("skip_rows", source.format.skip_rows.to_string()),
        ]
    }

    /// Sets the given flags in `source`.
    pub fn apply(&self, source: &mut SeriesSource) {
        set(&mut source.csv, self.csv.clone());
        set(&mut source.column, self.column.clone());
        set(&mut source.missing, self.missing);
        set(&mut source.format.delimiter, self.delimiter.map(Some));
        set(&mut source.format.skip_rows, self.skip_rows);
        source.format.decimal_comma |= self.decimal_comma;
        source.format.no_header |= self.no_header;
        set(
            &mut source.format.time.column,
            self.time_column.clone().map(Some),
        );
        set(
            &mut source.format.time.date_order,
            self.date_order.map(Some),
        );
        source.format.time.sort |= self.sort_time;
        set(&mut source.format.time.duplicates, self.duplicates);
        set(&mut source.format.thousands, self.thousands);
        set(&mut source.format.encoding, self.encoding.clone().map(Some));
        set(&mut source.format.sheet, self.sheet.clone().map(Some));
        let SplitFractions { train, val } = source.split;
        source.split = SplitFractions {
            train: self.train_fraction.unwrap_or(train),
            val: self.val_fraction.unwrap_or(val),
        };
    }
}
