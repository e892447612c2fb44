//! Comparing Rust tensors with PyTorch's, in the style of llm.c's
//! `check_tensor`: the largest absolute difference, where it is, and both values.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use tch::{Device, Kind, Tensor};

/// The repository root (where `parity/` and `.venv/` live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of the project's `.venv` (or `$TCHPORT_PYTHON`), which has
/// torch 2.11.0, numpy and safetensors.
pub fn python() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("TCHPORT_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let py = repo_root().join(".venv/bin/python");
    if !py.exists() {
        bail!("{} not found: run scripts/setup.sh (make test does it) to create the .venv with PyTorch", py.display());
    }
    Ok(py)
}

/// Runs `parity/<script>` with `args` from the repository root; fails with the
/// script's stderr when it fails.
pub fn run_python(script: &str, args: &[&str]) -> Result<String> {
    let py = python()?;
    let path = repo_root().join("parity").join(script);
    let out = Command::new(&py)
        .arg(&path)
        .args(args)
        .current_dir(repo_root())
        .output()
        .with_context(|| format!("cannot run {} {}", py.display(), path.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} {} failed ({}):\n{}",
            py.display(),
            path.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How far one tensor is from another.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    /// Largest absolute difference (0 for empty tensors; infinite when shapes
    /// differ or a value is NaN on one side only).
    pub max_abs: f64,
    /// Index (row-major, per dimension) of the largest difference.
    pub worst_index: Vec<i64>,
    /// Rust's value there.
    pub got: f64,
    /// PyTorch's value there.
    pub want: f64,
}

/// Compares `got` with `want` element-wise, in double precision.
pub fn diff(got: &Tensor, want: &Tensor) -> Diff {
    if got.size() != want.size() {
        return Diff {
            max_abs: f64::INFINITY,
            worst_index: vec![],
            got: f64::NAN,
            want: f64::NAN,
        };
    }
    let g = got
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Double)
        .flatten(0, -1);
    let w = want
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Double)
        .flatten(0, -1);
    let n = g.size()[0];
    if n == 0 {
        return Diff {
            max_abs: 0.0,
            worst_index: vec![],
            got: 0.0,
            want: 0.0,
        };
    }
    // NaN on both sides counts as equal, on one side as infinitely far.
    let both_nan = g.isnan().logical_and(&w.isnan());
    let d = (&g - &w)
        .abs()
        .masked_fill(&both_nan, 0.0)
        .nan_to_num(f64::INFINITY, None, None);
    let flat = d.argmax(None, false).int64_value(&[]);
    let mut worst_index = vec![0; got.dim()];
    let mut rest = flat;
    for (k, &s) in got.size().iter().enumerate().rev() {
        worst_index[k] = rest % s;
        rest /= s;
    }
    Diff {
        max_abs: d.double_value(&[flat]),
        worst_index,
        got: g.double_value(&[flat]),
        want: w.double_value(&[flat]),
    }
}

/// Prints one line per comparison and panics when `got` differs from `want`
/// by more than `atol` anywhere: the line names the worst element and both values.
pub fn check_tensor(name: &str, got: &Tensor, want: &Tensor, atol: f64) -> f64 {
    assert_eq!(
        got.size(),
        want.size(),
        "{name}: shape {:?} (rust) vs {:?} (pytorch)",
        got.size(),
        want.size()
    );
    let d = diff(got, want);
    let ok = d.max_abs <= atol;
    println!(
        "{} {name:<32} max |Δ| = {:.3e} at {:?} (got {:.9}, want {:.9}), tolerance {atol:.0e}",
        if ok { "OK    " } else { "NOT OK" },
        d.max_abs,
        d.worst_index,
        d.got,
        d.want
    );
    assert!(
        ok,
        "{name}: max abs difference {:.3e} > {atol:.0e} at {:?}",
        d.max_abs, d.worst_index
    );
    d.max_abs
}
