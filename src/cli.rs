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
