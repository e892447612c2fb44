//! Text for the language model of `transformer_lm`: reading a corpus (files,
//! folders, `.gz`), a character vocabulary (Unicode scalar values, as
//! nanoGPT's `shakespeare_char/prepare.py` builds it: the sorted set of the
//! characters of the text), the train/validation split and the random
//! training windows (nanoGPT's `get_batch`).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// A character-level vocabulary: token `i` is `chars[i]`, the characters
/// sorted by code point. Characters outside it are refused by
/// [`CharVocab::encode`] (never replaced silently).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharVocab {
    /// The characters, sorted by code point; the index is the token id.
    pub chars: Vec<char>,
}

impl CharVocab {
    /// The vocabulary of `text`: every character it holds, sorted.
    pub(crate) fn from_text(text: &str) -> Self {
        let set: BTreeSet<char> = text.chars().collect();
        Self {
            chars: set.into_iter().collect(),
        }
    }

    /// Tokens in the vocabulary.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The token ids of `text`. Errors name the first characters that are not
    /// in the vocabulary and where they are (`what` says whose text it is).
    pub fn encode(&self, text: &str, what: &str) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(text.len());
        let mut unknown: Vec<(usize, char)> = Vec::new();
        for (pos, c) in text.chars().enumerate() {
            match self.chars.binary_search(&c) {
                Ok(i) => ids.push(i as i64),
                Err(_) => unknown.push((pos, c)),
            }
        }
        if let Some(&(pos, c)) = unknown.first() {
            let distinct: BTreeSet<char> = unknown.iter().map(|&(_, c)| c).collect();
            let shown: Vec<String> = distinct.iter().take(8).map(|c| format!("{c:?}")).collect();
            bail!(
                "{what} has {} character(s) the model's vocabulary of {} lacks ({}; the first, {c:?}, \
                 at character {pos}): a character-level model knows only the characters of its \
                 training text",
                unknown.len(),
                self.len(),
                shown.join(", ")
            );
        }
        Ok(ids)
    }

    /// The token ids of `text` with every character outside the vocabulary
    /// read as a space (or as token 0 when the vocabulary has no space), and
    /// the characters so replaced: the documented fallback of the classifier,
    /// whose sentences may hold characters the pre-training text lacked.
    pub(crate) fn encode_lossy(&self, text: &str) -> (Vec<i64>, Vec<char>) {
        let space = self.chars.binary_search(&' ').map_or(0, |i| i as i64);
        let mut unknown = Vec::new();
        let ids = text
            .chars()
            .map(|c| match self.chars.binary_search(&c) {
                Ok(i) => i as i64,
                Err(_) => {
                    unknown.push(c);
                    space
                }
            })
            .collect();
        (ids, unknown)
    }

    /// The text of token ids (ids outside the vocabulary become U+FFFD).
    pub fn decode(&self, ids: &[i64]) -> String {
        ids.iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.chars.get(i).copied())
                    .unwrap_or('\u{FFFD}')
            })
            .collect()
    }
}

