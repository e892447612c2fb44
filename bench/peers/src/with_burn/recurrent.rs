//! rnn_series's model in burn: one recurrent layer over `[batch, seq, 1]` and
//! `fc` on the last step. The LSTM is `burn::nn::Lstm`; burn has no tanh RNN,
//! so [`TanhRnn`] is written here as two `Linear`s, as `nn.RNN` computes it.

use anyhow::Result;
use burn::nn::{Linear, LinearConfig, Lstm, LstmConfig};
use burn::prelude::*;
use burn::tensor::activation::tanh;

use super::{load, Net};
use crate::protocol::Settings;
use crate::weights::Weights;

/// PyTorch's keys of the first recurrent layer: (weight, bias) input to hidden, hidden to hidden.
const LAYER0: ((&str, &str), (&str, &str)) = (
    ("rnn.weight_ih_l0", "rnn.bias_ih_l0"),
    ("rnn.weight_hh_l0", "rnn.bias_hh_l0"),
);

/// `nn.RNN(input, hidden, batch_first=True)`: `h_t = tanh(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh)`.
#[derive(Module, Debug)]
pub struct TanhRnn<B: Backend> {
    ih: Linear<B>, // W_ih, b_ih (input to hidden)
    hh: Linear<B>, // W_hh, b_hh (hidden to hidden)
}

impl<B: Backend> TanhRnn<B> {
    fn new(input: usize, hidden: usize, dev: &B::Device) -> Self {
        Self {
            ih: LinearConfig::new(input, hidden).init(dev),
            hh: LinearConfig::new(hidden, hidden).init(dev),
        }
    }

    /// The last hidden state `[batch, hidden]` of `xs: [batch, seq, input]`.
    fn last_hidden(&self, xs: Tensor<B, 3>) -> Tensor<B, 2> {
        let [batch, seq, _] = xs.dims();
        let xw = self.ih.forward(xs); // every step's input projection: [batch, seq, hidden]
        let [_, hidden] = self.hh.weight.dims();
        let mut h = Tensor::zeros([batch, hidden], &xw.device());
        for t in 0..seq {
            let x_t = xw.clone().slice([0..batch, t..t + 1]).squeeze_dim::<2>(1); // [batch, hidden]
            h = tanh(x_t + self.hh.forward(h));
        }
        h
    }
}

/// A tanh RNN under `rnn` and `fc: Linear(hidden, 1)`.
#[derive(Module, Debug)]
pub struct RnnNet<B: Backend> {
    rnn: TanhRnn<B>,
    fc: Linear<B>,
}

impl<B: Backend> RnnNet<B> {
    /// Input size 1, `s.hidden` units.
    pub fn new(s: &Settings, dev: &B::Device) -> Self {
        Self {
            rnn: TanhRnn::new(1, s.hidden, dev),
            fc: LinearConfig::new(s.hidden, 1).init(dev),
        }
    }
}

impl<B: Backend> Net<B, 3> for RnnNet<B> {
    fn forward(&self, xs: Tensor<B, 3>) -> Tensor<B, 2> {
        self.fc.forward(self.rnn.last_hidden(xs)) // [batch, 1]
    }

    fn load(mut self, w: &Weights, dev: &B::Device) -> Result<Self> {
        let n = load::rows_per_part(w, "rnn.weight_ih_l0", 1)?;
        let (ih, hh) = LAYER0;
        load::linear_block(&mut self.rnn.ih, w, ih, (0, n), dev)?;
        load::linear_block(&mut self.rnn.hh, w, hh, (0, n), dev)?;
        load::linear(&mut self.fc, w, "fc", dev)?;
        Ok(self)
    }
}

/// `burn::nn::Lstm` under `rnn` and `fc: Linear(hidden, 1)`.
#[derive(Module, Debug)]
pub struct LstmNet<B: Backend> {
    rnn: Lstm<B>,
    fc: Linear<B>,
}

impl<B: Backend> LstmNet<B> {
    /// Input size 1, `s.hidden` units, biases on (as `nn.LSTM`).
    pub fn new(s: &Settings, dev: &B::Device) -> Self {
        Self {
            rnn: LstmConfig::new(1, s.hidden, true).init(dev),
            fc: LinearConfig::new(s.hidden, 1).init(dev),
        }
    }
}

impl<B: Backend> Net<B, 3> for LstmNet<B> {
    fn forward(&self, xs: Tensor<B, 3>) -> Tensor<B, 2> {
        let (_, state) = self.rnn.forward(xs, None);
        self.fc.forward(state.hidden) // [batch, 1]
    }

    /// PyTorch packs the gates as rows i, f, g, o of `weight_ih_l0`/`weight_hh_l0`.
    fn load(mut self, w: &Weights, dev: &B::Device) -> Result<Self> {
        let n = load::rows_per_part(w, "rnn.weight_ih_l0", 4)?;
        let (ih, hh) = LAYER0;
        let lstm = &mut self.rnn;
        let gates = [
            &mut lstm.input_gate,
            &mut lstm.forget_gate,
            &mut lstm.cell_gate,
            &mut lstm.output_gate,
        ];
        for (k, gate) in gates.into_iter().enumerate() {
            load::linear_block(&mut gate.input_transform, w, ih, (k, n), dev)?;
            load::linear_block(&mut gate.hidden_transform, w, hh, (k, n), dev)?;
        }
        load::linear(&mut self.fc, w, "fc", dev)?;
        Ok(self)
    }
}
