//! Continuing a PyTorch training run in Rust (issue 19, item 6): real
//! PyTorch (`parity/cnn_mnist.py`) trains the CNN 2 epochs with Adam and
//! `torch.save`s `{'epoch', 'model_state_dict', 'optimizer_state_dict'}`, then
//! continues it 1 epoch; `cnn_mnist --resume train.pth` continues the same
//! file 1 epoch with the same batch order, PyTorch's moments and step counts,
//! and must end with PyTorch's weights (tolerance 0: the same libtorch runs
//! the same ops; the worst element is printed). A file whose optimizer is
//! SGD under `--optimizer adam`, and a missing `--save`, are refused by name.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// 300 images at batch 50: 6 Adam steps an epoch.
const DATA: &str = "--batch-size 50 --train-limit 300 --test-limit 100 --seed 2";

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The twin with `flags` and `DATA`, quiet, no evaluation per epoch.
fn twin(flags: &str, files: &[&str]) {
    let mut args: Vec<&str> = flags.split_whitespace().collect();
    args.extend(DATA.split_whitespace());
    args.extend(["--no-eval-each-epoch", "--quiet"]);
    args.extend(files);
    common::python("cnn_mnist.py", &args);
}

/// `cnn_mnist` with `flags`, `DATA` and `files`.
fn rust(flags: &str, files: &[&str]) -> Output {
    Command::new(cnn_mnist())
        .args(flags.split_whitespace())
        .args(DATA.split_whitespace())
        .args(files)
        .current_dir(common::repo_root())
        .output()
        .expect("cnn_mnist runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn rust_continues_a_pytorch_adam_run_with_its_moments_and_step_counts() {
    let dir = common::scratch("torch-resume");
    let (pth, torch3, rust3) = (
        dir.join("train.pth"),
        dir.join("torch3.safetensors"),
        dir.join("rust/ckpt.safetensors"),
    );
    let adam = "--optimizer adam --lr 0.001";
    twin(&format!("{adam} --epochs 2"), &["--save-training", s(&pth)]);
    twin(
        &format!("{adam} --epochs 3"),
        &["--resume-training", s(&pth), "--save", s(&torch3)],
    );
    let out = rust(
        &format!("{adam} --epochs 3"),
        &["--resume", s(&pth), "--save", s(&rust3)],
    );
    let said = text(&out);
    assert!(
        out.status.success(),
        "cnn_mnist --resume train.pth failed:\n{said}"
    );
    common::assert_has(
        &said,
        &[
            "`epoch` 2 read as 2 finished epochs",
            "optimizer state (Adam) from `optimizer_state_dict`",
            "epoch   3/3",
        ],
    );
    assert!(
        !said.contains("epoch   1/3"),
        "epochs 1-2 are not trained again:\n{said}"
    );
    let (got, want) = (common::read(&rust3), common::read(&torch3));
    let mut worst = 0.0f64;
    for (name, w) in &want {
        let d = common::check_tensor(&format!("continued {name}"), &got[name], w, 0.0);
        worst = worst.max(d);
    }
    println!(
        "Rust-continued vs PyTorch-continued: worst |Δ| {worst:e} over {} tensors",
        want.len()
    );
    // The optimizer state the Rust run saved counts PyTorch's 12 steps and its own 6.
    let state = common::read(&rust3.with_file_name("optimizer.safetensors"));
    assert_eq!(state["state.0.step"].double_value(&[]), 18.0);

    // The same file with `epoch` 1 (the 0-based index of the last epoch, as a
    // `torch.save` inside `for epoch in range(n)` writes it): Adam's 12 steps
    // are 2 epochs of 6, and the run says it follows them.
    let indexed = dir.join("indexed.pth");
    let code = format!(
        "import torch; c = torch.load({:?}, weights_only=True); c['epoch'] = 1; torch.save(c, {:?})",
        s(&pth),
        s(&indexed)
    );
    let py = common::parity::python().expect("the .venv's python");
    let ok = Command::new(py)
        .args(["-c", &code])
        .status()
        .expect("python runs");
    assert!(ok.success(), "rewriting the epoch failed");
    let again = dir.join("rust-indexed/ckpt.safetensors");
    let out = rust(
        &format!("{adam} --epochs 3"),
        &["--resume", s(&indexed), "--save", s(&again)],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    common::assert_has(
        &said,
        &["step count 12 is 2 epochs of 6 steps, not the 1 that `epoch` says"],
    );
    let got = common::read(&again);
    for (name, w) in &want {
        common::check_tensor(&format!("indexed-epoch file: {name}"), &got[name], w, 0.0);
    }
}

#[test]
fn a_pytorch_checkpoint_of_another_optimizer_or_without_save_is_refused() {
    let dir = common::scratch("torch-resume-refused");
    let pth = dir.join("sgd.pth");
    twin(
        "--optimizer sgd --lr 0.01 --momentum 0.9 --epochs 1",
        &["--save-training", s(&pth)],
    );
    let save = dir.join("rust.safetensors");
    let out = rust(
        "--optimizer adam --lr 0.01 --epochs 2",
        &["--resume", s(&pth), "--save", s(&save)],
    );
    assert!(!out.status.success(), "Adam flags on an SGD file must fail");
    common::assert_has(
        &text(&out),
        &[
            s(&pth),
            "the optimizer state is SGD's, but this run uses Adam (--optimizer)",
        ],
    );
    let out = rust(
        "--optimizer sgd --lr 0.01 --momentum 0.9 --epochs 2",
        &["--resume", s(&pth)],
    );
    assert!(!out.status.success(), "no --save must fail");
    common::assert_has(
        &text(&out),
        &["is a PyTorch training checkpoint: add --save PATH"],
    );
    assert!(!save.exists(), "nothing was written");
}

/// The `cnn_mnist` example, built from this source first.
fn cnn_mnist() -> PathBuf {
    common::built_example("cnn_mnist")
}
