//! PyTorch's `torch.save` files, read without Python and without running any
//! code: the guarantee of `torch.load(weights_only=True)`.
//!
//! The pickle inside is parsed by the `pytorch-reader` crate (Burn's, grown
//! from candle's reader): a stack machine that interprets only the calls
//! PyTorch uses to rebuild tensors (`torch._utils._rebuild_tensor_v2`,
//! `_rebuild_parameter`, `collections.OrderedDict`, the typed storages) and
//! keeps every other global as an inert name, so nothing a file names is ever
//! called. libtorch's own `torch::pickle_load` cannot serve: tch exposes it
//! nowhere (its `loadz_multi` reads `torch.jit._save_parameters` files and
//! `load_multi` TorchScript), and libtorch's unpickler turns every
//! `OrderedDict` into `None`, i.e. it cannot read a state_dict.
//!
//! What is accepted: a state_dict (the file's root dict holds tensors), or a
//! dict holding one under `state_dict`, `model_state_dict`, `model` or `net`
//! (a training checkpoint; its other entries are ignored and named). What is
//! refused, with the two lines of Python that convert it: a whole pickled
//! module (`torch.save(model)`: `torch.load(weights_only=True)` refuses it
//! too, as only the model's class code can rebuild it faithfully) and a
//! TorchScript archive (`torch.jit.save`).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use pytorch_reader::{DType, PickleValue, PytorchReader};
use tch::{Kind, Tensor};

use super::format::{contains, Container};

/// Where a training checkpoint keeps its state_dict, in the order looked at
/// (the names PyTorch's tutorials, Lightning and common repositories use).
pub(super) const STATE_DICT_KEYS: [&str; 4] = ["state_dict", "model_state_dict", "model", "net"];

/// Largest pickle read to look for a whole pickled module (the legacy format
/// keeps its pickle before the tensor data, so this is far more than needed).
const PICKLE_SCAN_LIMIT: u64 = 64 << 20;

/// A state_dict read from a `torch.save` file.
pub(super) struct TorchStateDict {
    /// Named tensors, sorted by name.
    pub tensors: Vec<(String, Tensor)>,
    /// The entry of the file's dict that held the state_dict, if any.
    pub dict_key: Option<String>,
    /// The file's other top-level entries, sorted (none when `dict_key` is `None`).
    pub ignored: Vec<String>,
}

impl TorchStateDict {
    /// One line for the console saying what was read.
    pub fn note(&self, container: &Container) -> String {
        let what = match container {
            Container::TorchLegacy(what) => what,
            _ => "a PyTorch torch.save file",
        };
        match &self.dict_key {
            None => format!("read the state_dict of {what}"),
            Some(key) => format!(
                "read the state_dict under `{key}` of a training checkpoint ({what}); ignored: {}",
                if self.ignored.is_empty() {
                    "nothing".to_string()
                } else {
                    self.ignored.join(", ")
                }
            ),
        }
    }
}

/// Reads the state_dict of `torch.save` file `path` (`container` as sniffed).
pub(super) fn read(path: &Path, container: &Container) -> Result<TorchStateDict> {
    refuse_what_needs_python(path, container)?;
    let root = PytorchReader::read_pickle_data(path, None)
        .map_err(|e| anyhow!("cannot read PyTorch checkpoint {}: {e}", path.display()))?;
    let PickleValue::Dict(root) = root else {
        bail!(
            "PyTorch checkpoint {} holds {}, not a state_dict (a dict of named tensors)",
            path.display(),
            kind_of(&root)
        );
    };
    let dict_key = locate_state_dict(&root, path)
        .map_err(|why| anyhow!("PyTorch checkpoint {} {why}", path.display()))?;
    let reader = match &dict_key {
        None => PytorchReader::new(path),
        Some(key) => PytorchReader::with_top_level_key(path, key),
    }
    .map_err(|e| anyhow!("cannot read PyTorch checkpoint {}: {e}", path.display()))?;
    let mut tensors = BTreeMap::new();
    for (name, t) in reader.into_tensors() {
        let tensor = to_tch(&t).with_context(|| {
            format!(
                "cannot read tensor {name} of PyTorch checkpoint {}",
                path.display()
            )
        })?;
        tensors.insert(name, tensor);
    }
    let mut ignored: Vec<String> = match &dict_key {
        None => Vec::new(),
        Some(key) => root.keys().filter(|k| *k != key).cloned().collect(),
    };
    ignored.sort();
    Ok(TorchStateDict {
        tensors: tensors.into_iter().collect(),
        dict_key,
        ignored,
    })
}

