//! A GPT in the form of nanoGPT's `model.py` (Karpathy, 2022; itself GPT-2's
//! architecture: Radford et al. 2019), written from libtorch primitives because
//! tch has no Transformer blocks. The language model of `transformer_lm`.
//!
//! ```text
//! idx [batch, t] (token ids, t ≤ block_size)
//!   -> transformer.wte(idx) + transformer.wpe(0..t), dropout     [batch, t, n_embd]
//!   -> transformer.h.0 .. transformer.h.{n_layer-1}:  pre-LayerNorm blocks
//!        x = x + attn(ln_1(x))   causal self-attention (scaled_dot_product_attention)
//!        x = x + mlp(ln_2(x))    Linear(n, 4n) -> GELU -> Linear(4n, n)
//!   -> transformer.ln_f
//!   -> lm_head: Linear(n_embd, vocab, bias=False), its weight tied to wte   [batch, t, vocab]
//! ```
//!
//! Parameter names equal the `state_dict` keys of nanoGPT's `GPT` (and of
//! `parity/models.py::GPT`): `transformer.wte.weight`, `transformer.wpe.weight`,
//! `transformer.h.N.{ln_1,ln_2}.{weight,bias}`,
//! `transformer.h.N.attn.{c_attn,c_proj}.{weight,bias}`,
//! `transformer.h.N.mlp.{c_fc,c_proj}.{weight,bias}`, `transformer.ln_f.{weight,bias}`.
//! The tied head has no variable of its own: PyTorch's `state_dict` also lists
//! `lm_head.weight`, the same tensor as `transformer.wte.weight`.
//!
//! Initialisation follows PyTorch draw for draw: construction draws what
//! `nn.Embedding` (`normal_(0, 1)`) and `nn.Linear` (`kaiming_uniform_(a=√5)`,
//! then the bias) draw, in registration order; then `self.apply(_init_weights)`
//! visits the modules children-first and redraws every Linear and Embedding
//! weight from N(0, 0.02) and zeroes the Linear biases (the tied weight is drawn
//! twice, as wte and as lm_head; the second draw stays); then every
//! `c_proj.weight` is redrawn from N(0, 0.02/√(2·n_layer)) (GPT-2's scaled
//! residual init). With the same `manual_seed` the Rust model starts from the
//! very same numbers as PyTorch's (`tests/transformer_lm_parity.rs`).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Init};
use tch::{Kind, Tensor};

use super::{init, Linear};

/// nanoGPT's `_init_weights` standard deviation.
const INIT_STD: f64 = 0.02;
/// `F.layer_norm`'s ε in nanoGPT's `LayerNorm`.
const LN_EPS: f64 = 1e-5;

/// Shape options of [`Gpt`] (nanoGPT's `GPTConfig`).
///
/// Declared once: these fields are the command-line flags (doc comments as
/// `--help`, defaults from [`Default`]) and the `model` section of
/// `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct GptConfig {
    /// Tokens in the vocabulary (set from the data, not a flag).
    #[arg(skip = GptConfig::default().vocab_size)]
    pub vocab_size: i64,
    /// Longest context, in tokens (the window the model reads).
    #[arg(long, value_name = "N", default_value_t = GptConfig::default().block_size)]
    pub block_size: i64,
    /// Transformer blocks.
    #[arg(long, value_name = "N", default_value_t = GptConfig::default().n_layer)]
    pub n_layer: i64,
    /// Attention heads (must divide --n-embd).
    #[arg(long, value_name = "N", default_value_t = GptConfig::default().n_head)]
    pub n_head: i64,
    /// Width of the residual stream (the embedding size).
    #[arg(long, value_name = "N", default_value_t = GptConfig::default().n_embd)]
    pub n_embd: i64,
    /// Dropout after the embeddings, on the attention weights and in both
    /// residual branches, as nanoGPT's.
    #[arg(long, value_name = "P", default_value_t = GptConfig::default().dropout)]
    pub dropout: f64,
    /// Biases in the Linears and LayerNorms (nanoGPT's `bias`, on by default;
    /// not a flag).
    #[arg(skip = GptConfig::default().bias)]
    pub bias: bool,
}

impl Default for GptConfig {
    /// nanoGPT's CPU "baby GPT" of its README (4 layers, 4 heads, 128 wide,
    /// block 64, dropout 0).
    fn default() -> Self {
        Self {
            vocab_size: 65,
            block_size: 64,
            n_layer: 4,
            n_head: 4,
            n_embd: 128,
            dropout: 0.0,
            bias: true,
        }
    }
}