/// The files a `--text` argument names: the file itself, or a folder's
/// `*.txt` and `*.txt.gz` files sorted by name (the order the corpus is
/// concatenated in).
pub fn text_files(arg: &Path) -> Result<Vec<PathBuf>> {
    if !arg.is_dir() {
        if !arg.exists() {
            bail!("{}: no such file or folder", arg.display());
        }
        return Ok(vec![arg.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(arg)
        .with_context(|| format!("cannot list {}", arg.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            p.is_file() && (name.ends_with(".txt") || name.ends_with(".txt.gz"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no .txt or .txt.gz file", arg.display());
    }
    Ok(files)
}

/// The text of one file: UTF-8 (a byte-order mark dropped), gunzipped when
/// the name ends in `.gz`, line ends normalised to `\n` (Windows' `\r\n`
/// would otherwise add a `\r` token before every line end).
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .with_context(|| format!("{} is not a valid gzip file", path.display()))?;
        out
    } else {
        bytes
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        anyhow::anyhow!(
            "{} is not UTF-8 text (invalid byte at offset {at}): convert it to UTF-8 first",
            path.display()
        )
    })?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
    Ok(text.replace("\r\n", "\n"))
}

/// A corpus: the files read, in order, joined by one `\n` where a file does
/// not already end with one.
#[derive(Debug, Clone)]
pub(crate) struct Corpus {
    /// The whole text.
    pub text: String,
    /// The files it came from, in order.
    pub files: Vec<PathBuf>,
}

impl Corpus {
    /// Reads every file that `args` name ([`text_files`]), in order.
    pub fn read(args: &[PathBuf]) -> Result<Self> {
        let mut files = Vec::new();
        for a in args {
            files.extend(text_files(a)?);
        }
        let mut text = String::new();
        for f in &files {
            let t = read_text(f)?;
            if t.is_empty() {
                bail!(
                    "{} is empty: give it some text or leave it out of --text",
                    f.display()
                );
            }
            text.push_str(&t);
            if !t.ends_with('\n') {
                text.push('\n');
            }
        }
        if text.chars().count() < 2 {
            bail!("the text given by --text is empty");
        }
        Ok(Self { text, files })
    }
}

/// Token ids split as nanoGPT splits them: the first `1 − val_fraction` of the
/// text trains, the rest validates (contiguous, so no window straddles both).
#[derive(Debug)]
pub struct TokenSplit {
    /// `[n_train]` int64.
    pub train: Tensor,
    /// `[n_val]` int64.
    pub val: Tensor,
}

impl TokenSplit {
    /// Splits `ids` at `⌊n · (1 − val_fraction)⌋`; both parts must hold more
    /// than `block_size` tokens.
    pub fn new(ids: &[i64], val_fraction: f64, block_size: i64) -> Result<Self> {
        let n = ids.len();
        let cut = (n as f64 * (1.0 - val_fraction)) as usize;
        let (train, val) = ids.split_at(cut);
        for (what, part) in [("training", train), ("validation", val)] {
            if (part.len() as i64) <= block_size {
                bail!(
                    "the {what} text has {} characters, not more than --block-size {block_size}: \
                     give more text or a smaller --block-size (or another --val-fraction)",
                    part.len()
                );
            }
        }
        Ok(Self {
            train: Tensor::from_slice(train),
            val: Tensor::from_slice(val),
        })
    }
}

/// `batch` windows of `block_size + 1` tokens at offsets drawn with
/// `torch.randint(len − block_size, (batch,))` on libtorch's global generator
/// (nanoGPT's `get_batch`; the caller seeds it): inputs `x` `[batch, block]`
/// and next-token targets `y` `[batch, block]`, on `device`.
pub(crate) fn random_windows(
    data: &Tensor,
    block_size: i64,
    batch: i64,
    device: Device,
) -> (Tensor, Tensor) {
    let n = data.size()[0];
    let ix = Tensor::randint(n - block_size, [batch], (Kind::Int64, Device::Cpu)); // [batch]
    let offsets = Tensor::arange(block_size, (Kind::Int64, Device::Cpu)); // [block]
    let at = ix.unsqueeze(1) + offsets.unsqueeze(0); // [batch, block]
    let x = data.take(&at);
    let y = data.take(&(at + 1));
    (x.to_device(device), y.to_device(device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_round_trips_and_refuses_unknown_characters() {
        let v = CharVocab::from_text("hello, world\n");
        assert_eq!(v.len(), 10); // h e l o , space w r d \n
        let ids = v.encode("world", "the prompt").expect("known characters");
        assert_eq!(v.decode(&ids), "world");
        let err = v
            .encode("héllo!", "the prompt")
            .expect_err("é and ! are unknown");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("'é'") && msg.contains("'!'") && msg.contains("the prompt"),
            "{msg}"
        );
    }

    #[test]
    fn windows_are_consecutive_text_and_targets_shift_by_one() {
        let data = Tensor::arange(100, (Kind::Int64, Device::Cpu));
        tch::manual_seed(3);
        let (x, y) = random_windows(&data, 8, 4, Device::Cpu);
        assert_eq!(x.size(), [4, 8]);
        let diff = (&y - &x).eq(1).all().int64_value(&[]);
        assert_eq!(diff, 1);
        let step = (x.narrow(1, 1, 7) - x.narrow(1, 0, 7))
            .eq(1)
            .all()
            .int64_value(&[]);
        assert_eq!(step, 1);
    }
}
