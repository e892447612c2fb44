//! Honest evaluation: validation splits carved from the training data and
//! cross-validation folds.
//!
//! - classification: [`stratified_split`] and [`stratified_kfold`] keep each
//!   class's share in every part, seeded (SplitMix64, like the batch order);
//! - series: [`crate::data::series::split`] and [`rolling_origin`] never let the model
//!   see the future of what it is validated on.
//!
//! Index lists come back sorted, so a subset keeps the data's original order.

use std::collections::BTreeMap;
use std::ops::Range;

use anyhow::{bail, Result};

use crate::data::shuffle::SplitMix64;

fn check_fraction(fraction: f64) -> Result<()> {
    if !(fraction.is_finite() && fraction > 0.0 && fraction < 1.0) {
        bail!("--val-fraction must be in (0, 1), got {fraction}");
    }
    Ok(())
}

/// Indices of each class, each list in a seeded random order.
fn shuffled_by_class(labels: &[i64], seed: u64) -> BTreeMap<i64, Vec<i64>> {
    let mut by_class: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (i, &l) in labels.iter().enumerate() {
        by_class.entry(l).or_default().push(i as i64);
    }
    let mut rng = SplitMix64::new(seed ^ 0x5EED_5B11_7000_0001);
    for idx in by_class.values_mut() {
        for i in (1..idx.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            idx.swap(i, j);
        }
    }
    by_class
}

/// `(train, val)` sample indices: from every class, a seeded random
/// `round(fraction × count)` of its samples goes to validation. Both parts
/// must end up non-empty.
pub fn stratified_split(labels: &[i64], fraction: f64, seed: u64) -> Result<(Vec<i64>, Vec<i64>)> {
    check_fraction(fraction)?;
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for idx in shuffled_by_class(labels, seed).values() {
        let k = (fraction * idx.len() as f64).round() as usize;
        val.extend_from_slice(&idx[..k]);
        train.extend_from_slice(&idx[k..]);
    }
    if train.is_empty() || val.is_empty() {
        bail!(
            "--val-fraction {fraction} of {} samples leaves {} for training and {} for validation; both need at least one",
            labels.len(),
            train.len(),
            val.len()
        );
    }
    train.sort_unstable();
    val.sort_unstable();
    Ok((train, val))
}

/// `k` stratified folds (sorted sample indices): every class's samples, in a
/// seeded order, are dealt to the folds in turn, continuing where the previous
/// class stopped so fold sizes differ by at most one.
pub fn stratified_kfold(labels: &[i64], k: usize, seed: u64) -> Result<Vec<Vec<i64>>> {
    if k < 2 {
        bail!("--folds needs at least 2 folds, got {k}");
    }
    if labels.len() < k {
        bail!(
            "--folds {k} needs at least {k} samples, got {}",
            labels.len()
        );
    }
    let mut folds = vec![Vec::new(); k];
    let mut next = 0;
    for idx in shuffled_by_class(labels, seed).values() {
        for &i in idx {
            folds[next].push(i);
            next = (next + 1) % k;
        }
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    Ok(folds)
}

/// The training indices of fold `fold`: every fold but that one, sorted.
pub(crate) fn complement(folds: &[Vec<i64>], fold: usize) -> Vec<i64> {
    let mut out: Vec<i64> = folds
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != fold)
        .flat_map(|(_, f)| f.iter().copied())
        .collect();
    out.sort_unstable();
    out
}

/// Rolling-origin (expanding-window) evaluation of a series of `n` steps:
/// `k` folds, fold `i` trains on `0..n − (k − i)·horizon` and validates on the
/// `horizon` steps right after. The first training window must keep at least
/// `min_train` steps.
pub fn rolling_origin(
    n: usize,
    k: usize,
    horizon: usize,
    min_train: usize,
) -> Result<Vec<(Range<usize>, Range<usize>)>> {
    if k == 0 || horizon == 0 {
        bail!("rolling-origin evaluation needs k ≥ 1 folds of horizon ≥ 1");
    }
    if k * horizon + min_train.max(1) > n {
        bail!(
            "a series of {n} steps is too short for {k} folds of {horizon} steps after at least {} training steps",
            min_train.max(1)
        );
    }
    Ok((0..k)
        .map(|i| {
            let end = n - (k - i) * horizon;
            (0..end, end..end + horizon)
        })
        .collect())
}

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for one value).
pub(crate) fn mean_std(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() == 1 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_origin_expands_and_never_looks_ahead() {
        let folds = rolling_origin(100, 3, 10, 20).unwrap();
        assert_eq!(folds[0], (0..70, 70..80));
        assert_eq!(folds[2], (0..90, 90..100));
        assert!(rolling_origin(30, 3, 10, 1).is_err());
    }

    #[test]
    fn mean_std_is_the_sample_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - 1.2909944487358056).abs() < 1e-12);
    }
}
