//! Each example's `--help` starts with its own description and shows its own
//! defaults for the shared flags, which come from its `Default` configuration
//! (declared once in `cli::TrainArgs`/`SeriesArgs`).

use crate::common;

use std::process::Command;

fn help(example: &str) -> String {
    let out = Command::new(common::example_binary(example))
        .arg("--help")
        .output()
        .expect("the example runs");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The default shown for `--flag`.
fn default_of(help: &str, flag: &str) -> String {
    let start = help
        .find(&format!("      {flag} "))
        .unwrap_or_else(|| panic!("{flag} is in --help"));
    let rest = &help[start..];
    let d = rest.find("[default: ").expect("a default") + "[default: ".len();
    rest[d..rest[d..].find(']').unwrap() + d].to_string()
}

#[test]
fn each_example_shows_its_own_description_and_defaults() {
    let cases = [
        ("cnn_mnist", "Train the tutorial's CNN", "0.001", "10", "64"),
        (
            "rnn_series",
            "Train the tutorial's RNN",
            "0.01",
            "100",
            "16",
        ),
        (
            "transformer_seq",
            "Train a Transformer encoder",
            "0.01",
            "100",
            "16",
        ),
    ];
    for (example, about, lr, epochs, batch) in cases {
        let h = help(example);
        assert!(
            h.starts_with(about),
            "{example} --help starts with: {}",
            &h[..60]
        );
        assert_eq!(default_of(&h, "--lr"), lr, "{example} --lr");
        assert_eq!(default_of(&h, "--epochs"), epochs, "{example} --epochs");
        assert_eq!(
            default_of(&h, "--batch-size"),
            batch,
            "{example} --batch-size"
        );
        assert_eq!(
            default_of(&h, "--optimizer"),
            "sgd",
            "{example} --optimizer"
        );
    }
    for example in ["rnn_series", "transformer_seq"] {
        let h = help(example);
        assert_eq!(default_of(&h, "--csv"), "data/series/sunspots.csv");
        assert_eq!(default_of(&h, "--column"), "SUNACTIVITY");
        assert_eq!(default_of(&h, "--train-fraction"), "0.7");
    }
}

/// The exit status and stderr of `example args...`.
fn fails(example: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(common::example_binary(example))
        .args(args)
        .output()
        .expect("the example runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One flag per concept: `--folds` and `--val-fraction`/`--train-fraction` on
/// every example, the old spellings (`--kfold` of cnn_mnist, `--val-frac` and
/// `--train-frac` of the series examples) kept as hidden aliases that do the
/// same, and absent from `--help`.
#[test]
fn old_flag_spellings_are_hidden_aliases() {
    let folds = fails("cnn_mnist", &["--folds", "1", "--quiet"]);
    assert_eq!(folds, fails("cnn_mnist", &["--kfold", "1", "--quiet"]));
    assert_eq!(folds.0, Some(1));
    common::assert_has(&folds.1, &["at least 2 folds"]);
    for example in ["rnn_series", "transformer_seq"] {
        let new = [
            "--train-fraction",
            "0.6",
            "--val-fraction",
            "0.5",
            "--quiet",
        ];
        let old = ["--train-frac", "0.6", "--val-frac", "0.5", "--quiet"];
        let refused = fails(example, &new);
        assert_eq!(refused, fails(example, &old), "{example}");
        assert_eq!(refused.0, Some(1), "{example}");
        common::assert_has(&refused.1, &["train + val < 1"]);
        let h = help(example);
        assert!(
            !h.contains("--val-frac ") && !h.contains("--train-frac "),
            "{example}"
        );
    }
    assert!(!help("cnn_mnist").contains("--kfold"));
}
