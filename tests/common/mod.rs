//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tch::Tensor;

/// A fresh, empty scratch folder under `target/test-scratch/`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = tchport::parity::repo_root()
        .join("target/test-scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch folder can be created");
    dir
}

/// Reads a safetensors file written by a parity script.
pub fn read(path: &Path) -> BTreeMap<String, Tensor> {
    tchport::checkpoint::read(path)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .into_iter()
        .collect()
}

/// Runs a parity script, panicking with its stderr when it fails.
pub fn python(script: &str, args: &[&str]) -> String {
    tchport::parity::run_python(script, args).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Serialises tests that use libtorch's global generator (`manual_seed`,
/// initialisation, dropout), which the test threads would otherwise share.
pub fn rng_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
