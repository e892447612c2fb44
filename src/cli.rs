//! The command line of the examples. The configuration *is* the command
//! line: every option is a field of the serde configuration written to
//! `config.json` (`#[derive(clap::Args, Serialize, Deserialize)]` on each of
//! its sections), its doc comment is its `--help` text, and its default is
//! the example's own `Default` configuration ([`command`] reads it through
//! serde). [`parse`] builds that configuration, the example's own flags and
//! the run's options ([`RunArgs`]) from one command line, and records which
//! flags were given ([`Flags`], from clap's `ArgMatches::value_source`).
//! [`run`] is the `main` wrapper that turns errors into one line and an exit status.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{ArgMatches, Command, CommandFactory, FromArgMatches};
use serde::Serialize;

use crate::session::RunOptions;

/// Restores the default `SIGPIPE` action, so `cnn_mnist | head` ends quietly
/// like any Unix tool instead of panicking on a closed stdout.
pub(crate) fn reset_sigpipe() {
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
/// added to each example's command by [`command`]; not part of `config.json`.
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
    /// Cross-validation instead of one run: K fresh models, each scored on
    /// its held-out fold, and the mean ± std (cnn_mnist: stratified K-fold
    /// on the training images; the series examples: rolling-origin, K
    /// expanding training windows each scored on the block right after it).
    #[arg(long, value_name = "K", alias = "kfold", conflicts_with_all = ["save", "resume", "eval_only"])]
    pub folds: Option<usize>,
    /// Write the model as TorchScript (a traced module of its forward, which
    /// `torch.jit.load` and libtorch's C++ read without this program), and
    /// beside it NAME.inputs.json: the input's shape and meaning, the
    /// normalisation or scaler. After training or --eval-only; with --load
    /// alone, the loaded model is exported and nothing trains.
    #[arg(long, value_name = "PATH.pt", conflicts_with_all = ["folds", "resume"])]
    pub export_torchscript: Option<std::path::PathBuf>,
    /// `--quantize`, `--save-quantized`.
    #[command(flatten)]
    pub quantize: crate::quantize::QuantizeOptions,
}

impl RunArgs {
    /// Applies `--threads` and returns the options of the run; `flags` are
    /// the flags of the command line (see [`RunOptions::given`]).
    pub(crate) fn into_options(self, flags: Flags) -> RunOptions {
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
            folds: self.folds,
            log_every: self.log_every as usize,
            export_torchscript: self.export_torchscript,
            quantize: self.quantize,
            given: flags,
        }
    }
}

/// A configuration that is also a command line: its sections derive
/// `clap::Args` and serde; [`FromFlags::complete`] fills the settings that
/// depend on which flags were given (a default that follows another flag).
pub trait FromFlags: clap::Args + Serialize + Default {
    /// Fills the settings derived from others after parsing (for example
    /// AdamW's default weight decay when `--weight-decay` is not given).
    fn complete(&mut self, _flags: &Flags) {}
}

/// The flags of a parsed command line: which were given on it, and how each
/// is spelt (`--no-logit-relu` for the setting `logit_relu`).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    given: BTreeSet<String>,
    names: BTreeMap<String, String>,
}

impl Flags {
    /// The flags `matches` got from the command line, with the spellings of
    /// `cmd`. A flag `no_X` that is the negation of a setting `X` given as its
    /// own flag (`--no-causal` beside `--causal`) counts as setting `X` too.
    pub(crate) fn from_matches(cmd: &Command, matches: &ArgMatches) -> Self {
        let mut given: BTreeSet<String> = matches
            .ids()
            .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| id.as_str().to_string())
            .collect();
        let negated: Vec<String> = given
            .iter()
            .filter_map(|id| id.strip_prefix("no_").map(str::to_string))
            .collect();
        given.extend(negated);
        let names = cmd
            .get_arguments()
            .filter_map(|a| Some((a.get_id().to_string(), format!("--{}", a.get_long()?))))
            .collect();
        Self { given, names }
    }

    /// These settings of configuration `C` (clap ids, which are the keys of
    /// `config.json`: `"cell"`, `"window"`) as if their flags had been given
    /// on `C`'s command line; for library callers and tests.
    pub fn given_ids<'a, C: clap::Args>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let cmd = <RunArgs as clap::Args>::augment_args(C::augment_args(Command::new("example")));
        let mut flags = Self::from_matches(&cmd, &ArgMatches::default());
        flags.given = ids.into_iter().map(str::to_string).collect();
        flags
    }

    /// Whether the flag of setting `id` was given on the command line.
    pub fn given(&self, id: &str) -> bool {
        self.given.contains(id)
    }

    /// The flag of setting `id` as a user types it: its clap long name when
    /// known, else `--` and the id with `-` for `_`.
    pub fn name(&self, id: &str) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("--{}", id.replace('_', "-")))
    }

    /// Whether `id` is a setting with a flag of this command line (always
    /// true when the command is unknown: `Flags::default()`).
    pub(crate) fn has_flag(&self, id: &str) -> bool {
        self.names.is_empty() || self.names.contains_key(id)
    }
}

