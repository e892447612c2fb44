//! The Rust RNN, LSTM and GRU against PyTorch's `nn.RNN`, `nn.LSTM` and
//! `nn.GRU` (+ `nn.Linear` on the last step), with PyTorch run at test time
//! from the project's `.venv` (`parity/rnn_reference.py`).
//!
//! For each cell, one and two layers: outputs, MSE loss and the gradient of
//! every parameter of one batch within 1e-5, weights after 5 SGD steps
//! (momentum 0.9) within 1e-5, and, with the same seed, PyTorch's initial
//! weights bit for bit (tolerance 0).

use crate::common;

use std::path::Path;

use common::check_tensor;
use tch::nn::{self, ModuleT};
use tch::Device;
use tchport::checkpoint;
use tchport::models::{CellKind, RecurrentNet, RnnConfig};
use tchport::train::Loss;

const TOL: f64 = 1e-5;

fn config(cell: CellKind, layers: i64) -> RnnConfig {
    RnnConfig {
        cell,
        layers,
        hidden: 10,
        ..RnnConfig::default()
    }
}

fn reference(dir: &Path, cell: CellKind, layers: i64) {
    let out = dir.to_str().expect("scratch paths are UTF-8");
    let layers = layers.to_string();
    common::python(
        "rnn_reference.py",
        &[
            "--out",
            out,
            "--cell",
            cell.name(),
            "--layers",
            &layers,
            "--hidden",
            "10",
            "--seed",
            "0",
            "--batch",
            "16",
            "--time",
            "20",
            "--steps",
            "5",
        ],
    );
}

fn forward_backward_and_sgd_match(cell: CellKind, layers: i64) {
    let dir = common::scratch(&format!("rnn-{}-{layers}", cell.name()));
    reference(&dir, cell, layers);
    let batches = common::read(&dir.join("batches.safetensors"));
    let want = common::read(&dir.join("reference.safetensors"));
    let (xs, ys) = (&batches["xs"], &batches["ys"]);

    // Same seed, same construction order: PyTorch's initial weights, bit for bit.
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = {
        let _lock = common::rng_lock();
        tch::manual_seed(0);
        RecurrentNet::new(&vs.root(), &config(cell, layers))
    };
    let init = common::read(&dir.join("init.safetensors"));
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    let mut want_names: Vec<&String> = init.keys().collect();
    names.sort();
    want_names.sort();
    assert_eq!(names, want_names, "state_dict names differ");
    for (name, var) in &vars {
        check_tensor(&format!("init {name}"), var, &init[name], 0.0);
    }
    // Loading them anyway proves the names and shapes fit PyTorch's state_dict.
    checkpoint::load(&mut vs, &dir.join("init.safetensors"))
        .expect("PyTorch's initial weights load into the Rust model, name for name");

    let outputs = model.forward_t(&xs.get(0), true);
    let loss = Loss::Mse.compute(&outputs, &ys.get(0));
    loss.backward();
    check_tensor("outputs", &outputs, &want["outputs"], TOL);
    check_tensor("loss", &loss, &want["loss"], TOL);
    common::check_grads(&vs, &want, TOL);

    common::check_sgd_steps((&model, &vs), (xs, ys), Loss::Mse, 5, &want, TOL);
}

#[test]
fn rnn_matches_pytorch() {
    forward_backward_and_sgd_match(CellKind::Rnn, 1);
}

#[test]
fn lstm_matches_pytorch() {
    forward_backward_and_sgd_match(CellKind::Lstm, 1);
}

#[test]
fn gru_matches_pytorch() {
    forward_backward_and_sgd_match(CellKind::Gru, 1);
}

#[test]
fn two_layer_cells_match_pytorch() {
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        forward_backward_and_sgd_match(cell, 2);
    }
}
