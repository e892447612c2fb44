//! Memory a deployed binary can be trusted with (issue 22, item 5).
//!
//! libtorch allocates CPU tensors with `malloc`. glibc serves a freed buffer's
//! size from its arenas after the first one (the dynamic mmap threshold, up to
//! 32 MiB), and memory freed in an arena stays in the process. Evaluation
//! batches (256 images for cnn_mnist) are another size than the training
//! batches, so each evaluated batch left free arena memory behind: a
//! `cnn_mnist` run of 1 epoch on 100 images, then 100 / 2,000 / 10,000 test
//! images, peaked at 525 to 535 / 638 / 824 to 919 MB (build-notes.md).
//!
//! [`release_free_memory`] (glibc's `malloc_trim(0)`) after each evaluation
//! batch returns that memory, so peak RSS stays at the training footprint
//! whatever the test set's size, and training runs as before. Measured against
//! the settings at start that glibc offers (`mallopt`; build-notes.md): a fixed
//! mmap threshold (`M_MMAP_THRESHOLD` 64 KiB) kept RSS flat too but made
//! training up to twice as slow (every batch buffer mapped and faulted anew);
//! capping the arenas (`M_ARENA_MAX` 2) was flat in one build and kept 850 MB in
//! another; one arena kept 837 MB.

use std::sync::OnceLock;

/// The environment variable that turns [`release_free_memory`] off (set to any
/// value): glibc's behaviour as it is, for `parity/bench_memory.py`'s "before".
pub const OFF: &str = "TCHPORT_NO_MALLOC_TRIM";

/// Returns the allocator's free memory to the system: glibc's `malloc_trim(0)`,
/// which releases every arena's free pages, not only the top of the heap.
/// Called after each evaluation or prediction batch; a no-op with other C
/// libraries, or when [`OFF`] is set.
pub fn release_free_memory() {
    static ON: OnceLock<bool> = OnceLock::new();
    if !*ON.get_or_init(|| std::env::var_os(OFF).is_none()) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the system; glibc locks each arena.
    unsafe {
        libc::malloc_trim(0);
    }
}
