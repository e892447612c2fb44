//! A Transformer encoder for sequence regression (the tutorial's section 3.3:
//! self-attention plus positional encoding), written from libtorch primitives
//! because tch has no attention or Transformer blocks.
//!
//! ```text
//! x [batch, seq, input]                      input_proj: Linear(input, d_model)
//!   -> + sinusoidal position encoding, dropout
//!   -> encoder.layers.0 .. encoder.layers.{N-1}   (= nn.TransformerEncoderLayer,
//!        batch_first=True, norm_first=False, activation ReLU)
//!   -> head: Linear(d_model, 1) on every step  -> [batch, seq, 1]
//! ```
//!
//! Parameter names equal the `state_dict` keys of `parity/models.py`'s
//! `SeqTransformer` (an `nn.TransformerEncoder` under `encoder`):
//! `input_proj.{weight,bias}`,
//! `encoder.layers.N.self_attn.{in_proj_weight,in_proj_bias,out_proj.weight,out_proj.bias}`,
//! `encoder.layers.N.{linear1,linear2,norm1,norm2}.{weight,bias}`, `head.{weight,bias}`.
//!
//! Initialisation follows PyTorch draw for draw: `nn.MultiheadAttention` builds
//! `out_proj` (a Linear: weight, then bias, both drawn) and then resets
//! `in_proj_weight` with `xavier_uniform_` and zeroes both biases;
//! `linear1`/`linear2` are Linears; LayerNorms are ones and zeros. And
//! `nn.TransformerEncoder` deep-copies its layer, so every layer starts equal to
//! layer 0 and only layer 0 consumes random numbers. With the same
//! `manual_seed`, the Rust model therefore starts from PyTorch's weights.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Init};
use tch::{Kind, Tensor};

use super::{init, Linear};

/// Shape options of [`SeqTransformer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct TransformerConfig {
    /// Features per time step of the input (10 in the tutorial).
    #[arg(skip = TransformerConfig::default().input_size)]
    pub input_size: i64,
    /// Transformer width.
    #[arg(long, value_name = "N")]
    pub d_model: i64,
    /// Attention heads (must divide --d-model).
    #[arg(long, value_name = "N")]
    pub heads: i64,
    /// Encoder layers.
    #[arg(long, value_name = "N")]
    pub layers: i64,
    /// Feed-forward width of each encoder layer.
    #[arg(long, value_name = "N")]
    pub ff_dim: i64,
    /// Transformer dropout (position encoding, attention weights, residual
    /// branches), as in `nn.TransformerEncoderLayer`.
    #[arg(long, value_name = "P")]
    pub dropout: f64,
    /// Causal mask: step t attends only to steps ≤ t. On by default for
    /// --task series, where the next step's input holds this step's target.
    #[arg(long)]
    pub causal: bool,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        Self {
            input_size: 10,
            d_model: 64,
            heads: 4,
            layers: 2,
            ff_dim: 128,
            dropout: 0.1,
            causal: false,
        }
    }
}

