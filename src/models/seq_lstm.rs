//! The tutorial's section 4.3 model (named `Transformer` there, but an LSTM):
//! `nn.LSTM(10, 50)`, sequence-first, and `nn.Linear(50, 1)` on every step.
//!
//! Parameter names equal the tutorial module's `state_dict` keys:
//! `encoder.weight_ih_l0`, `encoder.weight_hh_l0`, `encoder.bias_ih_l0`,
//! `encoder.bias_hh_l0`, `decoder.weight`, `decoder.bias`.
//!
//! **The tutorial's bug.** Its `forward` builds `h0`/`c0` as
//! `torch.zeros(1, x.size(0), hidden)`; for a sequence-first LSTM `x.size(0)` is
//! the sequence length, not the batch size, so the script only runs when both
//! happen to be equal. Here the zero state is sized from the batch dimension
//! (`x.size(1)` of the sequence-first tensor).
//!
//! The model takes batch-first `[batch, seq, 10]` like every model of the
//! library (so the batching code is shared) and transposes to the tutorial's
//! sequence-first layout around the LSTM; `parity/models.py` does the same.

use serde::{Deserialize, Serialize};
use tch::nn::{self, RNN};
use tch::Tensor;

use super::{init, Linear};

/// Shape options of [`SeqLstm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct SeqLstmConfig {
    /// Features per time step (10 in the tutorial).
    #[arg(skip = SeqLstmConfig::default().input_size)]
    pub input_size: i64,
    /// LSTM hidden size (the tutorial's 50).
    #[arg(long = "hidden", id = "hidden_size", value_name = "N")]
    pub hidden_size: i64,
}

impl Default for SeqLstmConfig {
    fn default() -> Self {
        Self {
            input_size: 10,
            hidden_size: 50,
        }
    }
}

/// LSTM encoder + per-step linear decoder.
#[derive(Debug)]
pub struct SeqLstm {
    encoder: nn::LSTM,
    decoder: Linear,
}

impl SeqLstm {
    /// Builds the layers under `p` in PyTorch's order: the LSTM (its four tensors
    /// `weight_ih, weight_hh, bias_ih, bias_hh`, each `U(±1/√hidden)`), then the Linear.
    pub fn new(p: &nn::Path, cfg: &SeqLstmConfig) -> Self {
        let u = init::fan_in_uniform(cfg.hidden_size);
        let rnn_cfg = nn::RNNConfig {
            batch_first: false,
            w_ih_init: u,
            w_hh_init: u,
            b_ih_init: Some(u),
            b_hh_init: Some(u),
            ..Default::default()
        };
        let encoder = nn::lstm(p / "encoder", cfg.input_size, cfg.hidden_size, rnn_cfg);
        let decoder = init::linear(p / "decoder", cfg.hidden_size, 1, true);
        Self { encoder, decoder }
    }
}

impl crate::quantize::Quantize for SeqLstm {
    /// `decoder` (the LSTM's weights stay float32).
    fn linear_layers(&mut self) -> Vec<&mut Linear> {
        vec![&mut self.decoder]
    }
}

impl nn::ModuleT for SeqLstm {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        // xs: [batch, seq, input]
        // [seq, batch, input], the tutorial's layout
        let seq_first = xs.transpose(0, 1);
        // The fix: the batch dimension (1 of [seq, batch, input]), not size(0).
        let hidden = self.decoder.ws.size()[1];
        let h0 = super::rnn::zero_state(&seq_first, 1, 1, hidden); // [1, batch, hidden]
        let state = nn::LSTMState((h0.zeros_like(), h0)); // h0, c0
        let (out, _) = self.encoder.seq_init(&seq_first, &state); // [seq, batch, hidden]
        out.apply(&self.decoder).transpose(0, 1) // [batch, seq, 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::ModuleT;
    use tch::{Device, Kind};

    #[test]
    fn runs_when_batch_and_sequence_lengths_differ() {
        let vs = nn::VarStore::new(Device::Cpu);
        let model = SeqLstm::new(&vs.root(), &SeqLstmConfig::default());
        let ys = model.forward_t(
            &Tensor::randn([3, 7, 10], (Kind::Float, Device::Cpu)),
            false,
        );
        assert_eq!(ys.size(), [3, 7, 1]);
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "decoder.bias",
                "decoder.weight",
                "encoder.bias_hh_l0",
                "encoder.bias_ih_l0",
                "encoder.weight_hh_l0",
                "encoder.weight_ih_l0"
            ]
        );
    }
}