impl GptConfig {
    /// Checks the values a user can set.
    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [
            ("--n-layer", self.n_layer),
            ("--n-head", self.n_head),
            ("--n-embd", self.n_embd),
            ("--block-size", self.block_size),
            ("the vocabulary size", self.vocab_size),
        ] {
            if v < 1 {
                bail!("{flag} must be at least 1, got {v}");
            }
        }
        if self.n_embd % self.n_head != 0 {
            bail!(
                "--n-embd ({}) must be a multiple of --n-head ({})",
                self.n_embd,
                self.n_head
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("--dropout must be in [0, 1), got {}", self.dropout);
        }
        Ok(())
    }
}

/// nanoGPT's `LayerNorm` (a weight, an optional bias, ε 1e-5).
#[derive(Debug)]
struct LayerNorm {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl LayerNorm {
    fn new(p: nn::Path, n: i64, bias: bool) -> Self {
        Self {
            weight: p.var("weight", &[n], Init::Const(1.0)),
            bias: bias.then(|| p.var("bias", &[n], Init::Const(0.0))),
        }
    }

    /// `[.., n] -> [.., n]`
    fn forward(&self, x: &Tensor) -> Tensor {
        let n = self.weight.size()[0];
        x.layer_norm([n], Some(&self.weight), self.bias.as_ref(), LN_EPS, true)
    }
}

/// `F.dropout(x, p, train)`, skipped when it cannot change anything.
fn dropout(x: Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        x.dropout(p, true)
    } else {
        x
    }
}

/// nanoGPT's `CausalSelfAttention`: one Linear for q, k and v, causal
/// `scaled_dot_product_attention`, an output projection.
#[derive(Debug)]
struct CausalSelfAttention {
    c_attn: Linear,
    c_proj: Linear,
    n_head: i64,
    dropout: f64,
}

impl CausalSelfAttention {
    fn new(p: nn::Path, cfg: &GptConfig) -> Self {
        let n = cfg.n_embd;
        Self {
            c_attn: init::linear(&p / "c_attn", n, 3 * n, cfg.bias),
            c_proj: init::linear(&p / "c_proj", n, n, cfg.bias),
            n_head: cfg.n_head,
            dropout: cfg.dropout,
        }
    }

    /// q, k and v of `x` `[batch, t, n_embd]`, each `[batch, head, t, head_size]`.
    fn qkv(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (_, t, c) = x.size3().expect("attention input is [batch, t, n_embd]");
        // -1 for the batch: a TorchScript trace keeps it free (--export-torchscript).
        let heads = |h: &Tensor| {
            h.view([-1, t, self.n_head, c / self.n_head])
                .transpose(1, 2)
        };
        let qkv = x.apply(&self.c_attn).split(c, 2); // 3 × [batch, t, n_embd]
        (heads(&qkv[0]), heads(&qkv[1]), heads(&qkv[2]))
    }

    /// The heads `[batch, head, t, hs]` merged back and projected: `[batch, t, n_embd]`.
    fn project(&self, y: Tensor) -> Tensor {
        let (_, h, t, hs) = y.size4().expect("attention output is [batch, head, t, hs]");
        y.transpose(1, 2)
            .contiguous()
            .view([-1, t, h * hs]) // -1: the batch stays free in a trace
            .apply(&self.c_proj)
    }

    /// `[batch, t, n_embd] -> [batch, t, n_embd]`
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let (q, k, v) = self.qkv(x);
        let p = if train { self.dropout } else { 0.0 };
        let y =
            Tensor::scaled_dot_product_attention(&q, &k, &v, None::<Tensor>, p, true, None, false); // [batch, head, t, hs]
        dropout(self.project(y), self.dropout, train)
    }
}

impl CausalSelfAttention {
    /// Eval-mode attention of the new positions `x` `[batch, t_new, n_embd]`
    /// over the cached ones and themselves; appends their keys and values to
    /// `kv` (`[batch, head, t, hs]` each). With an empty cache the new
    /// positions attend causally among themselves; one new position after a
    /// cache attends to all of it (nothing is in its future).
    fn forward_cached(&self, x: &Tensor, kv: &mut Option<(Tensor, Tensor)>) -> Tensor {
        let t = x.size()[1];
        let (q, k, v) = self.qkv(x); // [batch, head, t, hs]
        let causal = kv.is_none();
        assert!(causal || t == 1, "after a cache, one position at a time");
        let (k, v) = match kv.take() {
            Some((pk, pv)) => (Tensor::cat(&[pk, k], 2), Tensor::cat(&[pv, v], 2)),
            None => (k, v),
        };
        let y = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            None::<Tensor>,
            0.0,
            causal,
            None,
            false,
        ); // [batch, head, t, hs]
        *kv = Some((k, v));
        self.project(y)
    }
}

