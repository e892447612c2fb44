//! Small helpers every example's `main` uses.

use std::fmt::Display;

/// Restores the default `SIGPIPE` action, so `cnn_mnist | head` ends quietly
/// like any Unix tool instead of panicking on a closed stdout.
pub fn reset_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to SIG_DFL at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Runs an example's body: on error prints `error: <message: causes>` to
/// stderr and exits with status 1 (no panic, no backtrace for user errors).
pub fn run<T, E: Display>(body: impl FnOnce() -> Result<T, E>) {
    reset_sigpipe();
    if let Err(e) = body() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
