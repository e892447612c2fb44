//! transformer_seq's model: `input_proj` (features → d_model), sinusoidal
//! positions, dropout, two post-norm encoder layers as
//! `nn.TransformerEncoderLayer(batch_first=True)` (ReLU feed-forward of
//! 2 × d_model, 4 heads, causal mask), and `head: Linear(d_model, 1)` on every
//! step. candle has no attention or encoder layer, so both are written here from
//! `candle_nn` layers, with PyTorch's keys (`encoder.layers.N.self_attn.in_proj_weight`, ...).

use candle_core::{Device, Module, Result, Tensor, D};
use candle_nn::ops::{dropout, softmax, softmax_last_dim};
use candle_nn::{layer_norm, linear, Init, LayerNorm, LayerNormConfig, Linear, VarBuilder};

use super::Model;
use crate::positions::{causal_mask, positional_encoding};
use crate::protocol::Settings;

/// Dropout in training mode only.
fn drop(xs: &Tensor, p: f64, train: bool) -> Result<Tensor> {
    if train && p > 0.0 {
        dropout(xs, p as f32)
    } else {
        Ok(xs.clone())
    }
}

/// Layer norm over the last dimension (Ba et al. 2016; eps 1e-5 as PyTorch).
/// Training composes it from primitives: candle's fused kernel has no backward.
fn norm(ln: &LayerNorm, xs: &Tensor, train: bool) -> Result<Tensor> {
    if !train {
        return ln.forward(xs);
    }
    let mean = xs.mean_keepdim(D::Minus1)?;
    let centred = xs.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + 1e-5)?.sqrt()?)?;
    let normed = normed.broadcast_mul(ln.weight())?;
    match ln.bias() {
        Some(b) => normed.broadcast_add(b),
        None => Ok(normed),
    }
}

/// `nn.MultiheadAttention` (Vaswani et al. 2017, §3.2.2): one packed input
/// projection `in_proj` ([3·d_model, d_model]: W_q, W_k, W_v) and `out_proj`.
struct MultiheadAttention {
    in_proj: Linear,
    out_proj: Linear,
    heads: usize,
    dropout: f64,
}

impl MultiheadAttention {
    fn new(vb: VarBuilder, s: &Settings) -> Result<Self> {
        let d = s.d_model;
        let bound = (6.0 / (4 * d) as f64).sqrt(); // xavier_uniform_ of [3d, d]
        let w = vb.get_with_hints(
            (3 * d, d),
            "in_proj_weight",
            Init::Uniform {
                lo: -bound,
                up: bound,
            },
        )?;
        let b = vb.get_with_hints(3 * d, "in_proj_bias", Init::Const(0.0))?;
        Ok(Self {
            in_proj: Linear::new(w, Some(b)),
            out_proj: linear(d, d, vb.pp("out_proj"))?,
            heads: s.heads,
            dropout: s.dropout,
        })
    }

    /// `xs: [batch, seq, d_model]`, `mask: [seq, seq]` (0 or −∞, added to the scores).
    fn forward(&self, xs: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let (b, l, d) = xs.dims3()?;
        let hd = d / self.heads;
        let qkv = self.in_proj.forward(xs)?; // [b, l, 3d]
        let head = |i: usize| -> Result<Tensor> {
            qkv.narrow(2, i * d, d)?
                .reshape((b, l, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous() // [b, h, l, hd]
        };
        let (q, k, v) = (head(0)?, head(1)?, head(2)?);
        let scores = (q * (1.0 / (hd as f64).sqrt()))?
            .matmul(&k.t()?)?
            .broadcast_add(mask)?; // [b, h, l, l]
        let weights = if train {
            softmax(&scores, D::Minus1)?
        } else {
            softmax_last_dim(&scores)?
        };
        let attended = drop(&weights, self.dropout, train)?.matmul(&v)?; // [b, h, l, hd]
        let merged = attended.transpose(1, 2)?.reshape((b, l, d))?; // [b, l, d]
        self.out_proj.forward(&merged)
    }
}

/// `nn.TransformerEncoderLayer(norm_first=False, activation=relu)`.
struct EncoderLayer {
    self_attn: MultiheadAttention,
    linear1: Linear,
    linear2: Linear,
    norm1: LayerNorm,
    norm2: LayerNorm,
    dropout: f64,
}

impl EncoderLayer {
    fn new(vb: VarBuilder, s: &Settings) -> Result<Self> {
        let ln = LayerNormConfig {
            eps: 1e-5,
            ..Default::default()
        };
        Ok(Self {
            self_attn: MultiheadAttention::new(vb.pp("self_attn"), s)?,
            linear1: linear(s.d_model, s.ff_dim(), vb.pp("linear1"))?,
            linear2: linear(s.ff_dim(), s.d_model, vb.pp("linear2"))?,
            norm1: layer_norm(s.d_model, ln, vb.pp("norm1"))?,
            norm2: layer_norm(s.d_model, ln, vb.pp("norm2"))?,
            dropout: s.dropout,
        })
    }

    fn forward(&self, xs: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let attn = self.self_attn.forward(xs, mask, train)?;
        let xs = norm(
            &self.norm1,
            &(xs + drop(&attn, self.dropout, train)?)?,
            train,
        )?;
        let ff = self.linear1.forward(&xs)?.relu()?;
        let ff = self.linear2.forward(&drop(&ff, self.dropout, train)?)?;
        norm(&self.norm2, &(xs + drop(&ff, self.dropout, train)?)?, train)
    }
}

/// The whole model; positions and mask are built once for the case's `seq`.
pub struct SeqTransformer {
    input_proj: Linear,
    layers: Vec<EncoderLayer>,
    head: Linear,
    pe: Tensor,   // [seq, d_model]
    mask: Tensor, // [seq, seq]
    dropout: f64,
}

impl SeqTransformer {
    /// `input_proj`, `encoder.layers.{0..layers}`, `head`.
    pub fn new(vb: VarBuilder, s: &Settings) -> Result<Self> {
        let layers_vb = vb.pp("encoder").pp("layers");
        let layers = (0..s.layers)
            .map(|i| EncoderLayer::new(layers_vb.pp(i.to_string()), s))
            .collect::<Result<Vec<_>>>()?;
        let dev = Device::Cpu;
        let pe = Tensor::from_vec(
            positional_encoding(s.seq, s.d_model),
            (s.seq, s.d_model),
            &dev,
        )?;
        let mask = causal_mask(s.seq);
        Ok(Self {
            input_proj: linear(s.input_size, s.d_model, vb.pp("input_proj"))?,
            layers,
            head: linear(s.d_model, 1, vb.pp("head"))?,
            pe,
            mask: Tensor::from_vec(mask, (s.seq, s.seq), &dev)?,
            dropout: s.dropout,
        })
    }
}

impl Model for SeqTransformer {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        // xs: [batch, seq, features]
        let h = self.input_proj.forward(xs)?.broadcast_add(&self.pe)?; // [batch, seq, d_model]
        let mut h = drop(&h, self.dropout, train)?;
        for layer in &self.layers {
            h = layer.forward(&h, &self.mask, train)?;
        }
        self.head.forward(&h)?.squeeze(2) // [batch, seq]
    }
}