impl TransformerConfig {
    /// Checks the values a user can set.
    pub fn validate(&self) -> anyhow::Result<()> {
        use anyhow::bail;
        for (flag, v) in [
            ("--d-model", self.d_model),
            ("--heads", self.heads),
            ("--layers", self.layers),
            ("--ff-dim", self.ff_dim),
            ("input size", self.input_size),
        ] {
            if v < 1 {
                bail!("{flag} must be at least 1, got {v}");
            }
        }
        if self.d_model % self.heads != 0 {
            bail!(
                "--heads {} must divide --d-model {} (each head gets d_model / heads dimensions)",
                self.heads,
                self.d_model
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("--dropout must be in [0, 1), got {}", self.dropout);
        }
        Ok(())
    }
}

/// The sinusoidal position encoding of "Attention Is All You Need":
/// `pe[pos, 2i] = sin(pos / 10000^(2i/d))`, `pe[pos, 2i+1] = cos(pos / 10000^(2i/d))`.
/// Computed with the same tensor operations as `parity/models.py`, so both sides
/// get the same float32 numbers. Returns `[seq_len, d_model]`.
pub(crate) fn positional_encoding(seq_len: i64, d_model: i64, device: tch::Device) -> Tensor {
    let opts = (Kind::Float, device);
    let position = Tensor::arange(seq_len, opts).unsqueeze(1); // [seq, 1]
    let div_term = (Tensor::arange_start_step(0, d_model, 2, opts)
        * (-(10000f64.ln()) / d_model as f64))
        .exp(); // [ceil(d/2)]
    let angles = &position * &div_term; // [seq, ceil(d/2)]
    let pe = Tensor::zeros([seq_len, d_model], opts);
    pe.slice(1, 0, None, 2).copy_(&angles.sin());
    pe.slice(1, 1, None, 2)
        .copy_(&angles.cos().narrow(1, 0, d_model / 2));
    pe
}

/// The additive causal mask `[seq, seq]`: 0 on and below the diagonal, −∞ above
/// (`nn.Transformer.generate_square_subsequent_mask`).
pub fn causal_mask(seq_len: i64, device: tch::Device) -> Tensor {
    Tensor::full([seq_len, seq_len], f64::NEG_INFINITY, (Kind::Float, device)).triu(1)
}

/// Multi-head self-attention with a packed input projection, as
/// `nn.MultiheadAttention(d_model, heads, dropout, batch_first=True)`.
#[derive(Debug)]
pub struct MultiheadAttention {
    in_proj_weight: Tensor, // [3·d_model, d_model]: rows of W_q, then W_k, then W_v
    in_proj_bias: Tensor,   // [3·d_model]
    out_proj: Linear,       // d_model -> d_model
    heads: i64,
    dropout: f64,
}

impl MultiheadAttention {
    /// Builds the attention under `p`; `draw` false skips every random draw
    /// (zeros instead: the caller copies the weights in).
    fn new(p: &nn::Path, d_model: i64, heads: i64, dropout: f64, draw: bool) -> Self {
        // PyTorch order: out_proj = Linear (weight, bias drawn), then
        // _reset_parameters: xavier_uniform_(in_proj_weight), zero in_proj_bias and out_proj.bias.
        let out_proj = if draw {
            init::linear(p / "out_proj", d_model, d_model, true)
        } else {
            zeros_linear(p / "out_proj", d_model, d_model)
        };
        if let Some(bs) = &out_proj.bs {
            tch::no_grad(|| {
                let _ = bs.shallow_clone().zero_();
            });
        }
        let w_init = if draw {
            xavier_uniform(d_model, 3 * d_model)
        } else {
            Init::Const(0.0)
        };
        Self {
            in_proj_weight: p.var("in_proj_weight", &[3 * d_model, d_model], w_init),
            in_proj_bias: p.var("in_proj_bias", &[3 * d_model], Init::Const(0.0)),
            out_proj,
            heads,
            dropout,
        }
    }

    /// The heads' queries, keys and values of `xs` `[batch, seq, d_model]`,
    /// each `[batch, heads, seq, head_dim]`: one matmul, then split.
    fn qkv(&self, xs: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (_, l, d) = xs
            .size3()
            .expect("attention input is [batch, seq, d_model]");
        let hd = d / self.heads;
        // [b, l, 3d]
        let qkv = xs.linear(&self.in_proj_weight, Some(&self.in_proj_bias));
        // -1 for the batch: a TorchScript trace keeps it free (--export-torchscript).
        let split = |t: Tensor| t.view([-1, l, self.heads, hd]).transpose(1, 2); // [b, h, l, hd]
        let mut parts = qkv.chunk(3, -1).into_iter().map(split);
        (
            parts.next().expect("q"),
            parts.next().expect("k"),
            parts.next().expect("v"),
        )
    }

    /// Merges the heads `[batch, heads, seq, head_dim]` and applies `out_proj`.
    fn merge(&self, attended: Tensor) -> Tensor {
        let (_, h, l, hd) = attended.size4().expect("[batch, heads, seq, head_dim]");
        let merged = attended.transpose(1, 2).contiguous().view([-1, l, h * hd]); // [b, l, d]
        merged.apply(&self.out_proj)
    }

