//! Text generation as nanoGPT's `GPT.generate`: the context cropped to the
//! block size, the last position's logits divided by the temperature, all but
//! the top-k set to −∞, softmax, one draw of `torch.multinomial`.

use anyhow::Result;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

use super::config::GenerateConfig;
use crate::data::text::CharVocab;
use crate::models::Gpt;

/// Continues `cfg.prompt` by `cfg.generate` characters, seeding libtorch's
/// generator with `cfg.sample_seed` first (the PyTorch twin draws the same
/// characters). Returns the new characters only. Errors when the prompt holds
/// characters outside the vocabulary.
pub fn generate(
    model: &Gpt,
    vocab: &CharVocab,
    cfg: &GenerateConfig,
    device: Device,
) -> Result<String> {
    let prompt = vocab.encode(&cfg.prompt, "--prompt")?;
    let _guard = tch::no_grad_guard();
    tch::manual_seed(cfg.sample_seed as i64);
    let block = model.config().block_size;
    let mut idx = Tensor::from_slice(&prompt).unsqueeze(0).to_device(device); // [1, t]
    let mut out = Vec::with_capacity(cfg.generate);
    for _ in 0..cfg.generate {
        let t = idx.size()[1];
        let context = if t > block {
            idx.narrow(1, t - block, block)
        } else {
            idx.shallow_clone()
        };
        let logits = model.forward_t(&context, false); // [1, t, vocab]
        let last = logits.select(1, -1) / cfg.temperature; // [1, vocab]
        let last = top_k(last, cfg.top_k);
        let probs = last.softmax(-1, Kind::Float);
        let next = probs.multinomial(1, false); // [1, 1]
        out.push(next.int64_value(&[0, 0]));
        idx = Tensor::cat(&[idx, next], 1);
    }
    Ok(vocab.decode(&out))
}

/// nanoGPT's top-k: logits below the k-th largest become −∞ (k 0 or ≥ vocab: unchanged).
fn top_k(logits: Tensor, k: i64) -> Tensor {
    let vocab = logits.size()[1];
    if k == 0 || k >= vocab {
        return logits;
    }
    let (v, _) = logits.topk(k, -1, true, true); // [1, k]
    let kth = v.narrow(1, k - 1, 1); // [1, 1]
    logits.masked_fill(&logits.lt_tensor(&kth), f64::NEG_INFINITY)
}