/// A parsed command line: the example's own flags, its configuration and the
/// run's options.
#[derive(Debug)]
pub struct Parsed<A, C> {
    /// The example's own flags (what it does besides the shared run: `--plot`, `--predict`, ...).
    pub args: A,
    /// The configuration written to `config.json`.
    pub config: C,
    /// Device, checkpoints, reports ([`RunArgs`]) and the flags given.
    pub opts: RunOptions,
}

/// The command of an example: its own flags `A`, then its configuration `C`
/// with `C::default()`'s values as the defaults `--help` shows, then [`RunArgs`].
///
/// A default comes from the configuration's `Default` through serde: each
/// flag whose clap id is the key of a number or string in `config.json`
/// (`lr`, `epochs`, `csv`, `window`) takes that value, unless the flag
/// declares its own default (settings that no example changes).
///
/// # Panics
/// When two keys of `config.json` with that flag's id hold different values
/// (a programming error the `cli_help` tests catch: give the flag an id that
/// names one of them).
pub fn command<A: CommandFactory, C: FromFlags>() -> Command {
    let base = A::command();
    // The sections' doc comments would replace the example's description.
    let (about, long_about) = (base.get_about().cloned(), base.get_long_about().cloned());
    let cmd = <RunArgs as clap::Args>::augment_args(C::augment_args(base));
    let cmd = match (about, long_about) {
        (Some(a), Some(l)) => cmd.about(a).long_about(l),
        (Some(a), None) => cmd.about(a),
        _ => cmd,
    };
    with_defaults(cmd, &C::default())
}

/// Parses the process's command line into [`Parsed`]; exits with clap's
/// message and status on bad flags, like `Parser::parse`.
pub fn parse<A: CommandFactory + FromArgMatches, C: FromFlags>() -> Parsed<A, C> {
    try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// [`parse`] on given arguments (the first is the program name).
///
/// # Errors
/// clap's error for unknown flags, bad values, conflicts, `--help` and `--version`.
pub fn try_parse_from<A, C, I, T>(argv: I) -> Result<Parsed<A, C>, clap::Error>
where
    A: CommandFactory + FromArgMatches,
    C: FromFlags,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cmd = command::<A, C>();
    let matches = cmd.clone().try_get_matches_from(argv)?;
    let args = A::from_arg_matches(&matches)?;
    let mut config = C::default();
    config.update_from_arg_matches(&matches)?;
    let run = <RunArgs as FromArgMatches>::from_arg_matches(&matches)?;
    let flags = Flags::from_matches(&cmd, &matches);
    config.complete(&flags);
    Ok(Parsed {
        args,
        config,
        opts: run.into_options(flags),
    })
}

/// `cmd` with the values of `defaults` (through serde) as the defaults of
/// the flags whose ids are its keys (see [`command`]).
fn with_defaults(mut cmd: Command, defaults: &impl Serialize) -> Command {
    let json = serde_json::to_value(defaults).expect("a configuration serializes to JSON");
    let mut leaves: BTreeMap<String, Vec<String>> = BTreeMap::new();
    collect_leaves(&json, &mut leaves);
    let open: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.get_action().takes_values() && a.get_default_values().is_empty())
        .map(|a| a.get_id().to_string())
        .collect();
    for id in open {
        let Some(values) = leaves.get(&id) else {
            continue;
        };
        assert!(
            values.iter().all(|v| v == &values[0]),
            "the flag id `{id}` is the key of several config.json values ({values:?}): \
             give the flag an id that names one of them"
        );
        let value = values[0].clone();
        cmd = cmd.mut_arg(id, |a| a.default_value(value).required(false));
    }
    cmd
}