/// Where a training checkpoint keeps `optimizer.state_dict()`, in the order
/// looked at (PyTorch's "saving a general checkpoint" recipe, then the short
/// spelling that goes with `state_dict`).
pub(super) const OPTIMIZER_KEYS: [&str; 2] = ["optimizer_state_dict", "optimizer"];

/// What a PyTorch training checkpoint holds besides the model's weights.
#[derive(Debug)]
pub struct TorchTrainingState {
    /// The entry that held `optimizer.state_dict()` (`optimizer_state_dict` or `optimizer`).
    pub optimizer_key: String,
    /// Its tensors by PyTorch's names, sorted: `state.{i}.exp_avg`,
    /// `state.{i}.exp_avg_sq`, `state.{i}.step` (a float32 scalar; a Python
    /// int of older PyTorch versions becomes one), `state.{i}.momentum_buffer`,
    /// `i` being the parameter's index in `param_groups[..].params`.
    pub tensors: Vec<(String, Tensor)>,
    /// `param_groups` as JSON (tuples such as `betas` as arrays, `None` as null).
    pub param_groups: serde_json::Value,
    /// The file's `epoch` entry, as saved (the recipe saves the index of the
    /// epoch just finished; what it counts is the caller's to decide and say).
    pub epoch: i64,
}

/// Reads the optimizer state and `epoch` of PyTorch training checkpoint `path`
/// (a `torch.save` dict holding `optimizer_state_dict` or `optimizer`, and
/// `epoch`), without running any code.
///
/// # Errors
/// One line naming the file and the missing entry (listing what the dict
/// holds): no optimizer entry, one without `state` or `param_groups`, no
/// `epoch` or one that is not an int, a `param_groups` value JSON cannot hold
/// (NaN, bytes, an object).
pub fn read_training_state(path: &Path) -> Result<TorchTrainingState> {
    let root = PytorchReader::read_pickle_data(path, None)
        .map_err(|e| anyhow!("cannot read PyTorch checkpoint {}: {e}", path.display()))?;
    let PickleValue::Dict(root) = root else {
        bail!(
            "PyTorch checkpoint {} holds {}, not a training checkpoint dict",
            path.display(),
            kind_of(&root)
        );
    };
    let listing = || {
        let mut keys: Vec<&str> = root.keys().map(String::as_str).collect();
        keys.sort();
        keys.join(", ")
    };
    let Some((key, PickleValue::Dict(opt))) = OPTIMIZER_KEYS
        .iter()
        .find_map(|k| root.get(*k).map(|v| (*k, v)))
    else {
        bail!(
            "PyTorch checkpoint {} holds no optimizer state dict under {} (it holds {})",
            path.display(),
            OPTIMIZER_KEYS.join(" or "),
            listing()
        );
    };
    for entry in ["state", "param_groups"] {
        if !opt.contains_key(entry) {
            bail!(
                "PyTorch checkpoint {}: `{key}` has no `{entry}` (not an optimizer.state_dict())",
                path.display()
            );
        }
    }
    let epoch = match root.get("epoch") {
        Some(PickleValue::Int(e)) => *e,
        Some(other) => bail!(
            "PyTorch checkpoint {}: `epoch` holds {}, not an int",
            path.display(),
            kind_of(other)
        ),
        None => bail!(
            "PyTorch checkpoint {} has no `epoch` entry (it holds {})",
            path.display(),
            listing()
        ),
    };
    let param_groups = to_json(&opt["param_groups"]).map_err(|why| {
        anyhow!(
            "PyTorch checkpoint {}: `{key}.param_groups` {why}",
            path.display()
        )
    })?;
    let tensors = optimizer_tensors(path, key, &opt["state"])?;
    Ok(TorchTrainingState {
        optimizer_key: key.to_string(),
        tensors,
        param_groups,
        epoch,
    })
}

/// The tensors of `optimizer.state_dict()["state"]` (`state` as the pickle
/// reader sees it, under entry `key` of `path`), named `state.{i}.{name}`.
fn optimizer_tensors(path: &Path, key: &str, state: &PickleValue) -> Result<Vec<(String, Tensor)>> {
    let reader = PytorchReader::with_top_level_key(path, key)
        .map_err(|e| anyhow!("cannot read PyTorch checkpoint {}: {e}", path.display()))?;
    let mut tensors = BTreeMap::new();
    for (name, t) in reader.into_tensors() {
        if name.starts_with("state.") {
            let tensor = to_tch(&t).with_context(|| {
                format!(
                    "cannot read tensor {key}.{name} of PyTorch checkpoint {}",
                    path.display()
                )
            })?;
            tensors.insert(name, tensor);
        }
    }
    // PyTorch < 1.12 kept `step` as a Python number.
    if let PickleValue::Dict(params) = state {
        for (index, entry) in params {
            if let PickleValue::Dict(entry) = entry {
                if let Some(PickleValue::Int(step)) = entry.get("step") {
                    tensors.insert(format!("state.{index}.step"), Tensor::from(*step as f32));
                }
            }
        }
    }
    Ok(tensors.into_iter().collect())
}

