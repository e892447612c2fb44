//! The key prefixes PyTorch's model wrappers add to a state_dict: `module.`
//! (`nn.DataParallel`, `DistributedDataParallel`) and `_orig_mod.`
//! (`torch.compile`'s `OptimizedModule`), in either order when wrapped twice.
//! Stripped only when every key carries them, as `torch.nn.modules.utils.
//! consume_prefix_in_state_dict_if_present` does for `module.`.
//!
//! Then the prefix of the module that held the model ([`fit_to_model`]):
//! `model.` of a PyTorch Lightning module (`self.model = Net()`), `net.`,
//! `backbone.`, or any other dotted prefix that every key shares and whose
//! removal makes more keys name a variable of the model; or exactly the one
//! `--strip-prefix` names. When keys still do not fit, [`describe_misfit`]
//! says which prefix or which layers differ.

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use tch::Tensor;

/// The wrapper prefixes, with the wrapper that adds each.
const WRAPPERS: [(&str, &str); 2] = [
    ("module.", "nn.DataParallel/DistributedDataParallel"),
    ("_orig_mod.", "torch.compile"),
];

/// The wrapper prefixes that every one of `names` starts with, outermost
/// first (`["module.", "_orig_mod."]` for `module._orig_mod.conv1.weight`).
/// Empty when `names` is empty or one name lacks them.
pub(super) fn common_wrapper_prefixes<'a>(
    names: impl Iterator<Item = &'a str> + Clone,
) -> Vec<&'static str> {
    let mut stripped = Vec::new();
    let mut depth = 0;
    loop {
        let mut rest = names.clone().map(|n| &n[depth..]).peekable();
        if rest.peek().is_none() {
            return stripped;
        }
        let next = WRAPPERS.iter().map(|(prefix, _)| *prefix).find(|prefix| {
            rest.clone()
                .all(|n| n.starts_with(prefix) && n.len() > prefix.len())
        });
        match next {
            Some(prefix) => {
                stripped.push(prefix);
                depth += prefix.len();
            }
            None => return stripped,
        }
    }
}

/// Strips the wrapper prefixes that every key of `tensors` carries; returns
/// the one-line note saying so, or `None` when nothing was stripped.
pub(super) fn strip_wrapper_prefixes(tensors: &mut [(String, Tensor)]) -> Option<String> {
    let prefixes = common_wrapper_prefixes(tensors.iter().map(|(n, _)| n.as_str()));
    if prefixes.is_empty() {
        return None;
    }
    let joined: String = prefixes.concat();
    for (name, _) in tensors.iter_mut() {
        name.drain(..joined.len());
    }
    let wrappers: Vec<&str> = prefixes
        .iter()
        .filter_map(|p| WRAPPERS.iter().find(|(q, _)| q == p).map(|(_, w)| *w))
        .collect();
    Some(format!(
        "stripped the `{joined}` prefix of {} keys (a state_dict saved from {})",
        tensors.len(),
        wrappers.join(" around ")
    ))
}

/// The dotted prefixes every one of `names` starts with (and is longer
/// than), shortest first: `["model.", "model.net."]` for
/// `model.net.fc.weight` and `model.net.fc.bias`.
pub(super) fn shared_prefixes<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let Some(first) = names.first() else {
        return Vec::new();
    };
    first
        .match_indices('.')
        .map(|(i, _)| &first[..=i])
        .take_while(|p| names.iter().all(|n| n.starts_with(p) && n.len() > p.len()))
        .collect()
}

/// How many of `names`, with `prefix` removed where they have it, name a variable in `model`.
fn fitting(names: &[&str], prefix: &str, model: &BTreeSet<String>) -> usize {
    names
        .iter()
        .filter(|n| model.contains(n.strip_prefix(prefix).unwrap_or(n)))
        .count()
}