/// nanoGPT's `MLP`: Linear(n, 4n), exact GELU, Linear(4n, n), dropout.
#[derive(Debug)]
struct Mlp {
    c_fc: Linear,
    c_proj: Linear,
    dropout: f64,
}

impl Mlp {
    fn new(p: nn::Path, cfg: &GptConfig) -> Self {
        let n = cfg.n_embd;
        Self {
            c_fc: init::linear(&p / "c_fc", n, 4 * n, cfg.bias),
            c_proj: init::linear(&p / "c_proj", 4 * n, n, cfg.bias),
            dropout: cfg.dropout,
        }
    }

    /// `[.., n_embd] -> [.., n_embd]`
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = x.apply(&self.c_fc).gelu("none").apply(&self.c_proj);
        dropout(h, self.dropout, train)
    }
}

/// One pre-LayerNorm block (nanoGPT's `Block`).
#[derive(Debug)]
struct Block {
    ln_1: LayerNorm,
    attn: CausalSelfAttention,
    ln_2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn new(p: nn::Path, cfg: &GptConfig) -> Self {
        Self {
            ln_1: LayerNorm::new(&p / "ln_1", cfg.n_embd, cfg.bias),
            attn: CausalSelfAttention::new(&p / "attn", cfg),
            ln_2: LayerNorm::new(&p / "ln_2", cfg.n_embd, cfg.bias),
            mlp: Mlp::new(&p / "mlp", cfg),
        }
    }

    /// `[batch, t, n_embd] -> [batch, t, n_embd]`
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = x + self.attn.forward_t(&self.ln_1.forward(x), train);
        &x + self.mlp.forward_t(&self.ln_2.forward(&x), train)
    }
}

/// The keys and values of every layer for the positions a generation has
/// seen (at most `block_size`), so that each new token costs one position's
/// forward pass instead of the whole context's.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: i64,
}