/// A pickle value as JSON: tuples and lists as arrays, `None` as null; what
/// JSON cannot hold is refused with the reason.
fn to_json(value: &PickleValue) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match value {
        PickleValue::None => Value::Null,
        PickleValue::Bool(b) => Value::Bool(*b),
        PickleValue::Int(i) => Value::from(*i),
        PickleValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| format!("holds {f}, which JSON cannot hold"))?,
        PickleValue::String(s) => Value::String(s.clone()),
        PickleValue::List(items) => Value::Array(
            items
                .iter()
                .map(to_json)
                .collect::<std::result::Result<_, _>>()?,
        ),
        PickleValue::Dict(d) => {
            let sorted: BTreeMap<&String, &PickleValue> = d.iter().collect();
            let mut map = serde_json::Map::new();
            for (k, v) in sorted {
                map.insert(k.clone(), to_json(v)?);
            }
            Value::Object(map)
        }
        other => return Err(format!("holds {}, which is not a setting", kind_of(other))),
    })
}

/// Where the state_dict is in a file's root dict: `None` when the root holds
/// tensors itself, else the first of [`STATE_DICT_KEYS`] holding a dict with
/// tensors. Otherwise says (after the file's name) what the dict holds and,
/// when some entry holds tensors, how to convert it (`path` is the file).
pub(super) fn locate_state_dict(
    root: &HashMap<String, PickleValue>,
    path: &Path,
) -> std::result::Result<Option<String>, String> {
    if root.values().any(is_tensor) {
        return Ok(None);
    }
    for key in STATE_DICT_KEYS {
        if let Some(value @ PickleValue::Dict(_)) = root.get(key) {
            if holds_tensor(value) {
                return Ok(Some(key.to_string()));
            }
        }
    }
    if root.is_empty() {
        return Err("holds an empty dict: no weights".to_string());
    }
    let mut keys: Vec<&String> = root.keys().collect();
    keys.sort();
    let with_tensors: Vec<&str> = keys
        .iter()
        .filter(|k| holds_tensor(&root[k.as_str()]))
        .map(|k| k.as_str())
        .collect();
    let listing = keys
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Err(match with_tensors.first() {
        None => format!("holds no tensors (a dict of {listing})"),
        Some(first) => format!(
            "holds a dict of {listing} with no state_dict under {}; tensors are under {}: \
             convert the one holding the model's weights:{}",
            STATE_DICT_KEYS.join(", "),
            with_tensors.join(", "),
            python_lines(
                path,
                &format!("torch.load(\"FILE\", weights_only=True)[{first:?}]")
            )
        ),
    })
}

/// Whether a value of the pickle is a tensor (the reader names its type).
fn is_tensor(value: &PickleValue) -> bool {
    matches!(value, PickleValue::Unsupported(t) if t == "torch.Tensor")
}

/// Whether a value holds a tensor anywhere inside.
fn holds_tensor(value: &PickleValue) -> bool {
    match value {
        PickleValue::Dict(d) => d.values().any(holds_tensor),
        PickleValue::List(l) => l.iter().any(holds_tensor),
        other => is_tensor(other),
    }
}

/// The Python kind of a value, for a message ("a list", "a single tensor").
fn kind_of(value: &PickleValue) -> String {
    match value {
        PickleValue::None => "None".to_string(),
        PickleValue::Bool(_) => "a bool".to_string(),
        PickleValue::Int(_) => "an int".to_string(),
        PickleValue::Float(_) => "a float".to_string(),
        PickleValue::String(_) => "a string".to_string(),
        PickleValue::List(_) => "a list or tuple".to_string(),
        PickleValue::Dict(_) => "a dict".to_string(),
        PickleValue::Bytes(_) => "bytes".to_string(),
        PickleValue::Unsupported(t) if t == "torch.Tensor" => "a single tensor".to_string(),
        PickleValue::Unsupported(t) => format!("a {t} object"),
    }
}

