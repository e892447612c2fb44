//! The `check` case's file: a PyTorch `state_dict` plus the batch (`__xs`,
//! `__ys`), as `bench/peers/bench_peers.py` writes it with `safetensors.torch`.
//! It remembers which keys were read, so a loader that skips a parameter is
//! an error, not a silent pass.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use anyhow::{bail, ensure, Context, Result};
use safetensors::{Dtype, SafeTensors};

/// One tensor of the file.
#[derive(Debug, Clone)]
pub struct Array {
    /// Its shape, PyTorch's order.
    pub shape: Vec<usize>,
    /// Its values in row-major order (integers converted to f32).
    pub values: Vec<f32>,
}

impl Array {
    /// Rows `[k·n, (k+1)·n)` of a `[rows, ...]` tensor (a block of a packed
    /// projection such as `in_proj_weight` or an LSTM's `weight_ih_l0`).
    pub fn rows(&self, k: usize, n: usize) -> Result<Array> {
        let rows = *self.shape.first().context("a scalar has no rows")?;
        ensure!(
            (k + 1) * n <= rows,
            "rows {}..{} of a tensor of {rows} rows",
            k * n,
            (k + 1) * n
        );
        let cols: usize = self.shape[1..].iter().product();
        let mut shape = self.shape.clone();
        shape[0] = n;
        Ok(Array {
            shape,
            values: self.values[k * n * cols..(k + 1) * n * cols].to_vec(),
        })
    }

    /// The same values as `[shape[0], rest]`.
    pub fn flat(&self) -> Array {
        let rows = self.shape.first().copied().unwrap_or(1).max(1);
        Array {
            shape: vec![rows, self.values.len() / rows],
            values: self.values.clone(),
        }
    }
}

/// All tensors of a safetensors file, by name (f32 and i64 only).
#[derive(Debug)]
pub struct Weights {
    arrays: HashMap<String, Array>,
    used: RefCell<BTreeSet<String>>,
    path: String,
}

impl Weights {
    /// Reads `path`. Errors name the file.
    pub fn read(path: &str) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
        let st = SafeTensors::deserialize(&bytes).with_context(|| format!("parsing {path}"))?;
        let mut arrays = HashMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let values = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::I64 => data
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                    .collect(),
                other => bail!("{path}: {name} is {other:?}; expected F32 or I64"),
            };
            let shape = view.shape().to_vec();
            arrays.insert(name, Array { shape, values });
        }
        Ok(Self {
            arrays,
            used: RefCell::default(),
            path: path.to_string(),
        })
    }

    /// The tensor `name`, marked as used; an error names the file and the key.
    pub fn get(&self, name: &str) -> Result<&Array> {
        let a = self
            .arrays
            .get(name)
            .with_context(|| format!("{} has no tensor {name:?}", self.path))?;
        self.used.borrow_mut().insert(name.to_string());
        Ok(a)
    }

    /// The file's name, for error messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Fails unless every parameter of the file (every key not starting with
    /// `__`) was read by the loader.
    pub fn ensure_all_used(&self) -> Result<()> {
        let used = self.used.borrow();
        let unused: Vec<&String> = self
            .arrays
            .keys()
            .filter(|k| !k.starts_with("__") && !used.contains(*k))
            .collect();
        ensure!(
            unused.is_empty(),
            "{}: the model did not load {unused:?}",
            self.path
        );
        Ok(())
    }
}
