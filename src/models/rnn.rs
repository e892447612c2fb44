//! The tutorial's RNN (section 4.2): a recurrent layer over a batch-first
//! sequence, then `nn.Linear` on the last time step. The recurrent layer is a
//! tanh RNN (`nn.RNN`, the tutorial's), an LSTM (`nn.LSTM`) or a GRU (`nn.GRU`).
//!
//! The layer calls libtorch's own `rnn_tanh` / `lstm` / `gru` — the functions
//! `torch.nn.RNN/LSTM/GRU.forward` call — with the parameters in PyTorch's
//! order, so outputs and gradients are PyTorch's. Parameter names equal the
//! PyTorch module's `state_dict` keys: `rnn.weight_ih_l0`, `rnn.weight_hh_l0`,
//! `rnn.bias_ih_l0`, `rnn.bias_hh_l0` (then `_l1`, ... for more layers),
//! `fc.weight`, `fc.bias`. Each is drawn from U(−1/√hidden, 1/√hidden) in that
//! order, as `RNNBase.reset_parameters` does, then `fc` as `nn.Linear`: with
//! the same seed the initial weights are PyTorch's, bit for bit.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Init};
use tch::Tensor;

use super::{init, Linear};

/// The recurrent cell (`--cell`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// `nn.RNN`: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (the tutorial's).
    #[default]
    Rnn,
    /// `nn.LSTM`: input, forget, cell and output gates (4 × hidden rows).
    Lstm,
    /// `nn.GRU`: reset, update and new gates (3 × hidden rows).
    Gru,
}

impl CellKind {
    /// Rows of each weight matrix per hidden unit.
    pub fn gates(self) -> i64 {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// Lower-case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Rnn => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }
}

/// Shape options of [`RecurrentNet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct RnnConfig {
    /// Recurrent cell: the tutorial's tanh RNN, LSTM or GRU.
    #[arg(long, value_enum)]
    pub cell: CellKind,
    /// Features per time step.
    #[arg(skip = RnnConfig::default().input_size)]
    pub input_size: i64,
    /// Hidden units per recurrent layer.
    #[arg(long, value_name = "N")]
    pub hidden: i64,
    /// Stacked recurrent layers.
    #[arg(long, value_name = "N")]
    pub layers: i64,
    /// Outputs of the final linear layer.
    #[arg(skip = RnnConfig::default().output_size)]
    pub output_size: i64,
}

impl Default for RnnConfig {
    /// The tutorial's `RNN(input_size=1, hidden_size=10, output_size=1)`.
    fn default() -> Self {
        Self {
            cell: CellKind::Rnn,
            input_size: 1,
            hidden: 10,
            layers: 1,
            output_size: 1,
        }
    }
}

impl RnnConfig {
    /// Checks the values a user can set.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.hidden >= 1, "--hidden must be at least 1");
        anyhow::ensure!(self.layers >= 1, "--layers must be at least 1");
        anyhow::ensure!(
            self.input_size >= 1 && self.output_size >= 1,
            "sizes must be ≥ 1"
        );
        Ok(())
    }
}

/// Recurrent layer + `fc` on the last time step.
#[derive(Debug)]
pub struct RecurrentNet {
    cfg: RnnConfig,
    /// `[w_ih, w_hh, b_ih, b_hh]` per layer, PyTorch's `_flat_weights` order.
    params: Vec<Tensor>,
    fc: Linear,
}

impl RecurrentNet {
    /// Builds the layers under `p` in PyTorch's construction order (`rnn`, then `fc`).
    pub fn new(p: &nn::Path, cfg: &RnnConfig) -> Self {
        let rnn = p / "rnn";
        let (h, rows) = (cfg.hidden, cfg.cell.gates() * cfg.hidden);
        let bound = 1.0 / (h as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let mut params = Vec::with_capacity(4 * cfg.layers as usize);
        for layer in 0..cfg.layers {
            let in_dim = if layer == 0 { cfg.input_size } else { h };
            params.push(rnn.var(&format!("weight_ih_l{layer}"), &[rows, in_dim], init));
            params.push(rnn.var(&format!("weight_hh_l{layer}"), &[rows, h], init));
            params.push(rnn.var(&format!("bias_ih_l{layer}"), &[rows], init));
            params.push(rnn.var(&format!("bias_hh_l{layer}"), &[rows], init));
        }
        Self {
            cfg: cfg.clone(),
            params,
            fc: init::linear(p / "fc", h, cfg.output_size, true),
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &RnnConfig {
        &self.cfg
    }

    /// The recurrent layer's outputs `[batch, time, hidden]` (top layer, every
    /// step) from zero initial states, as `self.rnn(x, h0)` in the tutorial.
    pub fn sequence(&self, xs: &Tensor, train: bool) -> Tensor {
        // xs: [batch, time, input]
        // [layers, batch, hidden]
        let h0 = zero_state(xs, 0, self.cfg.layers, self.cfg.hidden);
        // PyTorch's defaults for nn.RNN/GRU/LSTM: biases, no dropout, one
        // direction; batch-first as the tutorial asks.
        let (layers, dropout, bidirectional, batch_first) = (self.cfg.layers, 0.0, false, true);
        // at::rnn_tanh and at::gru take the same arguments; at::lstm takes (h0, c0).
        type Fused =
            fn(&Tensor, &Tensor, &[Tensor], bool, i64, f64, bool, bool, bool) -> (Tensor, Tensor);
        let fused: Fused = match self.cfg.cell {
            CellKind::Rnn => Tensor::rnn_tanh::<Tensor>,
            CellKind::Gru => Tensor::gru::<Tensor>,
            CellKind::Lstm => {
                let hx = [&h0, &h0.zeros_like()];
                let params: Vec<&Tensor> = self.params.iter().collect();
                let out = xs.lstm(
                    &hx,
                    &params,
                    true,
                    layers,
                    dropout,
                    train,
                    bidirectional,
                    batch_first,
                );
                return out.0;
            }
        };
        fused(
            xs,
            &h0,
            &self.params,
            true,
            layers,
            dropout,
            train,
            bidirectional,
            batch_first,
        )
        .0
    }
}

/// Zeros `[layers, batch, hidden]` (an initial RNN state) for the batch of
/// `xs`, whose batch dimension is `batch_dim`, derived from `xs` through an
/// `expand(.., -1, ..)` rather than from `xs.size()`: a TorchScript trace
/// (`--export-torchscript`) then keeps the batch size free instead of
/// recording it as a constant. (libtorch 2.11's `aten::lstm`, given an h0 of
/// another batch size than its input, corrupts memory instead of failing.)
pub(crate) fn zero_state(xs: &Tensor, batch_dim: i64, layers: i64, hidden: i64) -> Tensor {
    xs.select(2, 0)
        .select(1 - batch_dim, 0) // [batch]
        .view([1, -1, 1])
        .expand([layers, -1, hidden], false)
        .zeros_like()
}

impl crate::quantize::Quantize for RecurrentNet {
    /// `fc` (the recurrent cell's weights go to `aten::rnn_tanh`/`lstm`/`gru`
    /// as float32).
    fn linear_layers(&mut self) -> Vec<&mut Linear> {
        vec![&mut self.fc]
    }
}

impl nn::ModuleT for RecurrentNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = self.sequence(xs, train); // [batch, time, hidden]
        out.select(1, -1).apply(&self.fc) // [batch, output]
    }
}