/// Removes from the keys of `tensors` the prefix of the module that held the
/// model, and returns the one-line note saying so (`None`: nothing removed).
///
/// With `explicit` (`--strip-prefix P`; a missing trailing `.` is added),
/// `P` is removed from every key that starts with it. Otherwise the dotted
/// prefix every key shares ([`shared_prefixes`]) whose removal makes the most
/// keys name a variable of `model` is removed, when it makes more fit than
/// before.
///
/// # Errors
/// `explicit` starts no key (the message shows a few keys and what they share).
pub(super) fn fit_to_model(
    tensors: &mut [(String, Tensor)],
    model: &BTreeSet<String>,
    explicit: Option<&str>,
) -> Result<Option<String>> {
    let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
    let prefix = match explicit {
        Some(p) => {
            let p = if p.ends_with('.') {
                p.to_string()
            } else {
                format!("{p}.")
            };
            if !names.iter().any(|n| n.starts_with(&p) && n.len() > p.len()) {
                bail!(
                    "--strip-prefix {p}: no key starts with it ({})",
                    key_summary(&names)
                );
            }
            p
        }
        None => {
            let before = fitting(&names, "", model);
            let best = shared_prefixes(&names)
                .into_iter()
                .map(|p| (fitting(&names, p, model), p))
                .filter(|(n, _)| *n > before)
                .max_by_key(|(n, p)| (*n, std::cmp::Reverse(p.len())));
            match best {
                Some((_, p)) => p.to_string(),
                None => return Ok(None),
            }
        }
    };
    let mut count = 0;
    for (name, _) in tensors.iter_mut() {
        if name.starts_with(&prefix) && name.len() > prefix.len() {
            name.drain(..prefix.len());
            count += 1;
        }
    }
    let how = match explicit {
        Some(_) => "as --strip-prefix says".to_string(),
        None => format!(
            "every key has it and the model's names do not; --strip-prefix {prefix} says so explicitly"
        ),
    };
    Ok(Some(format!(
        "stripped the `{prefix}` prefix of {count} keys ({how})"
    )))
}

/// A few of `names` and the prefix they share, for a message.
fn key_summary(names: &[&str]) -> String {
    let mut shown: Vec<&str> = names.iter().take(3).copied().collect();
    if names.len() > shown.len() {
        shown.push("...");
    }
    let shared = match shared_prefixes(names).last() {
        Some(p) => format!("; every key starts with `{p}`"),
        None => String::new(),
    };
    format!("the keys are {}{shared}", shown.join(", "))
}

/// The layer of a key: all but its last dotted part (`fc1` of `fc1.weight`).
fn layer(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(l, _)| l)
}

