//! The Rust CNN against PyTorch's, with PyTorch run at test time from the
//! project's `.venv` (`parity/cnn_reference.py`, `parity/cnn_mnist.py`).
//!
//! Tolerances: logits, loss and gradients 1e-5 absolute (float32 sums of up to
//! 3136 products in a possibly different order); weights after 5 SGD steps 1e-5.

use crate::common;
use tchport::session;
use tchport::tasks::cnn_mnist::CnnMnist;

use std::path::Path;

use common::check_tensor;
use tch::nn::{self, ModuleT};
use tch::Device;
use tchport::checkpoint;
use tchport::device::DeviceChoice;
use tchport::models::{Cnn, CnnConfig};
use tchport::optim::{OptimConfig, OptimizerKind};
use tchport::session::RunOptions;
use tchport::tasks::cnn_mnist;
use tchport::train::Loss;

const TOL: f64 = 1e-5;

fn reference(dir: &Path, logit_relu: bool) {
    let out = dir.to_str().expect("scratch paths are UTF-8");
    let mut args = vec!["--out", out, "--seed", "0", "--batch", "32", "--steps", "5"];
    if !logit_relu {
        args.push("--no-logit-relu");
    }
    common::python("cnn_reference.py", &args);
}

fn forward_backward_and_sgd_match(logit_relu: bool) {
    let dir = common::scratch(if logit_relu { "cnn-relu" } else { "cnn-plain" });
    reference(&dir, logit_relu);
    let batches = common::read(&dir.join("batches.safetensors"));
    let want = common::read(&dir.join("reference.safetensors"));
    let (xs, ys) = (&batches["xs"], &batches["ys"]);

    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = {
        let _lock = common::rng_lock();
        Cnn::new(
            &vs.root(),
            &CnnConfig {
                logit_relu,
                ..CnnConfig::default()
            },
        )
    };
    checkpoint::load(&mut vs, &dir.join("init.safetensors"))
        .expect("PyTorch's initial weights load");

    let logits = model.forward_t(&xs.get(0), true);
    let loss = Loss::CrossEntropy.compute(&logits, &ys.get(0));
    loss.backward();
    check_tensor("logits", &logits, &want["logits"], TOL);
    check_tensor("loss", &loss, &want["loss"], TOL);
    common::check_grads(&vs, &want, TOL);

    common::check_sgd_steps((&model, &vs), (xs, ys), Loss::CrossEntropy, 5, &want, TOL);
}

#[test]
fn cnn_with_logit_relu_matches_pytorch() {
    forward_backward_and_sgd_match(true);
}

#[test]
fn cnn_without_logit_relu_matches_pytorch() {
    forward_backward_and_sgd_match(false);
}

#[test]
fn same_seed_gives_pytorchs_initial_weights_bit_for_bit() {
    let dir = common::scratch("cnn-init");
    reference(&dir, true);
    let want = common::read(&dir.join("init.safetensors"));
    let _lock = common::rng_lock();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let _model = Cnn::new(&vs.root(), &CnnConfig::default());
    for (name, var) in vs.variables() {
        check_tensor(&format!("init {name}"), &var, &want[&name], 0.0);
    }
}

fn quick_config(logit_relu: bool) -> cnn_mnist::Config {
    let mut cfg = cnn_mnist::Config::default();
    cfg.model.logit_relu = logit_relu;
    cfg.run.optim = OptimConfig {
        optimizer: OptimizerKind::Adam,
        lr: 0.001,
        ..OptimConfig::default()
    };
    cfg.run.train.epochs = 1;
    cfg.train_limit = Some(2000);
    cfg.test_limit = Some(2000);
    cfg
}

fn torch_eval(checkpoint: &Path, json: &Path) -> serde_json::Value {
    common::python(
        "cnn_mnist.py",
        &[
            "--load",
            checkpoint.to_str().expect("UTF-8 path"),
            "--eval-only",
            "--no-logit-relu",
            "--test-limit",
            "2000",
            "--quiet",
            "--metrics-json",
            json.to_str().expect("UTF-8 path"),
        ],
    );
    common::read_json(json)
}

#[test]
fn a_rust_checkpoint_evaluates_identically_in_pytorch() {
    let dir = common::scratch("cnn-ckpt-rust");
    let ckpt = dir.join("rust.safetensors");
    let opts = RunOptions {
        device: DeviceChoice::Cpu,
        save: Some(ckpt.clone()),
        quiet: true,
        ..RunOptions::default()
    };
    let report = {
        let _lock = common::rng_lock();
        session::run(&CnnMnist, &quick_config(false), &opts)
            .expect("a short Rust run trains and saves")
    };
    assert!(
        dir.join("config.json").exists(),
        "config.json is written beside the checkpoint"
    );
    let torch = torch_eval(&ckpt, &dir.join("torch.json"));
    let rust_correct = (report.results.test.accuracy * 2000.0).round() as i64;
    println!(
        "rust: {rust_correct}/2000 correct, pytorch on the Rust checkpoint: {}",
        torch["test_correct"]
    );
    assert!(
        rust_correct > 1000,
        "a trained model beats chance ({rust_correct}/2000)"
    );
    assert_eq!(torch["test_correct"].as_i64(), Some(rust_correct));
    let loss_diff =
        (torch["test_loss"].as_f64().expect("a number") - report.summary.test_loss).abs();
    assert!(loss_diff < 1e-5, "test loss differs by {loss_diff}");
}

#[test]
fn a_pytorch_checkpoint_evaluates_identically_in_rust() {
    let dir = common::scratch("cnn-ckpt-torch");
    let ckpt = dir.join("torch.safetensors");
    let json = dir.join("train.json");
    common::python(
        "cnn_mnist.py",
        &[
            "--epochs",
            "1",
            "--optimizer",
            "adam",
            "--lr",
            "0.001",
            "--no-logit-relu",
            "--train-limit",
            "2000",
            "--test-limit",
            "2000",
            "--no-eval-each-epoch",
            "--quiet",
            "--save",
            ckpt.to_str().expect("UTF-8 path"),
            "--metrics-json",
            json.to_str().expect("UTF-8 path"),
        ],
    );
    let torch = common::read_json(&json);
    let opts = RunOptions {
        device: DeviceChoice::Cpu,
        load: Some(ckpt),
        eval_only: true,
        quiet: true,
        ..RunOptions::default()
    };
    let report = {
        let _lock = common::rng_lock();
        session::run(&CnnMnist, &quick_config(false), &opts)
            .expect("Rust evaluates the PyTorch checkpoint")
    };
    let rust_correct = (report.results.test.accuracy * 2000.0).round() as i64;
    println!(
        "pytorch: {} correct, rust on the PyTorch checkpoint: {rust_correct}/2000",
        torch["test_correct"]
    );
    assert!(
        rust_correct > 1000,
        "a trained model beats chance ({rust_correct}/2000)"
    );
    assert_eq!(torch["test_correct"].as_i64(), Some(rust_correct));
}
