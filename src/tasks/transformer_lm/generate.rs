//! Text generation as nanoGPT's `GPT.generate`: the context cropped to the
//! block size, the last position's logits divided by the temperature, all but
//! the top-k set to −∞, then (an addition) nucleus filtering, softmax and one
//! draw of `torch.multinomial`; temperature 0 takes the argmax instead. A
//! key/value cache spares recomputing the prefix ([`Gpt::forward_cached`]).
//! Characters are streamed to stdout as they are drawn.

use std::io::Write;

use anyhow::{Context, Result};
use tch::{Device, Kind, Tensor};

use super::config::GenerateConfig;
use crate::data::text::CharVocab;
use crate::models::gpt::KvCache;
use crate::models::Gpt;

/// `cfg.num_samples` continuations of `cfg.prompt`, `chars` characters each,
/// after seeding libtorch's generator with `seed` once (the PyTorch twin draws
/// the same characters). Each is printed as it is drawn, after a `sample:`
/// line, samples separated by nanoGPT's `---------------`. Errors when the
/// prompt holds characters outside the vocabulary.
pub fn generate(
    model: &Gpt,
    vocab: &CharVocab,
    cfg: &GenerateConfig,
    seed: u64,
    chars: usize,
    device: Device,
) -> Result<Vec<String>> {
    let prompt = vocab.encode(&cfg.prompt, "--prompt")?;
    let _guard = tch::no_grad_guard();
    tch::manual_seed(seed as i64);
    let mut stdout = std::io::stdout().lock();
    let mut samples = Vec::with_capacity(cfg.num_samples);
    for k in 0..cfg.num_samples {
        let head = if k == 0 {
            "sample:\n"
        } else {
            "\n---------------\n"
        };
        stdout
            .write_all(head.as_bytes())
            .context("cannot write to stdout")?;
        let ids = continue_prompt(model, &prompt, cfg, chars, device, |id| {
            let _ = write!(stdout, "{}", vocab.decode(&[id]));
            let _ = stdout.flush();
        });
        samples.push(vocab.decode(&ids));
    }
    writeln!(stdout).context("cannot write to stdout")?;
    Ok(samples)
}

/// Draws `chars` tokens after `prompt`, calling `each` on every one. The
/// context is cropped to the last `block_size` tokens as nanoGPT crops it;
/// a key/value cache serves every step until the context fills the block,
/// after which each step reruns the cropped context (the positions shift, so
/// cached keys would sit at the wrong positions).
fn continue_prompt(
    model: &Gpt,
    prompt: &[i64],
    cfg: &GenerateConfig,
    chars: usize,
    device: Device,
    mut each: impl FnMut(i64),
) -> Vec<i64> {
    let block = model.config().block_size as usize;
    let mut tokens = prompt.to_vec();
    let mut out = Vec::with_capacity(chars);
    let mut cache = KvCache::default();
    let mut pending: Vec<i64> = Vec::new(); // tokens not yet in the cache
    for _ in 0..chars {
        if cache.is_empty() || cache.len() as usize + 1 > block {
            cache = KvCache::default();
            pending = tokens[tokens.len().saturating_sub(block)..].to_vec();
        }
        let idx = Tensor::from_slice(&pending).unsqueeze(0).to_device(device); // [1, t_new]
        let logits = model.forward_cached(&idx, &mut cache).select(1, -1); // [1, vocab]
        let next = if cfg.temperature == 0.0 {
            logits.argmax(-1, true) // [1, 1]
        } else {
            let logits = top_p(top_k(logits / cfg.temperature, cfg.top_k), cfg.top_p);
            logits.softmax(-1, Kind::Float).multinomial(1, false) // [1, 1]
        };
        let id = next.int64_value(&[0, 0]);
        each(id);
        out.push(id);
        tokens.push(id);
        pending = vec![id];
    }
    out
}

/// nanoGPT's top-k: logits below the k-th largest become −∞ (k ≥ vocab: unchanged).
fn top_k(logits: Tensor, k: i64) -> Tensor {
    let vocab = logits.size()[1];
    if k >= vocab {
        return logits;
    }
    let (v, _) = logits.topk(k, -1, true, true); // [1, k]
    let kth = v.narrow(1, k - 1, 1); // [1, 1]
    logits.masked_fill(&logits.lt_tensor(&kth), f64::NEG_INFINITY)
}

/// Nucleus filtering (Holtzman et al. 2020, as Hugging Face's
/// `TopPLogitsWarper`): sorted by probability, the characters after the
/// cumulative probability first exceeds `p` become −∞; the likeliest always stays.
fn top_p(logits: Tensor, p: f64) -> Tensor {
    if p >= 1.0 {
        return logits;
    }
    let (sorted, order) = logits.sort(-1, true); // [1, vocab]
    let cumulative = sorted.softmax(-1, Kind::Float).cumsum(-1, Kind::Float);
    let mut remove = cumulative.gt(p); // [1, vocab]
                                       // Keep the first character that crosses p: shift the mask right by one.
    let vocab = remove.size()[1];
    let keep_first = Tensor::zeros([1, 1], (Kind::Bool, remove.device()));
    remove = Tensor::cat(&[keep_first, remove.narrow(1, 0, vocab - 1)], 1);
    let mask = remove.scatter(1, &order, &remove);
    logits.masked_fill(&mask, f64::NEG_INFINITY)
}
