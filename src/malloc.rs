//! The C allocator's settings for every example binary (issue 22, item 5).
//!
//! libtorch allocates CPU tensors with `malloc`. glibc gives each thread that
//! allocates under contention an arena of its own (up to eight per core), and
//! memory freed in an arena stays in the process until the arena's top is free.
//! A `cnn_mnist` run's peak RSS then grew with the test set rather than the
//! model: 1 epoch of 100 images, then 100 / 2,000 / 10,000 test images, peaked
//! at 534 / 638 / 824 MB (measured here; build-notes.md has the table).
//!
//! [`configure`] caps the arenas at [`ARENA_MAX`] (`mallopt(M_ARENA_MAX)`, the
//! same as `MALLOC_ARENA_MAX=2`; glibc's `mallopt(3)`). Measured on 2 cores
//! against glibc's other settings (build-notes.md): peak RSS stays at 522 MB
//! whatever the test set's size, and training ran faster, not slower; one arena
//! (`MALLOC_ARENA_MAX=1`) kept 837 MB (the main arena only shrinks from its
//! top); a fixed mmap threshold of 64 KiB (`MALLOC_MMAP_THRESHOLD_=65536`) kept
//! 503 MB but cost ten times the page faults and more time.

/// The arena cap set by [`configure`].
pub const ARENA_MAX: i32 = 2;

/// glibc's environment variables for the allocator: when the user sets one (or
/// `GLIBC_TUNABLES`), [`configure`] leaves the allocator as they chose.
const USER_SETTINGS: [&str; 5] = [
    "MALLOC_ARENA_MAX",
    "MALLOC_ARENA_TEST",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "GLIBC_TUNABLES",
];

/// Caps glibc's arenas at [`ARENA_MAX`] unless the environment sets the
/// allocator ([`USER_SETTINGS`]); called first by [`crate::cli::run`].
/// Nothing happens with other C libraries (musl, macOS).
pub fn configure() {
    if USER_SETTINGS.iter().any(|v| std::env::var_os(v).is_some()) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocator parameters; it is called at
    // start-up, before libtorch starts its threads, and glibc locks it anyway.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}