    /// Self-attention over `xs` `[batch, seq, d_model]` with an optional additive
    /// mask `[seq, seq]`, written out step by step so that it can return the
    /// attention weights: the output `[batch, seq, d_model]` and the weights
    /// `[batch, heads, seq, seq]` (after softmax, before dropout).
    pub fn forward_t(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> (Tensor, Tensor) {
        let (q, k, v) = self.qkv(xs);
        let hd = q.size()[3];
        // Scaled dot products: q·kᵀ / √head_dim, then the mask (−∞ where not allowed).
        let scores = (q * (1.0 / (hd as f64).sqrt())).matmul(&k.transpose(-2, -1)); // [b, h, l, l]
        let scores = match mask {
            Some(m) => scores + m,
            None => scores,
        };
        let weights = scores.softmax(-1, Kind::Float); // [b, h, l, l], rows sum to 1
        let attended = weights.dropout(self.dropout, train).matmul(&v); // [b, h, l, hd]
        (self.merge(attended), weights)
    }

    /// The same attention through libtorch's fused
    /// `scaled_dot_product_attention`, as `nn.MultiheadAttention` computes it when
    /// no weights are asked for (every forward of `nn.TransformerEncoderLayer`):
    /// faster, same kernel as PyTorch, no weights returned.
    pub(crate) fn forward_fused(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        let (q, k, v) = self.qkv(xs);
        let p = if train { self.dropout } else { 0.0 };
        let attended =
            Tensor::scaled_dot_product_attention(&q, &k, &v, mask, p, false, None, false); // [b, h, l, hd]
        self.merge(attended)
    }

    fn params(&self) -> Vec<&Tensor> {
        let mut v = vec![&self.in_proj_weight, &self.in_proj_bias];
        v.extend(linear_params(&self.out_proj));
        v
    }
}

/// One post-norm encoder layer, as `nn.TransformerEncoderLayer(d_model, heads,
/// ff_dim, dropout, batch_first=True)`:
/// `x = norm1(x + dropout1(self_attn(x)))`, `x = norm2(x + dropout2(linear2(dropout(relu(linear1(x))))))`.
#[derive(Debug)]
pub struct EncoderLayer {
    self_attn: MultiheadAttention,
    linear1: Linear, // d_model -> ff_dim
    linear2: Linear, // ff_dim -> d_model
    norm1: nn::LayerNorm,
    norm2: nn::LayerNorm,
    dropout: f64,
}

impl EncoderLayer {
    /// Builds the layer under `p` with PyTorch's initialisation.
    pub fn new(p: &nn::Path, cfg: &TransformerConfig) -> Self {
        Self::build(p, cfg, true)
    }

    fn build(p: &nn::Path, cfg: &TransformerConfig, draw: bool) -> Self {
        let d = cfg.d_model;
        let self_attn =
            MultiheadAttention::new(&(p / "self_attn"), d, cfg.heads, cfg.dropout, draw);
        let lin = |name: &str, i, o| {
            if draw {
                init::linear(p / name, i, o, true)
            } else {
                zeros_linear(p / name, i, o)
            }
        };
        let linear1 = lin("linear1", d, cfg.ff_dim);
        let linear2 = lin("linear2", cfg.ff_dim, d);
        let ln = |name: &str| {
            nn::layer_norm(
                p / name,
                vec![d],
                nn::LayerNormConfig {
                    eps: 1e-5,
                    ..Default::default()
                },
            )
        };
        Self {
            self_attn,
            linear1,
            linear2,
            norm1: ln("norm1"),
            norm2: ln("norm2"),
            dropout: cfg.dropout,
        }
    }