/// Every number and string of `json` under its key (nested objects walked;
/// `null`, booleans and arrays have no default to show).
fn collect_leaves(json: &serde_json::Value, out: &mut BTreeMap<String, Vec<String>>) {
    let serde_json::Value::Object(map) = json else {
        return;
    };
    for (key, value) in map {
        let text = match value {
            serde_json::Value::Object(_) => {
                collect_leaves(value, out);
                continue;
            }
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.clone(),
            _ => continue,
        };
        out.entry(key.clone()).or_default().push(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::TaskConfig;
    use crate::tasks::transformer_seq::{self, SequenceKind};
    use crate::tasks::{cnn_mnist, rnn_series};

    /// An example without flags of its own.
    #[derive(clap::Parser, Debug)]
    struct NoFlags {}

    fn parse<C: TaskConfig>(args: &[&str]) -> Parsed<NoFlags, C> {
        let argv = std::iter::once("example").chain(args.iter().copied());
        try_parse_from::<NoFlags, C, _, _>(argv).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn no_flags_give_each_examples_default_configuration() {
        assert_eq!(
            parse::<cnn_mnist::Config>(&[]).config,
            cnn_mnist::Config::default()
        );
        assert_eq!(
            parse::<rnn_series::Config>(&[]).config,
            rnn_series::Config::default()
        );
        let mut seq = transformer_seq::Config::default();
        seq.seq_len = Some(seq.seq_len());
        assert_eq!(parse::<transformer_seq::Config>(&[]).config, seq);
        let mut recall = transformer_seq::Config::for_task(SequenceKind::Recall);
        recall.seq_len = Some(recall.seq_len());
        assert_eq!(
            parse::<transformer_seq::Config>(&["--task", "recall"]).config,
            recall
        );
    }

    #[test]
    fn flags_set_their_config_json_fields_and_are_recorded_as_given() {
        let p = parse::<rnn_series::Config>(&[
            "--cell",
            "gru",
            "--lr",
            "0.5",
            "--train-frac",
            "0.6",
            "--time-column",
            "date",
            "--lr-schedule",
            "cosine",
            "--epochs",
            "7",
            "--folds",
            "3",
        ]);
        let c = &p.config;
        assert_eq!(c.model.cell, crate::models::CellKind::Gru);
        assert_eq!(c.run.optim.lr, 0.5);
        assert_eq!(c.source.split.train, 0.6);
        assert_eq!(c.source.format.time.column.as_deref(), Some("date"));
        assert_eq!(
            c.run.tune.lr_schedule.schedule(),
            crate::schedule::LrSchedule::Cosine {
                t_max: 7,
                eta_min: 0.0
            }
        );
        assert_eq!(p.opts.folds, Some(3));
        for id in [
            "cell",
            "lr",
            "train_fraction",
            "time_column",
            "lr_schedule",
            "epochs",
        ] {
            assert!(p.opts.given.given(id), "{id} given");
        }
        assert!(!p.opts.given.given("hidden"));
        assert_eq!(p.opts.given.name("train_fraction"), "--train-fraction");
        let mnist = parse::<cnn_mnist::Config>(&[
            "--no-logit-relu",
            "--digits",
            "0-4",
            "--optimizer",
            "adamw",
        ]);
        assert!(!mnist.config.model.logit_relu);
        assert_eq!(mnist.config.model.num_classes, 5, "--digits sizes the head");
        assert_eq!(
            mnist.config.run.optim.weight_decay,
            crate::optim::ADAMW_DEFAULT_WEIGHT_DECAY
        );
        assert_eq!(mnist.opts.given.name("logit_relu"), "--no-logit-relu");
        let seq = parse::<transformer_seq::Config>(&["--no-causal", "--hidden", "7"]);
        assert!(!seq.config.transformer.causal);
        assert!(seq.opts.given.given("causal"), "--no-causal sets `causal`");
        assert_eq!(seq.config.lstm.hidden_size, 7);
    }
}
