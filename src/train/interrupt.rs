//! Ctrl-C: the process-wide stop flag the training loop polls after every
//! step, and the error a run returns when it was stopped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};

/// The process-wide stop flag raised by Ctrl-C (see [`install_interrupt_handler`]).
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone()
}

/// Makes Ctrl-C (SIGINT) raise [`interrupt_flag`]: training finishes its
/// current step, writes a checkpoint and returns [`Interrupted`]. A second
/// Ctrl-C exits at once with status 130.
pub fn install_interrupt_handler() -> Result<()> {
    let flag = interrupt_flag();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting without a checkpoint");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: finishing the current step, then writing a checkpoint (Ctrl-C again to quit now)");
    })
    .context("cannot install the Ctrl-C handler")
}

/// The error a run returns when it was stopped by Ctrl-C.
#[derive(Debug, Clone, PartialEq)]
pub struct Interrupted {
    /// Epoch (1-based) that was running.
    pub epoch: usize,
    /// Batches of that epoch done.
    pub steps: usize,
    /// The checkpoint written.
    pub checkpoint: PathBuf,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted during epoch {} after {} steps; checkpoint written to {} \
             (continue with --resume {})",
            self.epoch,
            self.steps,
            self.checkpoint.display(),
            self.checkpoint.display()
        )
    }
}

impl std::error::Error for Interrupted {}
