//! transformer_seq's model in burn: `input_proj`, sinusoidal positions, dropout,
//! two post-norm ReLU encoder layers (4 heads, feed-forward 2 × d_model, causal
//! mask) and `head` on every step.
//!
//! burn's `MultiHeadAttention` applies its dropout to the scores before the
//! softmax; PyTorch drops attention weights after it. Same cost, different
//! noise; the `check` case runs with dropout off.

use anyhow::Result;
use burn::nn::attention::{
    generate_autoregressive_mask, MhaInput, MultiHeadAttention, MultiHeadAttentionConfig,
};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::TensorData;

use super::{load, Net};
use crate::positions::positional_encoding;
use crate::protocol::Settings;
use crate::weights::Weights;

/// `nn.TransformerEncoderLayer(norm_first=False, activation=relu)`.
#[derive(Module, Debug)]
pub struct EncoderLayer<B: Backend> {
    self_attn: MultiHeadAttention<B>,
    linear1: Linear<B>,
    linear2: Linear<B>,
    norm1: LayerNorm<B>,
    norm2: LayerNorm<B>,
    dropout: Dropout,
}

impl<B: Backend> EncoderLayer<B> {
    fn new(s: &Settings, dev: &B::Device) -> Self {
        let d = s.d_model;
        Self {
            self_attn: MultiHeadAttentionConfig::new(d, s.heads)
                .with_dropout(s.dropout)
                .init(dev),
            linear1: LinearConfig::new(d, s.ff_dim()).init(dev),
            linear2: LinearConfig::new(s.ff_dim(), d).init(dev),
            norm1: LayerNormConfig::new(d).init(dev),
            norm2: LayerNormConfig::new(d).init(dev),
            dropout: DropoutConfig::new(s.dropout).init(),
        }
    }

    /// `xs: [batch, seq, d_model]`, `mask: [batch, seq, seq]` (true: not attended).
    fn forward(&self, xs: Tensor<B, 3>, mask: Tensor<B, 3, Bool>) -> Tensor<B, 3> {
        let attn = self
            .self_attn
            .forward(MhaInput::self_attn(xs.clone()).mask_attn(mask))
            .context;
        let xs = self.norm1.forward(xs + self.dropout.forward(attn));
        let ff = self.dropout.forward(relu(self.linear1.forward(xs.clone())));
        self.norm2
            .forward(xs.clone() + self.dropout.forward(self.linear2.forward(ff)))
    }

    fn load(&mut self, w: &Weights, prefix: &str, dev: &B::Device) -> Result<()> {
        let packed = (
            &*format!("{prefix}.self_attn.in_proj_weight"),
            &*format!("{prefix}.self_attn.in_proj_bias"),
        );
        let d = load::rows_per_part(w, packed.0, 3)?;
        let attn = &mut self.self_attn;
        for (k, proj) in [&mut attn.query, &mut attn.key, &mut attn.value]
            .into_iter()
            .enumerate()
        {
            load::linear_block(proj, w, packed, (k, d), dev)?;
        }
        let out_proj = format!("{prefix}.self_attn.out_proj");
        load::linear(&mut attn.output, w, &out_proj, dev)?;
        load::linear(&mut self.linear1, w, &format!("{prefix}.linear1"), dev)?;
        load::linear(&mut self.linear2, w, &format!("{prefix}.linear2"), dev)?;
        for (norm, name) in [(&mut self.norm1, "norm1"), (&mut self.norm2, "norm2")] {
            load::param(&mut norm.gamma, w, &format!("{prefix}.{name}.weight"), dev)?;
            load::param(&mut norm.beta, w, &format!("{prefix}.{name}.bias"), dev)?;
        }
        Ok(())
    }
}

/// The whole model.
#[derive(Module, Debug)]
pub struct SeqTransformer<B: Backend> {
    input_proj: Linear<B>,
    layers: Vec<EncoderLayer<B>>,
    head: Linear<B>,
    dropout: Dropout,
    d_model: usize,
}

impl<B: Backend> SeqTransformer<B> {
    /// `s.input_size` inputs per step, `s.layers` layers of width `s.d_model`.
    pub fn new(s: &Settings, dev: &B::Device) -> Self {
        Self {
            input_proj: LinearConfig::new(s.input_size, s.d_model).init(dev),
            layers: (0..s.layers).map(|_| EncoderLayer::new(s, dev)).collect(),
            head: LinearConfig::new(s.d_model, 1).init(dev),
            dropout: DropoutConfig::new(s.dropout).init(),
            d_model: s.d_model,
        }
    }
}

impl<B: Backend> Net<B, 3> for SeqTransformer<B> {
    fn forward(&self, xs: Tensor<B, 3>) -> Tensor<B, 2> {
        // xs: [batch, seq, features]
        let [batch, seq, _] = xs.dims();
        let dev = xs.device();
        let pe = TensorData::new(positional_encoding(seq, self.d_model), [seq, self.d_model]);
        let pe = Tensor::<B, 2>::from_data(pe, &dev).unsqueeze::<3>(); // [1, seq, d_model]
        let mut h = self.dropout.forward(self.input_proj.forward(xs) + pe); // [batch, seq, d_model]
        let mask = generate_autoregressive_mask::<B>(batch, seq, &dev); // [batch, seq, seq]
        for layer in &self.layers {
            h = layer.forward(h, mask.clone());
        }
        self.head.forward(h).squeeze_dim::<2>(2) // [batch, seq]
    }

    fn load(mut self, w: &Weights, dev: &B::Device) -> Result<Self> {
        load::linear(&mut self.input_proj, w, "input_proj", dev)?;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.load(w, &format!("encoder.layers.{i}"), dev)?;
        }
        load::linear(&mut self.head, w, "head", dev)?;
        Ok(self)
    }
}