/// Refuses, with the two lines of Python that convert it, what only Python
/// can rebuild: a TorchScript archive and a whole pickled module.
fn refuse_what_needs_python(path: &Path, container: &Container) -> Result<()> {
    let pickle = match container {
        Container::TorchZip => {
            let (names, pickle) = zip_pickle(path)?;
            if holds_torchscript(&names) {
                bail!(
                    "checkpoint {} is a TorchScript archive (torch.jit.save), not a torch.save state_dict; \
                     cnn_mnist, rnn_series and transformer_seq run it as it is with --load and \
                     --eval-only, --predict or --forecast; to train from or fine-tune it, convert it:{}",
                    path.display(),
                    python_lines(path, "torch.jit.load(\"FILE\").state_dict()")
                );
            }
            pickle
        }
        _ => {
            let mut bytes = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(PICKLE_SCAN_LIMIT).read_to_end(&mut bytes))
                .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
            bytes
        }
    };
    // Every nn.Module pickles these three tables of its __dict__; a state_dict
    // cannot hold them (PyTorch refuses such parameter and module names).
    let is_module = ["_parameters", "_buffers", "_modules"]
        .iter()
        .all(|t| contains(&pickle, t.as_bytes()));
    if is_module {
        bail!(
            "checkpoint {} is a whole pickled module (torch.save(model)), which only Python with the \
             model's class can rebuild; convert it where that class can be imported:{}",
            path.display(),
            python_lines(
                path,
                "torch.load(\"FILE\", weights_only=False).state_dict()"
            )
        );
    }
    Ok(())
}

/// Whether zip entries `names` are those of a TorchScript archive: its
/// `code/` folder of TorchScript source and its `constants.pkl`.
fn holds_torchscript(names: &[String]) -> bool {
    names
        .iter()
        .any(|n| n.contains("/code/") || n.ends_with("constants.pkl"))
}

/// Whether `path` is a TorchScript archive (`torch.jit.save`, or
/// `tch::CModule::save`): a zip with a `code/` folder and `constants.pkl`.
///
/// # Errors
/// A missing or unreadable file, a folder (named).
pub fn is_torchscript(path: &Path) -> Result<bool> {
    if !matches!(super::format::sniff(path)?, Container::TorchZip) {
        return Ok(false);
    }
    Ok(holds_torchscript(&zip_pickle(path)?.0))
}

/// The names in zip `path` and its `data.pkl` (the pickle of `torch.save`).
fn zip_pickle(path: &Path) -> Result<(Vec<String>, Vec<u8>)> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open checkpoint {}", path.display()))?;
    let mut archive = zip::ZipArchive::new(file).with_context(|| {
        format!(
            "checkpoint {} is not a readable zip archive",
            path.display()
        )
    })?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect();
    let Some(pkl) = names
        .iter()
        .filter(|n| n.as_str() == "data.pkl" || n.ends_with("/data.pkl"))
        .min_by_key(|n| n.len())
        .cloned()
    else {
        let mut shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
        if names.len() > shown.len() {
            shown.push("...");
        }
        bail!(
            "checkpoint {} is a zip archive but not a torch.save file (no data.pkl inside; \
             it holds {})",
            path.display(),
            shown.join(", ")
        );
    };
    let mut bytes = Vec::new();
    archive
        .by_name(&pkl)
        .map_err(std::io::Error::other)
        .and_then(|f| f.take(PICKLE_SCAN_LIMIT).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {pkl} in checkpoint {}", path.display()))?;
    Ok((names, bytes))
}

/// The two lines of Python that write `expr` (a state_dict of file `path`) as
/// safetensors beside `path`.
fn python_lines(path: &Path, expr: &str) -> String {
    let file = path.display().to_string();
    let out = path.with_extension("safetensors").display().to_string();
    format!(
        "\n    import torch; from safetensors.torch import save_file\n    \
         save_file({{k: v.contiguous() for k, v in {}.items()}}, {out:?})",
        expr.replace("\"FILE\"", &format!("{file:?}"))
    )
}

/// A tensor of the reader as a tch tensor of the same dtype and shape.
fn to_tch(t: &pytorch_reader::Tensor) -> Result<Tensor> {
    let bytes = t.read()?;
    let shape = t
        .shape()
        .iter()
        .map(|&d| i64::try_from(d))
        .collect::<std::result::Result<Vec<i64>, _>>()
        .context("a dimension too large")?;
    if bytes.len() != t.byte_len() {
        bail!("{} bytes where {} were expected", bytes.len(), t.byte_len());
    }
    let kind = match t.dtype() {
        DType::F64 => Kind::Double,
        DType::F32 => Kind::Float,
        DType::F16 => Kind::Half,
        DType::BF16 => Kind::BFloat16,
        DType::I64 => Kind::Int64,
        DType::I32 => Kind::Int,
        DType::I16 => Kind::Int16,
        DType::I8 => Kind::Int8,
        DType::U8 => Kind::Uint8,
        DType::Bool => Kind::Bool,
        // tch has no wider unsigned kinds: widened to int64.
        DType::U16 | DType::U32 | DType::U64 => return unsigned_as_i64(&bytes, t.dtype(), &shape),
    };
    Ok(Tensor::f_from_data_size(&bytes, &shape, kind)?)
}

