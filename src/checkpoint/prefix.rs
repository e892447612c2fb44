//! The key prefixes PyTorch's model wrappers add to a state_dict: `module.`
//! (`nn.DataParallel`, `DistributedDataParallel`) and `_orig_mod.`
//! (`torch.compile`'s `OptimizedModule`), in either order when wrapped twice.
//! Stripped only when every key carries them, as `torch.nn.modules.utils.
//! consume_prefix_in_state_dict_if_present` does for `module.`.

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
}