    /// `xs` `[batch, seq, d_model]` → (`[batch, seq, d_model]`, attention weights `[batch, heads, seq, seq]`).
    pub fn forward_t(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> (Tensor, Tensor) {
        let (attn, weights) = self.self_attn.forward_t(xs, mask, train);
        (self.rest(xs, attn, train), weights)
    }

    /// [`EncoderLayer::forward_t`] through the fused attention, without weights.
    pub(crate) fn forward_fused(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        let attn = self.self_attn.forward_fused(xs, mask, train);
        self.rest(xs, attn, train)
    }

    /// The residuals, norms and feed-forward block after the attention.
    fn rest(&self, xs: &Tensor, attn: Tensor, train: bool) -> Tensor {
        let xs = (xs + attn.dropout(self.dropout, train)).apply(&self.norm1);
        let ff = xs
            .apply(&self.linear1)
            .relu()
            .dropout(self.dropout, train)
            .apply(&self.linear2);
        (&xs + ff.dropout(self.dropout, train)).apply(&self.norm2)
    }

    /// Every parameter, in a fixed order (used to copy one layer into another).
    fn params(&self) -> Vec<&Tensor> {
        let mut v = self.self_attn.params();
        v.extend(linear_params(&self.linear1));
        v.extend(linear_params(&self.linear2));
        for n in [&self.norm1, &self.norm2] {
            v.extend(n.ws.iter().chain(n.bs.iter()));
        }
        v
    }
}

/// The whole model: input projection, position encoding, encoder stack, head.
#[derive(Debug)]
pub struct SeqTransformer {
    input_proj: Linear,
    layers: Vec<EncoderLayer>,
    head: Linear,
    cfg: TransformerConfig,
}

impl SeqTransformer {
    /// Builds the model under `p` in PyTorch's construction order: `input_proj`,
    /// layer 0 (drawn), layers 1.. (copies of layer 0, as `nn.TransformerEncoder`
    /// deep-copies its layer), `head`.
    ///
    /// # Panics
    /// If `cfg` is invalid (see [`TransformerConfig::validate`], which callers run first).
    pub fn new(p: &nn::Path, cfg: &TransformerConfig) -> Self {
        cfg.validate().expect("a valid transformer configuration");
        let input_proj = init::linear(p / "input_proj", cfg.input_size, cfg.d_model, true);
        let layers_path = p / "encoder" / "layers";
        let mut layers = vec![EncoderLayer::build(&(&layers_path / 0), cfg, true)];
        for i in 1..cfg.layers {
            let layer = EncoderLayer::build(&(&layers_path / i), cfg, false);
            tch::no_grad(|| {
                for (dst, src) in layer.params().into_iter().zip(layers[0].params()) {
                    dst.shallow_clone().copy_(src);
                }
            });
            layers.push(layer);
        }
        let head = init::linear(p / "head", cfg.d_model, 1, true);
        Self {
            input_proj,
            layers,
            head,
            cfg: cfg.clone(),
        }
    }

    /// The model's options.
    pub fn config(&self) -> &TransformerConfig {
        &self.cfg
    }

    /// `xs` `[batch, seq, input]` → `[batch, seq, d_model]` after the input
    /// projection, the position encoding and dropout; and the mask in force.
    fn embed(&self, xs: &Tensor, train: bool) -> (Tensor, Option<Tensor>) {
        let (_, l, _) = xs.size3().expect("input is [batch, seq, features]");
        let device = xs.device();
        let pe = positional_encoding(l, self.cfg.d_model, device); // [seq, d_model]
        let mask = self.cfg.causal.then(|| causal_mask(l, device)); // [seq, seq]
        let h = (xs.apply(&self.input_proj) + pe).dropout(self.cfg.dropout, train); // [batch, seq, d_model]
        (h, mask)
    }

    /// `xs` `[batch, seq, input]` → predictions `[batch, seq, 1]` and the
    /// attention weights of every layer, each `[batch, heads, seq, seq]`
    /// (the step-by-step attention; [`nn::ModuleT::forward_t`] uses the fused one).
    pub(crate) fn forward_with_attention(&self, xs: &Tensor, train: bool) -> (Tensor, Vec<Tensor>) {
        let (mut h, mask) = self.embed(xs, train);
        let mut weights = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (next, w) = layer.forward_t(&h, mask.as_ref(), train);
            h = next;
            weights.push(w);
        }
        (h.apply(&self.head), weights) // [batch, seq, 1]
    }

