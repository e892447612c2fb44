//! Comparing Rust tensors with PyTorch's, in the style of llm.c's
//! `check_tensor`: the largest absolute difference, where it is, and both values.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use tch::{Device, Kind, Tensor};

/// The repository root (where `parity/` and `.venv/` live): `$TCHPORT_ROOT`
/// when set (a test binary copied to another machine, next to a copy of
/// `parity/` and `data/`: see scripts/device_check.sh), else the source tree
/// the test was built from.
pub fn repo_root() -> PathBuf {
    match std::env::var_os("TCHPORT_ROOT") {
        Some(root) => PathBuf::from(root),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    }
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

/// How close a Rust tensor must be to PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tol {
    /// At most this absolute difference anywhere.
    Abs(f64),
    /// At most this fraction of the reference tensor's largest magnitude,
    /// anywhere (`rtol · max|want|`): a scale per tensor, which unlike an
    /// element-wise relative bound does not blow up on elements near zero.
    Rel(f64),
}

impl From<f64> for Tol {
    /// A bare number is an absolute tolerance (what every CPU test states).
    fn from(atol: f64) -> Self {
        Tol::Abs(atol)
    }
}

impl Tol {
    /// The absolute bound this tolerance gives for the reference `want`.
    pub fn atol(self, want: &Tensor) -> f64 {
        match self {
            Tol::Abs(atol) => atol,
            Tol::Rel(_) if want.numel() == 0 => 0.0,
            Tol::Rel(rtol) => {
                let scale = want
                    .detach()
                    .to_device(Device::Cpu)
                    .to_kind(Kind::Double)
                    .abs()
                    .max()
                    .double_value(&[]);
                rtol * scale
            }
        }
    }

    /// `1e-5` or `1e-5 × max|want| = 3.1e-7`, for the report line.
    fn describe(self, atol: f64) -> String {
        match self {
            Tol::Abs(_) => format!("{atol:.0e}"),
            Tol::Rel(rtol) => format!("{rtol:.0e} × max|want| = {atol:.1e}"),
        }
    }
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
/// by more than `tol` anywhere (a bare `f64` is absolute, see [`Tol`]): the
/// line names the worst element and both values.
pub fn check_tensor(name: &str, got: &Tensor, want: &Tensor, tol: impl Into<Tol>) -> f64 {
    let tol = tol.into();
    let atol = tol.atol(want);
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
        "{} {name:<32} max |Δ| = {:.3e} at {:?} (got {:.9}, want {:.9}), tolerance {}",
        if ok { "OK    " } else { "NOT OK" },
        d.max_abs,
        d.worst_index,
        d.got,
        d.want,
        tol.describe(atol)
    );
    assert!(
        ok,
        "{name}: max abs difference {:.3e} > {} at {:?}",
        d.max_abs,
        tol.describe(atol),
        d.worst_index
    );
    d.max_abs
}