impl KvCache {
    /// Positions cached.
    pub fn len(&self) -> i64 {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The GPT language model: token ids `[batch, t]` in, next-token logits
/// `[batch, t, vocab_size]` out (`forward_t`).
#[derive(Debug)]
pub struct Gpt {
    wte: Tensor,
    wpe: Tensor,
    h: Vec<Block>,
    ln_f: LayerNorm,
    cfg: GptConfig,
}

impl Gpt {
    /// Builds the model under `p` with PyTorch's initialisation (module
    /// header). Errors on invalid settings.
    pub fn new(p: &nn::Path, cfg: &GptConfig) -> Result<Self> {
        cfg.validate()?;
        let t = p / "transformer";
        let normal = Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        };
        let wte = (&t / "wte").var("weight", &[cfg.vocab_size, cfg.n_embd], normal);
        let wpe = (&t / "wpe").var("weight", &[cfg.block_size, cfg.n_embd], normal);
        let h = (0..cfg.n_layer)
            .map(|i| Block::new(&t / "h" / i, cfg))
            .collect();
        let ln_f = LayerNorm::new(&t / "ln_f", cfg.n_embd, cfg.bias);
        let mut gpt = Self {
            wte,
            wpe,
            h,
            ln_f,
            cfg: cfg.clone(),
        };
        // lm_head = nn.Linear(n_embd, vocab, bias=False) draws its weight at
        // construction; the tying then drops it, so draw and discard.
        let bound = 1.0 / (cfg.n_embd as f64).sqrt();
        let _ = Tensor::empty([cfg.vocab_size, cfg.n_embd], (Kind::Float, p.device()))
            .uniform_(-bound, bound);
        tch::no_grad(|| gpt.init_weights());
        Ok(gpt)
    }

    /// nanoGPT's `self.apply(self._init_weights)` and the scaled `c_proj` draws.
    fn init_weights(&mut self) {
        let linear = |l: &mut Linear| {
            let _ = l.ws.normal_(0.0, INIT_STD);
            if let Some(b) = l.bs.as_mut() {
                let _ = b.zero_();
            }
        };
        let _ = self.wte.normal_(0.0, INIT_STD);
        let _ = self.wpe.normal_(0.0, INIT_STD);
        for block in &mut self.h {
            linear(&mut block.attn.c_attn);
            linear(&mut block.attn.c_proj);
            linear(&mut block.mlp.c_fc);
            linear(&mut block.mlp.c_proj);
        }
        // lm_head: the tied weight, drawn again.
        let _ = self.wte.normal_(0.0, INIT_STD);
        let std = INIT_STD / (2.0 * self.cfg.n_layer as f64).sqrt();
        for block in &mut self.h {
            let _ = block.attn.c_proj.ws.normal_(0.0, std);
            let _ = block.mlp.c_proj.ws.normal_(0.0, std);
        }
    }

    /// Eval-mode logits `[batch, t_new, vocab]` of the new tokens `idx`
    /// `[batch, t_new]` at positions `cache.len()..`, using and extending
    /// `cache`: a whole context into an empty cache, then one token at a time.
    /// Equals [`nn::ModuleT::forward_t`] over the whole context to float32
    /// rounding (tests/transformer_lm_parity.rs).
    ///
    /// # Panics
    /// When the cache would pass `block_size` positions (learned absolute
    /// positions cannot slide: start a new cache over the cropped context).
    pub fn forward_cached(&self, idx: &Tensor, cache: &mut KvCache) -> Tensor {
        let t = idx.size()[1];
        assert!(
            cache.len + t <= self.cfg.block_size,
            "the cache holds {} positions; {t} more pass the block size {}",
            cache.len,
            self.cfg.block_size
        );
        if cache.layers.is_empty() {
            cache.layers = (0..self.h.len()).map(|_| None).collect();
        }
        let pos = Tensor::arange_start(cache.len, cache.len + t, (Kind::Int64, idx.device()));
        let tok_emb = Tensor::embedding(&self.wte, idx, -1, false, false);
        let pos_emb = Tensor::embedding(&self.wpe, &pos, -1, false, false);
        let mut x = tok_emb + pos_emb; // [batch, t_new, n_embd]
        for (block, kv) in self.h.iter().zip(cache.layers.iter_mut()) {
            x = &x + block.attn.forward_cached(&block.ln_1.forward(&x), kv);
            x = &x + block.mlp.forward_t(&block.ln_2.forward(&x), false);
        }
        cache.len += t;
        self.ln_f.forward(&x).linear::<Tensor>(&self.wte, None)
    }

    /// The settings the model was built with.
    pub fn config(&self) -> &GptConfig {
        &self.cfg
    }

    /// Next-token cross-entropy of `logits` `[batch, t, vocab]` against
    /// `targets` `[batch, t]` (int64), mean over tokens, targets of −1 ignored
    /// (nanoGPT's `F.cross_entropy(..., ignore_index=-1)`). Natural log: divide
    /// by ln 2 for bits per token.
    pub fn loss(logits: &Tensor, targets: &Tensor) -> Tensor {
        let vocab = logits.size().last().copied().unwrap_or(1);
        logits.view([-1, vocab]).cross_entropy_loss::<Tensor>(
            &targets.view([-1]),
            None,
            tch::Reduction::Mean,
            -1,
            0.0,
        )
    }
}

impl Gpt {
    /// The final hidden states (after `ln_f`) `[batch, t, n_embd]` of `idx`
    /// `[batch, t]` (t ≤ block_size): what the head reads, and what a
    /// classifier pools.
    pub(crate) fn hidden_t(&self, idx: &Tensor, train: bool) -> Tensor {
        let t = idx.size()[1];
        assert!(
            t <= self.cfg.block_size,
            "a sequence of {t} tokens is longer than the block size {}",
            self.cfg.block_size
        );
        let pos = Tensor::arange(t, (Kind::Int64, idx.device())); // [t]
        let tok_emb = Tensor::embedding(&self.wte, idx, -1, false, false); // [batch, t, n_embd]
        let pos_emb = Tensor::embedding(&self.wpe, &pos, -1, false, false); // [t, n_embd]
        let mut x = dropout(tok_emb + pos_emb, self.cfg.dropout, train);
        for block in &self.h {
            x = block.forward_t(&x, train);
        }
        self.ln_f.forward(&x)
    }
}

impl crate::quantize::Quantize for Gpt {
    /// Each block's `attn.c_attn`, `attn.c_proj`, `mlp.c_fc`, `mlp.c_proj`
    /// (the embeddings, the head tied to `wte` and the LayerNorms stay float32).
    fn linear_layers(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::with_capacity(4 * self.h.len());
        for block in &mut self.h {
            out.push(&mut block.attn.c_attn);
            out.push(&mut block.attn.c_proj);
            out.push(&mut block.mlp.c_fc);
            out.push(&mut block.mlp.c_proj);
        }
        out
    }
}

impl nn::ModuleT for Gpt {
    /// `idx` `[batch, t]` int64 with t ≤ block_size → logits `[batch, t, vocab]`.
    fn forward_t(&self, idx: &Tensor, train: bool) -> Tensor {
        self.hidden_t(idx, train).linear::<Tensor>(&self.wte, None) // [batch, t, vocab]
    }
}