/// One line saying how the checkpoint's keys `file` differ from the model's
/// names `model`: a prefix that only one side has (with the flag that
/// removes it), else the layers only in the checkpoint, only in the model,
/// and those whose shapes differ (`reshaped`).
pub(super) fn describe_misfit(
    file: &BTreeSet<String>,
    model: &BTreeSet<String>,
    reshaped: &[String],
) -> String {
    let names: Vec<&str> = file.iter().map(String::as_str).collect();
    if let Some(p) = shared_prefixes(&names).last() {
        if fitting(&names, p, model) == 0 {
            return format!(
                "every key of the checkpoint starts with `{p}` and the model's do not; removing it \
                 still fits none: a checkpoint of another model?"
            );
        }
    }
    let by_first: Option<(usize, &str)> = names
        .iter()
        .filter_map(|n| n.split_once('.').map(|(first, _)| first))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|first| {
            let p = format!("{first}.");
            let under: Vec<&str> = names
                .iter()
                .filter(|n| n.starts_with(&p))
                .copied()
                .collect();
            (fitting(&under, &p, model), first)
        })
        .filter(|(n, _)| *n > 0)
        .max();
    if let Some((n, first)) = by_first {
        return format!(
            "{n} keys under `{first}.` fit the model without that prefix: add --strip-prefix {first}."
        );
    }
    let layers = |a: &BTreeSet<String>, b: &BTreeSet<String>| -> Vec<String> {
        let theirs: BTreeSet<&str> = b.iter().map(|n| layer(n)).collect();
        let mine: BTreeSet<&str> = a.iter().map(|n| layer(n)).collect();
        mine.difference(&theirs).map(|l| l.to_string()).collect()
    };
    let mut parts = Vec::new();
    for (what, list) in [
        ("layers only in the checkpoint", layers(file, model)),
        ("layers only in the model", layers(model, file)),
        ("other shapes", reshaped.to_vec()),
    ] {
        if !list.is_empty() {
            parts.push(format!("{what}: {}", list.join(", ")));
        }
    }
    if parts.is_empty() {
        "the layers match but some of their tensors are missing or extra".to_string()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(names: &[&str]) -> Vec<&'static str> {
        common_wrapper_prefixes(names.iter().copied())
    }

    #[test]
    fn prefixes_are_found_only_when_every_key_has_them() {
        assert_eq!(prefixes(&["module.a.weight", "module.b"]), ["module."]);
        assert_eq!(prefixes(&["_orig_mod.a", "_orig_mod.b"]), ["_orig_mod."]);
        assert_eq!(
            prefixes(&["module._orig_mod.a", "module._orig_mod.b"]),
            ["module.", "_orig_mod."]
        );
        assert_eq!(
            prefixes(&["_orig_mod.module.a", "_orig_mod.module.b"]),
            ["_orig_mod.", "module."]
        );
        assert!(prefixes(&["module.a", "b"]).is_empty());
        assert!(prefixes(&[]).is_empty());
        // A key that would become empty is not a wrapped key.
        assert!(prefixes(&["module."]).is_empty());
    }

    #[test]
    fn stripping_renames_every_key_and_says_so() {
        let mut tensors: Vec<(String, Tensor)> =
            ["module._orig_mod.fc.weight", "module._orig_mod.fc.bias"]
                .iter()
                .map(|n| (n.to_string(), Tensor::from(1.0f32)))
                .collect();
        let note = strip_wrapper_prefixes(&mut tensors).expect("a note");
        let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["fc.weight", "fc.bias"]);
        assert!(
            note.contains("`module._orig_mod.` prefix of 2 keys"),
            "{note}"
        );
        assert!(
            note.contains("DataParallel") && note.contains("torch.compile"),
            "{note}"
        );
    }

    fn named(names: &[&str]) -> Vec<(String, Tensor)> {
        names
            .iter()
            .map(|n| (n.to_string(), Tensor::from(1.0f32)))
            .collect()
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_shared_prefix_is_removed_when_it_makes_keys_fit() {
        let model = set(&["fc.weight", "fc.bias"]);
        let mut t = named(&["model.fc.weight", "model.fc.bias"]);
        let note = fit_to_model(&mut t, &model, None).unwrap().expect("a note");
        assert_eq!(t[0].0, "fc.weight");
        assert!(note.contains("`model.` prefix of 2 keys"), "{note}");
        // Keys that already fit, or a prefix that fits nothing, are left alone.
        let mut t = named(&["fc.weight", "fc.bias"]);
        assert!(fit_to_model(&mut t, &model, None).unwrap().is_none());
        let mut t = named(&["enc.a.weight", "enc.b.bias"]);
        assert!(fit_to_model(&mut t, &model, None).unwrap().is_none());
        // The deepest fitting prefix of several shared ones.
        let mut t = named(&["model.net.fc.weight", "model.net.fc.bias"]);
        fit_to_model(&mut t, &model, None).unwrap();
        assert_eq!(t[1].0, "fc.bias");
    }

    #[test]
    fn an_explicit_prefix_is_removed_where_keys_have_it() {
        let model = set(&["fc.weight"]);
        let mut t = named(&["backbone.fc.weight", "loss.weight"]);
        let note = fit_to_model(&mut t, &model, Some("backbone"))
            .unwrap()
            .expect("a note");
        assert_eq!(t[0].0, "fc.weight");
        assert_eq!(t[1].0, "loss.weight");
        assert!(note.contains("`backbone.` prefix of 1 keys"), "{note}");
        let err = fit_to_model(&mut t, &model, Some("net."))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--strip-prefix net.: no key starts with it"),
            "{err}"
        );
    }

    #[test]
    fn misfits_name_the_prefix_or_the_layers() {
        let model = set(&["fc1.weight", "fc1.bias", "fc2.weight"]);
        let msg = describe_misfit(&set(&["model.fc1.weight", "crit.w"]), &model, &[]);
        assert!(msg.contains("add --strip-prefix model."), "{msg}");
        let msg = describe_misfit(&set(&["enc.x.weight", "enc.y.bias"]), &model, &[]);
        assert!(msg.contains("starts with `enc.`"), "{msg}");
        let msg = describe_misfit(&set(&["fc1.weight", "fc1.bias", "fc3.weight"]), &model, &[]);
        assert!(
            msg.contains("layers only in the checkpoint: fc3")
                && msg.contains("layers only in the model: fc2"),
            "{msg}"
        );
    }
}
