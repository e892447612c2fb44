//! The `check` case's file: a PyTorch `state_dict` plus the batch (`__xs`,
//! `__ys`), as `bench/peers/bench_peers.py` writes it with `safetensors.torch`.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use safetensors::{Dtype, SafeTensors};

/// One tensor of the file: its shape and its values in row-major order.
#[derive(Debug, Clone)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// All tensors of a safetensors file, by name (f32 and i64 only; i64 becomes f32).
#[derive(Debug)]
pub struct Weights {
    arrays: HashMap<String, Array>,
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
            path: path.to_string(),
        })
    }

    /// The tensor `name`; an error names the file and the key.
    pub fn get(&self, name: &str) -> Result<&Array> {
        self.arrays
            .get(name)
            .with_context(|| format!("{} has no tensor {name:?}", self.path))
    }
}
