//! rnn_series's model: one recurrent layer over `[batch, seq, 1]` and `fc` on the
//! last step. The LSTM is `candle_nn::LSTM`; candle has no tanh RNN, so
//! [`TanhRnn`] is written here with the same parameters as `nn.RNN`.
//! Keys: `rnn.{weight_ih_l0,weight_hh_l0,bias_ih_l0,bias_hh_l0}`, `fc.*`.

use candle_core::{IndexOp, Module, Result, Tensor};
use candle_nn::rnn::{lstm, LSTMConfig, LSTM, RNN};
use candle_nn::{linear, Init, Linear, VarBuilder};

use super::Model;
use crate::protocol::Settings;

/// `nn.RNN(input, hidden, batch_first=True)`: `h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)`.
pub struct TanhRnn {
    w_ih: Tensor, // [hidden, input]
    w_hh: Tensor, // [hidden, hidden]
    b_ih: Tensor, // [hidden]
    b_hh: Tensor, // [hidden]
}

impl TanhRnn {
    /// PyTorch's init: every parameter from U(−1/√hidden, 1/√hidden).
    pub fn new(vb: VarBuilder, input: usize, hidden: usize) -> Result<Self> {
        let k = 1.0 / (hidden as f64).sqrt();
        let init = Init::Uniform { lo: -k, up: k };
        Ok(Self {
            w_ih: vb.get_with_hints((hidden, input), "weight_ih_l0", init)?,
            w_hh: vb.get_with_hints((hidden, hidden), "weight_hh_l0", init)?,
            b_ih: vb.get_with_hints(hidden, "bias_ih_l0", init)?,
            b_hh: vb.get_with_hints(hidden, "bias_hh_l0", init)?,
        })
    }

    /// The last hidden state `[batch, hidden]` of `xs: [batch, seq, input]`.
    pub fn last_hidden(&self, xs: &Tensor) -> Result<Tensor> {
        let (batch, seq, _) = xs.dims3()?;
        // The input projection of every step at once: [batch, seq, hidden].
        let xw = xs
            .broadcast_matmul(&self.w_ih.t()?)?
            .broadcast_add(&self.b_ih)?;
        let w_hh_t = self.w_hh.t()?;
        let mut h = Tensor::zeros((batch, self.w_hh.dim(0)?), xs.dtype(), xs.device())?;
        for t in 0..seq {
            let rec = h.matmul(&w_hh_t)?.broadcast_add(&self.b_hh)?; // [batch, hidden]
            h = (xw.i((.., t, ..))? + rec)?.tanh()?;
        }
        Ok(h)
    }
}

/// The recurrent layer of rnn_series (`--cell`).
#[derive(Debug, Clone, Copy)]
pub enum Cell {
    /// `nn.RNN` (tanh), the tutorial's.
    Rnn,
    /// `nn.LSTM`.
    Lstm,
}

enum Layer {
    Rnn(TanhRnn),
    Lstm(LSTM),
}

/// The recurrent layer under `rnn` and `fc: Linear(hidden, 1)`.
pub struct RecurrentNet {
    rnn: Layer,
    fc: Linear,
}

impl RecurrentNet {
    /// A `cell` layer with input size 1 and `s.hidden` units.
    pub fn new(vb: VarBuilder, cell: Cell, s: &Settings) -> Result<Self> {
        let rnn = match cell {
            Cell::Lstm => Layer::Lstm(lstm(1, s.hidden, LSTMConfig::default(), vb.pp("rnn"))?),
            Cell::Rnn => Layer::Rnn(TanhRnn::new(vb.pp("rnn"), 1, s.hidden)?),
        };
        Ok(Self {
            rnn,
            fc: linear(s.hidden, 1, vb.pp("fc"))?,
        })
    }
}

impl Model for RecurrentNet {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        // xs: [batch, seq, 1]
        let last = match &self.rnn {
            Layer::Rnn(rnn) => rnn.last_hidden(xs)?,
            Layer::Lstm(lstm) => {
                let states = lstm.seq(xs)?;
                let last = states
                    .last()
                    .ok_or_else(|| candle_core::Error::Msg("empty sequence".into()))?;
                last.h().clone()
            }
        }; // [batch, hidden]
        self.fc.forward(&last) // [batch, 1]
    }
}