    /// The last layer's attention weights per head, `[batch, heads, seq, seq]`
    /// (row t: how much step t attends to each step), in eval mode, without gradients.
    pub fn last_attention(&self, xs: &Tensor) -> Tensor {
        let _guard = tch::no_grad_guard();
        let (_, mut weights) = self.forward_with_attention(xs, false);
        weights.pop().expect("at least one layer")
    }
}

impl crate::quantize::Quantize for SeqTransformer {
    /// `input_proj`, each layer's `self_attn.out_proj`, `linear1`, `linear2`,
    /// and `head` (the packed `in_proj_weight` stays float32).
    fn linear_layers(&mut self) -> Vec<&mut Linear> {
        let mut out = vec![&mut self.input_proj];
        for layer in &mut self.layers {
            out.push(&mut layer.self_attn.out_proj);
            out.push(&mut layer.linear1);
            out.push(&mut layer.linear2);
        }
        out.push(&mut self.head);
        out
    }
}

impl nn::ModuleT for SeqTransformer {
    /// `xs` `[batch, seq, input]` → predictions `[batch, seq, 1]`, with the fused attention.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let (mut h, mask) = self.embed(xs, train);
        for layer in &self.layers {
            h = layer.forward_fused(&h, mask.as_ref(), train);
        }
        h.apply(&self.head) // [batch, seq, 1]
    }
}

/// `xavier_uniform_` on a `[fan_out, fan_in]` weight: `U(±√3·√(2/(fan_in+fan_out)))`,
/// the bound computed as `torch.nn.init` does.
pub(crate) fn xavier_uniform(fan_in: i64, fan_out: i64) -> Init {
    let std = (2.0 / (fan_in + fan_out) as f64).sqrt();
    let a = 3f64.sqrt() * std;
    Init::Uniform { lo: -a, up: a }
}

fn zeros_linear(p: nn::Path, in_dim: i64, out_dim: i64) -> Linear {
    let ws = p.var("weight", &[out_dim, in_dim], Init::Const(0.0));
    let bs = Some(p.var("bias", &[out_dim], Init::Const(0.0)));
    Linear::new(ws, bs)
}

fn linear_params(l: &Linear) -> Vec<&Tensor> {
    std::iter::once(&l.ws).chain(l.bs.iter()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::ModuleT;
    use tch::Device;

    #[test]
    fn fused_and_step_by_step_attention_agree() {
        let vs = nn::VarStore::new(Device::Cpu);
        for causal in [false, true] {
            let cfg = TransformerConfig {
                causal,
                dropout: 0.0,
                ..Default::default()
            };
            let model = SeqTransformer::new(&(vs.root() / format!("causal{causal}")), &cfg);
            let xs = Tensor::randn([4, 9, 10], (Kind::Float, Device::Cpu));
            let fused = model.forward_t(&xs, false);
            let (explicit, _) = model.forward_with_attention(&xs, false);
            let d = (fused - explicit).abs().max().double_value(&[]);
            assert!(
                d < 1e-5,
                "causal {causal}: fused and step-by-step differ by {d}"
            );
        }
    }

    #[test]
    fn shapes_and_causality() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = TransformerConfig {
            causal: true,
            dropout: 0.0,
            ..Default::default()
        };
        let model = SeqTransformer::new(&vs.root(), &cfg);
        let xs = Tensor::randn([3, 7, 10], (Kind::Float, Device::Cpu));
        let ys = model.forward_t(&xs, false);
        assert_eq!(ys.size(), [3, 7, 1]);
        // Changing the last step must not change any earlier prediction.
        let xs2 = xs.copy();
        let _ = xs2.narrow(1, 6, 1).fill_(5.0);
        let ys2 = model.forward_t(&xs2, false);
        let d = (ys.narrow(1, 0, 6) - ys2.narrow(1, 0, 6)).abs().max();
        assert!(d.double_value(&[]) < 1e-6);
        let w = model.last_attention(&xs);
        assert_eq!(w.size(), [3, 4, 7, 7]);
        let rows = w.sum_dim_intlist(-1, false, Kind::Float);
        assert!((rows - 1.0).abs().max().double_value(&[]) < 1e-5);
        assert_eq!(w.double_value(&[0, 0, 0, 1]), 0.0);
    }

    #[test]
    fn layers_start_equal_like_deepcopy() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = SeqTransformer::new(&vs.root(), &TransformerConfig::default());
        let vars = vs.variables();
        for (name, v) in &vars {
            if let Some(rest) = name.strip_prefix("encoder.layers.1.") {
                let v0 = &vars[&format!("encoder.layers.0.{rest}")];
                assert!(v.equal(v0), "{name} differs from layer 0");
            }
        }
        assert_eq!(vs.variables().len(), 4 + 2 * 12);
    }

    #[test]
    fn heads_must_divide_d_model() {
        let cfg = TransformerConfig {
            heads: 3,
            ..Default::default()
        };
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("--heads 3 must divide --d-model 64"), "{e}");
    }
}
