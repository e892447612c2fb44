//! The `check` case of the benchmark worker (`examples/bench.rs`), the reference
//! that `make bench-peers` compares candle and burn with: from the weights and
//! batch PyTorch writes (`bench/peers/bench_peers.py --write-check-file`), the
//! worker's loss before and after one SGD step must be PyTorch's.
//!
//! Tolerance 1e-5 absolute on losses of order 1: the worker runs PyTorch's own
//! kernels (with 1 thread here, PyTorch with its default: a float32 rounding of
//! the CNN's sums, 2.4e-7, is the largest difference seen); the Transformer uses
//! the fused attention kernel where PyTorch's `nn.MultiheadAttention` composes it.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::parity::{python, repo_root};

const TOL: f64 = 1e-5;

/// PyTorch writes the check file of `model`; returns (PyTorch's losses, the case).
fn pytorch_reference(model: &str, path: &Path) -> (Vec<f64>, serde_json::Value) {
    let out = Command::new(python().expect("the .venv python"))
        .arg(repo_root().join("bench/peers/bench_peers.py"))
        .args(["--write-check-file", model])
        .arg(path)
        .current_dir(repo_root())
        .output()
        .expect("bench_peers.py runs");
    assert!(
        out.status.success(),
        "bench_peers.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let losses = v["losses"].as_array().expect("losses").iter();
    (
        losses.map(|x| x.as_f64().expect("a number")).collect(),
        v["case"].clone(),
    )
}

/// Sends the cases to one worker process; returns its answers.
fn ask(cases: &[serde_json::Value]) -> Vec<serde_json::Value> {
    let mut child = Command::new(common::example_binary("bench"))
        .args(["--threads", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the bench worker starts");
    let mut stdin = child.stdin.take().expect("stdin");
    for case in cases {
        writeln!(stdin, "{case}").expect("a case is written");
    }
    drop(stdin);
    let answers = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map(|l| serde_json::from_str(&l.expect("a line")).expect("JSON"))
        .collect();
    assert!(child.wait().expect("the worker exits").success());
    answers
}

#[test]
fn check_case_matches_pytorch_for_every_model() {
    let dir = common::scratch("bench_check");
    let models = ["cnn", "rnn", "lstm", "transformer"];
    let refs: Vec<_> = models
        .iter()
        .map(|m| pytorch_reference(m, &dir.join(format!("{m}.safetensors"))))
        .collect();
    let cases: Vec<_> = refs.iter().map(|(_, case)| case.clone()).collect();
    for ((model, (want, _)), answer) in models.iter().zip(&refs).zip(ask(&cases)) {
        let got: Vec<f64> = answer["losses"]
            .as_array()
            .unwrap_or_else(|| panic!("{model}: no losses in {answer}"))
            .iter()
            .map(|x| x.as_f64().expect("a number"))
            .collect();
        let worst = got
            .iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0, f64::max);
        println!(
            "{model:<12} worker {got:?} PyTorch {want:?} worst |diff| {worst:.2e} (tol {TOL:e})"
        );
        assert_eq!(got.len(), 2, "{model}: loss before and after the step");
        assert!(
            got[1] < got[0],
            "{model}: one SGD step lowers the loss on its own batch"
        );
        assert!(worst <= TOL, "{model}: worst |diff| {worst:e} > {TOL:e}");
    }
}
