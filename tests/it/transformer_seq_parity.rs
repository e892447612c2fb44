//! The Rust transformer_seq models against PyTorch's, with PyTorch run at test
//! time from the project's `.venv` (`parity/transformer_reference.py`).
//!
//! * Transformer: `nn.TransformerEncoderLayer` alone and the whole model
//!   (`nn.TransformerEncoder` inside `parity/models.py::SeqTransformer`), in eval
//!   mode, with and without the causal mask: outputs, loss, attention weights and
//!   every gradient. PyTorch computes the reference with gradients enabled, which
//!   keeps `nn.TransformerEncoderLayer` on its composite ("slow") path; the same
//!   model under `no_grad` takes the fused `_transformer_encoder_layer_fwd` fast
//!   path (the reference script counts the calls), and the Rust outputs are
//!   compared with that too.
//! * LSTM: the tutorial's `nn.LSTM(10, 50)` + `nn.Linear(50, 1)` the same way.
//! * Both: the weights after 5 SGD steps (lr 0.01, momentum 0.9) in train mode
//!   with dropout 0, and bit-identical initial weights from the same seed.
//!
//! Tolerances: 1e-5 absolute everywhere except where noted next to a check.

use crate::common;

use std::path::Path;

use common::check_tensor;
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};
use tchport::checkpoint;
use tchport::models::transformer::{causal_mask, EncoderLayer};
use tchport::models::{SeqLstm, SeqLstmConfig, SeqTransformer, TransformerConfig};
use tchport::train::Loss;

const TOL: f64 = 1e-5;
/// Only for the layer-level loss, `sum(layer_out * w)` over 4·12·64 = 3072
/// products of values up to ~30 in magnitude: float32 rounding of a sum that
/// long, in another order than PyTorch's, is ~1e-5 by itself (measured 1.1e-5).
const SUM_TOL: f64 = 1e-4;
const BATCH: i64 = 4;
const SEQ: i64 = 12;

fn reference(dir: &Path, arch: &str, causal: bool) {
    let out = dir.to_str().expect("scratch paths are UTF-8");
    let (b, s) = (BATCH.to_string(), SEQ.to_string());
    let mut args = vec!["--out", out, "--arch", arch, "--batch", &b, "--seq", &s];
    if causal {
        args.push("--causal");
    }
    common::python("transformer_reference.py", &args);
}

fn transformer_cfg(causal: bool) -> TransformerConfig {
    TransformerConfig {
        dropout: 0.0,
        causal,
        ..TransformerConfig::default()
    }
}

/// Eval-mode forward, MSE, backward, then 5 SGD steps, against the reference.
fn model_matches(model: &dyn ModuleT, vs: &nn::VarStore, dir: &Path) {
    let batches = common::read(&dir.join("batches.safetensors"));
    let want = common::read(&dir.join("reference.safetensors"));
    let (xs, ys) = (&batches["xs"], &batches["ys"]);

    let out = model.forward_t(&xs.get(0), false);
    let loss = Loss::Mse.compute(&out, &ys.get(0));
    loss.backward();
    check_tensor("eval output", &out, &want["out"], TOL);
    check_tensor("eval loss", &loss, &want["loss"], TOL);
    common::check_grads(vs, &want, TOL);
    let nograd = tch::no_grad(|| model.forward_t(&xs.get(0), false));
    check_tensor("eval output, no_grad", &nograd, &want["out_nograd"], TOL);

    common::check_sgd_steps((model, vs), (xs, ys), Loss::Mse, 5, &want, TOL);
}

fn transformer_matches(causal: bool) {
    let dir = common::scratch(if causal { "tf-causal" } else { "tf-full" });
    reference(&dir, "transformer", causal);
    println!(
        "PyTorch under no_grad: {}",
        std::fs::read_to_string(dir.join("fastpath.txt"))
            .unwrap_or_default()
            .trim()
    );
    let cfg = transformer_cfg(causal);
    let batches = common::read(&dir.join("batches.safetensors"));
    let want = common::read(&dir.join("reference.safetensors"));

    // The encoder layer alone: output, loss, parameter and input gradients.
    {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let layer = {
            let _lock = common::rng_lock();
            EncoderLayer::new(&vs.root(), &cfg)
        };
        let init = common::read(&dir.join("init.safetensors"));
        let prefix = "encoder.layers.0.";
        let layer_init: Vec<(String, Tensor)> = init
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(prefix)
                    .map(|k| (k.to_string(), v.shallow_clone()))
            })
            .collect();
        let file = dir.join("layer0.safetensors");
        Tensor::write_safetensors(&layer_init, &file).expect("layer weights written");
        checkpoint::load(&mut vs, &file).expect("PyTorch's layer weights load");
        let h = batches["layer_in"].copy().set_requires_grad(true);
        let mask = causal.then(|| causal_mask(SEQ, Device::Cpu));
        let (out, _) = layer.forward_t(&h, mask.as_ref(), false);
        let loss = (&out * &batches["layer_gw"]).sum(tch::Kind::Float);
        loss.backward();
        check_tensor("layer output", &out, &want["layer_out"], TOL);
        // A sum of 3072 products of O(1) values: float32 rounding alone is ~1e-5.
        check_tensor(
            "layer loss (sum of 3072)",
            &loss,
            &want["layer_loss"],
            SUM_TOL,
        );
        check_tensor(
            "layer grad of input",
            &h.grad(),
            &want["layer_grad_in"],
            TOL,
        );
        for (name, var) in vs.variables() {
            check_tensor(
                &format!("layer grad.{name}"),
                &var.grad(),
                &want[&format!("layer_grad.{name}")],
                TOL,
            );
        }
    }

    // The whole model.
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = {
        let _lock = common::rng_lock();
        SeqTransformer::new(&vs.root(), &cfg)
    };
    checkpoint::load(&mut vs, &dir.join("init.safetensors")).expect("PyTorch's weights load");
    let attn = model.last_attention(&batches["xs"].get(0));
    check_tensor("last-layer attention", &attn, &want["attn"], TOL);
    model_matches(&model, &vs, &dir);
}

#[test]
fn transformer_without_mask_matches_pytorch() {
    transformer_matches(false);
}

#[test]
fn transformer_with_causal_mask_matches_pytorch() {
    transformer_matches(true);
}

#[test]
fn lstm_matches_pytorch() {
    let dir = common::scratch("seq-lstm");
    reference(&dir, "lstm", false);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = {
        let _lock = common::rng_lock();
        SeqLstm::new(&vs.root(), &SeqLstmConfig::default())
    };
    checkpoint::load(&mut vs, &dir.join("init.safetensors")).expect("PyTorch's weights load");
    model_matches(&model, &vs, &dir);
}

#[test]
fn same_seed_gives_pytorchs_initial_weights_bit_for_bit() {
    for arch in ["transformer", "lstm"] {
        let dir = common::scratch(&format!("seq-init-{arch}"));
        reference(&dir, arch, false);
        let want = common::read(&dir.join("init.safetensors"));
        let _lock = common::rng_lock();
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        if arch == "transformer" {
            let _m = SeqTransformer::new(&vs.root(), &transformer_cfg(false));
        } else {
            let _m = SeqLstm::new(&vs.root(), &SeqLstmConfig::default());
        }
        assert_eq!(vs.variables().len(), want.len(), "{arch}: parameter count");
        for (name, var) in vs.variables() {
            check_tensor(&format!("{arch} init {name}"), &var, &want[&name], 0.0);
        }
    }
}
