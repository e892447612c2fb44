//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod cuda;
pub mod parity;

#[allow(unused_imports)]
pub use parity::{check_tensor, repo_root, run_python, Tol};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tch::Tensor;

/// A fresh, empty scratch folder under `target/test-scratch/`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = parity::repo_root()
        .join("target/test-scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch folder can be created");
    dir
}

/// An example binary next to the test binary:
/// `<target>/<profile>/deps/<test>` → `<target>/<profile>/examples/<name>`.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join("examples")
        .join(name)
}

/// Example `name`, built from this source into this test's target folder
/// first (cargo does nothing when it is fresh; once per test process), for
/// tests that `cargo test --test X` may run before the examples are built.
pub fn built_example(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let bin = example_binary(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|n| n == name) {
        let target = bin
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .expect("<target>/<profile>/examples");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "--release", "--example", name])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(parity::repo_root())
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "cargo build --release --example {name} failed"
        );
        built.push(name.to_string());
    }
    bin
}

/// Runs `program` with `args` from the repository root: whether it
/// succeeded, and its stdout followed by its stderr.
pub fn run_example(program: &Path, args: &[String]) -> (bool, String) {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(parity::repo_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Asserts that `msg` contains every one of `parts`, then prints it.
#[track_caller]
pub fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message lacks {p:?}:\n{msg}");
    }
    println!("ok: {msg}");
}

/// Quiet, and on the CPU: the PyTorch side of the comparisons runs there.
pub fn quiet_cpu() -> tchport::session::RunOptions {
    tchport::session::RunOptions {
        quiet: true,
        device: tchport::device::DeviceChoice::Cpu,
        ..Default::default()
    }
}

/// Reads and parses a JSON file, panicking with the file's name.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
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
    parity::run_python(script, args).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Serialises tests that use libtorch's global generator (`manual_seed`,
/// initialisation, dropout), which the test threads would otherwise share.
pub fn rng_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Checks the gradient of every variable of `vs` against `want["grad.<name>"]`.
pub fn check_grads(vs: &tch::nn::VarStore, want: &BTreeMap<String, Tensor>, tol: impl Into<Tol>) {
    let tol = tol.into();
    for (name, var) in vs.variables() {
        parity::check_tensor(
            &format!("grad.{name}"),
            &var.grad(),
            &want[&format!("grad.{name}")],
            tol,
        );
    }
}

/// Runs one SGD step (lr 0.01, momentum 0.9: the reference scripts' settings)
/// per batch `xs.get(i)`/`ys.get(i)` for `steps` batches in train mode, then
/// checks every weight against `want["after.<name>"]`. `xs`/`ys` must be on
/// the model's device.
pub fn check_sgd_steps<M: tch::nn::ModuleT + ?Sized>(
    (model, vs): (&M, &tch::nn::VarStore),
    (xs, ys): (&Tensor, &Tensor),
    loss: tchport::train::Loss,
    steps: i64,
    want: &BTreeMap<String, Tensor>,
    tol: impl Into<Tol>,
) {
    let tol = tol.into();
    let sgd = tchport::optim::OptimConfig {
        lr: 0.01,
        momentum: 0.9,
        ..Default::default()
    };
    let mut opt = sgd.build(vs).expect("valid SGD");
    for step in 0..steps {
        opt.zero_grad();
        loss.compute(&model.forward_t(&xs.get(step), true), &ys.get(step))
            .backward();
        opt.step();
    }
    for (name, var) in vs.variables() {
        let label = format!("after {steps} SGD steps: {name}");
        parity::check_tensor(&label, &var, &want[&format!("after.{name}")], tol);
    }
}

/// `trainer.fit` over the pair `xs`/`ys` (`[n, ...]`) in the loop's seeded
/// order ([`tchport::train::ShuffledPairs`]), the batch loss being `loss` of
/// the model's train-mode outputs: what the three epoch-based examples' tasks
/// supply to the loop.
pub fn fit_pairs<M: tch::nn::ModuleT>(
    trainer: &tchport::train::Trainer<'_>,
    (model, opt): (&M, &mut tchport::optim::Optimizer),
    (xs, ys): (&Tensor, &Tensor),
    loss: tchport::train::Loss,
    state: tchport::train::TrainState,
    after_epoch: impl FnMut(usize, &tchport::train::EpochStats) -> anyhow::Result<Vec<(String, f64)>>,
) -> anyhow::Result<tchport::train::FitOutcome> {
    let sampler = tchport::train::ShuffledPairs::new(xs, ys, trainer.cfg, trainer.device);
    let batch_loss = |b: &tchport::train::Batch| loss.on_batch(model, b);
    trainer.fit(opt, &sampler, batch_loss, state, after_epoch)
}
