//! The Rust CNN against PyTorch's, with PyTorch run at test time from the
//! project's `.venv` (`parity/cnn_reference.py`, `parity/cnn_mnist.py`).
//!
//! Tolerances: logits, loss and gradients 1e-5 absolute (float32 sums of up to
//! 3136 products in a possibly different order); weights after 5 SGD steps 1e-5.

mod common;

use std::path::Path;

use tch::nn::{self, ModuleT};
use tch::Device;
use tchport::checkpoint;
use tchport::models::{Cnn, CnnConfig};
use tchport::optim::OptimConfig;
use tchport::parity::check_tensor;
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
    for (name, var) in vs.variables() {
        check_tensor(
            &format!("grad.{name}"),
            &var.grad(),
            &want[&format!("grad.{name}")],
            TOL,
        );
    }

    let mut opt = OptimConfig {
        lr: 0.01,
        momentum: 0.9,
        ..OptimConfig::default()
    }
    .build(&vs)
    .expect("valid SGD");
    for step in 0..5 {
        opt.zero_grad();
        Loss::CrossEntropy
            .compute(&model.forward_t(&xs.get(step), true), &ys.get(step))
            .backward();
        opt.step();
    }
    for (name, var) in vs.variables() {
        check_tensor(
            &format!("after 5 SGD steps: {name}"),
            &var,
            &want[&format!("after.{name}")],
            TOL,
        );
    }
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