/// Unsigned 16/32/64-bit values (native-endian bytes) as an int64 tensor.
fn unsigned_as_i64(bytes: &[u8], dtype: DType, shape: &[i64]) -> Result<Tensor> {
    let width = dtype.size();
    let values = bytes
        .chunks_exact(width)
        .map(|c| {
            let mut wide = [0u8; 8];
            if cfg!(target_endian = "little") {
                wide[..width].copy_from_slice(c);
            } else {
                wide[8 - width..].copy_from_slice(c);
            }
            i64::try_from(u64::from_ne_bytes(wide))
        })
        .collect::<std::result::Result<Vec<i64>, _>>()
        .context("an unsigned value beyond int64")?;
    Ok(Tensor::f_from_slice(&values)?.f_reshape(shape)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(entries: &[(&str, PickleValue)]) -> HashMap<String, PickleValue> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn tensor() -> PickleValue {
        PickleValue::Unsupported("torch.Tensor".to_string())
    }

    #[test]
    fn the_state_dict_is_found_at_the_root_or_under_a_known_key() {
        let sd = dict(&[("fc.weight", tensor()), ("fc.bias", tensor())]);
        assert_eq!(locate_state_dict(&sd, Path::new("m.pt")), Ok(None));
        let ckpt = dict(&[
            ("epoch", PickleValue::Int(3)),
            (
                "optimizer_state_dict",
                PickleValue::Dict(dict(&[(
                    "state",
                    PickleValue::Dict(dict(&[("0", tensor())])),
                )])),
            ),
            ("model_state_dict", PickleValue::Dict(sd.clone())),
        ]);
        assert_eq!(
            locate_state_dict(&ckpt, Path::new("m.pt")),
            Ok(Some("model_state_dict".to_string()))
        );
    }

    #[test]
    fn a_dict_without_a_state_dict_is_described() {
        let ema = dict(&[
            ("ema", PickleValue::Dict(dict(&[("w", tensor())]))),
            ("step", PickleValue::Int(1)),
        ]);
        let msg = locate_state_dict(&ema, Path::new("m.pt")).unwrap_err();
        assert!(
            msg.contains("a dict of ema, step") && msg.contains("tensors are under ema"),
            "{msg}"
        );
        assert!(
            msg.contains("torch.load(\"m.pt\", weights_only=True)[\"ema\"]"),
            "{msg}"
        );
        let none = dict(&[("epoch", PickleValue::Int(3))]);
        assert!(locate_state_dict(&none, Path::new("m.pt"))
            .unwrap_err()
            .contains("holds no tensors"));
        assert!(locate_state_dict(&HashMap::new(), Path::new("m.pt"))
            .unwrap_err()
            .contains("empty dict"));
    }

    #[test]
    fn param_groups_become_json_and_nan_is_refused() {
        let group = PickleValue::List(vec![PickleValue::Dict(dict(&[
            ("lr", PickleValue::Float(0.001)),
            (
                "betas",
                PickleValue::List(vec![PickleValue::Float(0.9), PickleValue::Float(0.999)]),
            ),
            ("amsgrad", PickleValue::Bool(false)),
            ("foreach", PickleValue::None),
            (
                "params",
                PickleValue::List(vec![PickleValue::Int(0), PickleValue::Int(1)]),
            ),
        ]))]);
        assert_eq!(
            to_json(&group).expect("plain settings"),
            serde_json::json!([{"lr": 0.001, "betas": [0.9, 0.999], "amsgrad": false,
                                "foreach": null, "params": [0, 1]}])
        );
        let nan = PickleValue::List(vec![PickleValue::Float(f64::NAN)]);
        assert!(to_json(&nan).unwrap_err().contains("NaN"));
        assert!(to_json(&tensor()).unwrap_err().contains("not a setting"));
    }

    #[test]
    fn unsigned_values_widen_to_int64() {
        let bytes: Vec<u8> = [1u32, 70000, 3]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let t = unsigned_as_i64(&bytes, DType::U32, &[3]).expect("valid");
        assert_eq!(Vec::<i64>::try_from(&t).expect("int64"), [1, 70000, 3]);
    }
}
