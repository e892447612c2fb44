//! Names of the classes of an MNIST-format data set, for reports.
//!
//! MNIST's classes are the digits; Fashion-MNIST and one's own IDX files
//! need names given with `--class-names a,b,…` (one per label, label 0
//! first). A report says "digit" only when every name is a digit.

use std::collections::HashMap;

use anyhow::{bail, Result};

/// Fashion-MNIST's ten class names for labels 0..=9, as torchvision's
/// `FashionMNIST.classes` spells them (Zalando's README uses the same list).
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Parses `--class-names`: `num_classes` comma-separated names, label 0
/// first. Spaces around each name are dropped (`"Ankle boot"` keeps its inner
/// space); a name cannot hold a comma.
///
/// Errors, naming the flag: a count other than `num_classes`, an empty name
/// (with its 1-based position), a name given twice (with both positions).
pub fn parse_class_names(text: &str, num_classes: usize) -> Result<Vec<String>> {
    let names: Vec<String> = text.split(',').map(|n| n.trim().to_string()).collect();
    if let Some(i) = names.iter().position(String::is_empty) {
        bail!(
            "--class-names: name {} of {} is empty (two commas in a row, or one at the end?)",
            i + 1,
            names.len()
        );
    }
    if names.len() != num_classes {
        bail!(
            "--class-names gives {} names but the data has {num_classes} classes: \
             give one name per class, label 0 first, separated by commas",
            names.len()
        );
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        if let Some(first) = seen.insert(name, i) {
            bail!(
                "--class-names: \"{name}\" is given twice (names {} and {}); class names must be unique",
                first + 1,
                i + 1
            );
        }
    }
    Ok(names)
}

/// The names of digit classes: `digits` as text (`[5, 6, 7]` → `"5", "6",
/// "7"`, the classes `--digits 5-7` keeps), or `"0"…"9"` when `None`.
pub fn digit_names(digits: Option<&[i64]>) -> Vec<String> {
    match digits {
        Some(d) => d.iter().map(i64::to_string).collect(),
        None => (0..10).map(|d: i64| d.to_string()).collect(),
    }
}

/// Whether every name is a single digit `0`–`9` (MNIST's classes).
pub fn names_are_digits(names: &[String]) -> bool {
    names
        .iter()
        .all(|n| n.len() == 1 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The word a report uses for a class: `"digit"` when [`names_are_digits`],
/// else `"class"`.
pub fn class_noun(names: &[String]) -> &'static str {
    if names_are_digits(names) {
        "digit"
    } else {
        "class"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, n: usize) -> String {
        format!("{:#}", parse_class_names(text, n).unwrap_err())
    }

    #[test]
    fn parses_names_and_trims_spaces() {
        let names = parse_class_names("cat, dog ,Ankle boot", 3).unwrap();
        assert_eq!(names, ["cat", "dog", "Ankle boot"]);
        let fashion = parse_class_names(&FASHION_MNIST_CLASSES.join(","), 10).unwrap();
        assert_eq!(fashion, FASHION_MNIST_CLASSES);
    }

    #[test]
    fn refuses_wrong_counts_empty_and_repeated_names() {
        assert!(err("a,b", 3).contains("--class-names gives 2 names but the data has 3 classes"));
        assert!(err("a,b,c,d", 3).contains("gives 4 names"));
        assert!(err("a,,c", 3).contains("--class-names: name 2 of 3 is empty"));
        assert!(err("a,b,", 3).contains("name 3 of 3 is empty"));
        assert!(err("", 1).contains("name 1 of 1 is empty"));
        assert!(err("a,b,a", 3).contains("\"a\" is given twice (names 1 and 3)"));
        assert!(err("a, b ,b", 3).contains("\"b\" is given twice (names 2 and 3)"));
    }

    #[test]
    fn only_digit_names_are_called_digits() {
        assert!(names_are_digits(&digit_names(None)));
        assert_eq!(digit_names(Some(&[5, 6, 7])), ["5", "6", "7"]);
        assert_eq!(class_noun(&digit_names(Some(&[1, 7]))), "digit");
        let fashion: Vec<String> = FASHION_MNIST_CLASSES.map(String::from).to_vec();
        assert_eq!(class_noun(&fashion), "class");
        assert_eq!(class_noun(&["0".into(), "10".into()]), "class");
        assert_eq!(class_noun(&["zero".into(), "1".into()]), "class");
    }
}
