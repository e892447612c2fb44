//! `transformer_lm --task classify`: a short fine-tune on sentences written at
//! test time (the words "good"/"great" mark the positive ones, "bad"/"awful"
//! the negative, among random filler) beats the majority class and reports
//! both baselines; `--init-from` starts the backbone from a saved language
//! model (its tensors loaded, the head fresh), and a file that is no language
//! model is refused with its name. A saved classifier labels new sentences
//! (`--predict`, `--predict-file`), the same whatever the batch they share.
//! `--freeze`, `--reset` and `--lr-backbone` act on the tensors they name;
//! `--text-sentences` and `--text-train-split` build the pre-training text.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::assert_has;
use tch::Tensor;
use tchport::data::shuffle::SplitMix64;

fn run(args: &[String]) -> (bool, String) {
    common::run_example(&common::example_binary("transformer_lm"), args)
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// 600 rated sentences: `id \t rating \t text`, a tenth rated 0 (left out).
fn sentences(path: &Path) {
    let filler = [
        "the", "film", "plot", "actor", "scene", "was", "a", "and", "story", "music",
    ];
    let (pos, neg) = (["good", "great"], ["bad", "awful"]);
    let mut rng = SplitMix64::new(7);
    let mut out = String::new();
    for i in 0..600 {
        let mut s: Vec<&str> = (0..6).map(|_| filler[rng.below(10) as usize]).collect();
        let positive = i % 2 == 0;
        let mark = if positive {
            pos[rng.below(2) as usize]
        } else {
            neg[rng.below(2) as usize]
        };
        s.insert(rng.below(6) as usize, mark);
        let rating = if i % 10 == 9 {
            0.0
        } else if positive {
            1.5
        } else {
            -1.5
        };
        out.push_str(&format!("{i}\t{rating}\t{}\r\n", s.join(" ")));
    }
    std::fs::write(path, out).expect("writes");
}

fn classify(file: &Path, json: &Path, extra: &str) -> Vec<String> {
    let mut a = words(&format!(
        "--task classify --epochs 4 --batch-size 16 --lr 0.003 --warmup-steps 5 --n-layer 1 --n-head 2 \
         --n-embd 32 --block-size 48 --device cpu --threads 1 {extra}"
    ));
    a.extend([
        "--sentences".into(),
        file.display().to_string(),
        "--metrics-json".into(),
        json.display().to_string(),
    ]);
    a
}

/// The test accuracy of the GPT and of the majority class in a `--metrics-json` report.
fn accuracies(r: &serde_json::Value) -> (f64, f64) {
    let acc = |k: &str| r[k]["accuracy"].as_f64().expect("an accuracy");
    (acc("test"), acc("majority"))
}

/// Pre-trains a one-layer language model on `text` with the flags `shape`, saved as `lm`.
fn pretrain(text: &Path, lm: &Path, shape: &str) {
    let mut a = words(&format!(
        "{shape} --eval-batches 1 --n-layer 1 --n-head 2 --device cpu --quiet"
    ));
    a.extend([
        "--text".into(),
        text.display().to_string(),
        "--save".into(),
        lm.display().to_string(),
    ]);
    let (ok, out) = run(&a);
    assert!(ok, "{out}");
}

/// [`pretrain`] on one review line repeated, saved as `dir/lm/lm.safetensors`
/// (in its own folder: a checkpoint's config.json and vocab.json lie beside it).
fn pretrain_on_one_line(dir: &Path, shape: &str) -> PathBuf {
    let text = dir.join("text.txt");
    std::fs::write(&text, "the film was good and the music great\n".repeat(40)).unwrap();
    let lm = dir.join("lm").join("lm.safetensors");
    pretrain(&text, &lm, shape);
    lm
}

/// [`classify`] on a labelled CSV with the column flags `columns`.
fn classify_csv(csv: &Path, json: &Path, columns: &str) -> Vec<String> {
    let mut a = classify(csv, json, columns);
    a.extend(["--csv".into(), csv.display().to_string()]);
    a
}

#[test]
fn a_short_fine_tune_beats_the_majority_class_and_loads_a_pretrained_backbone() {
    let dir = common::scratch("lm-classify");
    let file = dir.join("rated.txt");
    sentences(&file);
    let json = dir.join("scratch.json");
    let (ok, out) = run(&classify(&file, &json, ""));
    assert!(ok, "{out}");
    assert_has(
        &out,
        &[
            "540 rated sentences (60 rated 0 left out)",
            "majority class",
            "bag-of-words logistic regression",
        ],
    );
    let r = common::read_json(&json);
    let (acc, majority) = accuracies(&r);
    println!(
        "from scratch: test accuracy {acc}, majority {majority}, bag of words {}",
        r["bag_of_words"]["accuracy"]
    );
    assert!(
        acc > majority + 0.2,
        "the fine-tune learns the marker words: {acc} vs {majority}"
    );
    assert_eq!(r["epochs"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        r["sizes"][0].as_u64().unwrap()
            + r["sizes"][1].as_u64().unwrap()
            + r["sizes"][2].as_u64().unwrap(),
        540
    );

    // A tiny language model pre-trained on the same sentences' text, then fine-tuned.
    let text = dir.join("text.txt");
    let plain: String = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| l.rsplit('\t').next().unwrap().to_string() + "\n")
        .collect();
    std::fs::write(&text, plain).unwrap();
    let lm: PathBuf = dir.join("lm.safetensors");
    pretrain(
        &text,
        &lm,
        "--max-steps 20 --eval-every 10 --n-embd 32 --block-size 48",
    );
    let json = dir.join("pretrained.json");
    let (ok, out) = run(&classify(
        &file,
        &json,
        &format!("--init-from {} --train-limit 200", lm.display()),
    ));
    assert!(ok, "{out}");
    assert_has(
        &out,
        &[
            "loaded 16 backbone tensors",
            "(classifier.* fresh)",
            "GPT fine-tuned from lm.safetensors",
        ],
    );
    let r = common::read_json(&json);
    assert_eq!(r["sizes"][0], 200, "--train-limit 200");
    assert!(r["init_from"]
        .as_str()
        .is_some_and(|p| p.ends_with("lm.safetensors")));

    let other = dir.join("other.safetensors");
    std::fs::write(&other, b"x").unwrap();
    let (ok, out) = run(&classify(
        &file,
        &dir.join("x.json"),
        &format!("--init-from {}", other.display()),
    ));
    assert!(!ok);
    assert_has(&out, &[&other.display().to_string(), "neither safetensors"]);
}

/// `label TAB probability TAB sentence` lines of `out` (other lines are notes).
fn predictions(out: &str) -> Vec<(String, f64, String)> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '\t');
            let (label, p, s) = (f.next()?, f.next()?, f.next()?);
            Some((label.to_string(), p.parse().ok()?, s.to_string()))
        })
        .collect()
}

#[test]
fn a_saved_classifier_labels_sentences_given_and_in_a_file() {
    let dir = common::scratch("lm-predict");
    let file = dir.join("rated.txt");
    sentences(&file);
    let clf = dir.join("clf.safetensors");
    let (ok, out) = run(&classify(
        &file,
        &dir.join("m.json"),
        &format!("--save {}", clf.display()),
    ));
    assert!(ok, "{out}");
    let saved = common::read_json(&dir.join("config.json"));
    assert_eq!(
        saved["classify"]["class_names"],
        serde_json::json!(["negative", "positive"])
    );

    let lines = dir.join("lines.txt");
    std::fs::write(
        &lines,
        "\u{feff}the plot was great and the music good\r\n\r\nawful\nthe film was bad\n",
    )
    .unwrap();
    let load = [
        "--load".to_string(),
        clf.display().to_string(),
        "--device".into(),
        "cpu".into(),
    ];
    let mut a: Vec<String> = load.to_vec();
    a.extend([
        "--predict".into(),
        "the film was bad".into(),
        "--predict".into(),
        "a great story".into(),
    ]);
    a.extend(["--predict-file".into(), lines.display().to_string()]);
    let (ok, out) = run(&a);
    assert!(ok, "{out}");
    let p = predictions(&out);
    let sentences: Vec<&str> = p.iter().map(|x| x.2.as_str()).collect();
    assert_eq!(
        sentences,
        [
            "the film was bad",
            "a great story",
            "the plot was great and the music good",
            "awful",
            "the film was bad"
        ],
        "--predict first, then the file's non-empty lines (BOM and CR dropped):\n{out}"
    );
    for (label, prob, s) in &p {
        assert!(
            ["negative", "positive"].contains(&label.as_str()),
            "{label}"
        );
        assert!((0.5..=1.0).contains(prob), "{s}: {prob}");
    }
    assert_eq!(p[0].0, "negative", "{out}");
    assert_eq!(p[1].0, "positive", "{out}");
    // The same sentence, in batches of other lengths (padding), the same probability.
    assert_eq!((p[0].0.as_str(), p[0].1), (p[4].0.as_str(), p[4].1));
    let mut alone: Vec<String> = load.to_vec();
    alone.extend([
        "--predict".into(),
        "the film was bad".into(),
        "--quiet".into(),
    ]);
    let (ok, out) = run(&alone);
    assert!(ok, "{out}");
    assert_eq!(predictions(&out)[0].1, p[0].1, "batch of one");

    // Bad input: a file that is not UTF-8; a language model instead of a classifier.
    let bad = dir.join("latin1.txt");
    std::fs::write(&bad, b"caf\xe9 noir\n").unwrap();
    let mut a: Vec<String> = load.to_vec();
    a.extend(["--predict-file".into(), bad.display().to_string()]);
    let (ok, out) = run(&a);
    assert!(!ok);
    assert_has(&out, &["latin1.txt is not UTF-8 text: byte 3"]);
    let lm = pretrain_on_one_line(
        &dir,
        "--max-steps 2 --eval-every 1 --n-embd 16 --block-size 16",
    );
    let (ok, out) = run(&[
        "--load".into(),
        lm.display().to_string(),
        "--predict".into(),
        "x".into(),
    ]);
    assert!(!ok);
    assert_has(&out, &["is a language model (--task lm), not a classifier"]);
}

/// A user's labelled CSV as spreadsheets write it: a byte-order mark, `;`
/// between fields, CRLF, a quoted sentence holding the delimiter and a line
/// break, three classes named in words, a row with an empty sentence.
fn labelled_csv(path: &Path) {
    let filler = ["the", "film", "plot", "actor", "scene", "was", "a", "and"];
    let marks = [
        ("negative", "awful"),
        ("neutral", "okay"),
        ("positive", "great"),
    ];
    let mut rng = SplitMix64::new(11);
    let mut out = String::from("\u{feff}id;Review;Verdict\r\n");
    for i in 0..450 {
        let (class, mark) = marks[i % 3];
        let mut s: Vec<&str> = (0..5).map(|_| filler[rng.below(8) as usize]).collect();
        s.insert(rng.below(5) as usize, mark);
        out.push_str(&format!("{i};{};{class}\r\n", s.join(" ")));
    }
    out.push_str("450;\"a scene; then\r\nanother, okay\";neutral\r\n451;;positive\r\n");
    std::fs::write(path, out).expect("writes");
}

#[test]
fn a_users_labelled_csv_trains_a_three_class_classifier() {
    let dir = common::scratch("lm-csv");
    let csv = dir.join("reviews.csv");
    labelled_csv(&csv);
    let json = dir.join("r.json");
    let (ok, out) = run(&classify_csv(
        &csv,
        &json,
        "--text-column review --label-column 3",
    ));
    assert!(ok, "{out}");
    assert_has(
        &out,
        &[
            "451 sentences (text \"Review\", label \"Verdict\"; delimiter ';')",
            "rows with empty text left out: 1",
            "classes 0 = negative, 1 = neutral, 2 = positive",
        ],
    );
    let r = common::read_json(&json);
    let (acc, majority) = accuracies(&r);
    println!("three classes from a CSV: accuracy {acc}, majority {majority}");
    assert!(acc > majority + 0.2, "{acc} vs {majority}");
    assert_eq!(r["test"]["confusion"].as_array().map(Vec::len), Some(3));

    // Bad input: a column that is not there, one class, no sentence.
    let (ok, out) = run(&classify_csv(
        &csv,
        &json,
        "--text-column body --label-column 3",
    ));
    assert!(!ok);
    assert_has(
        &out,
        &["--text-column \"body\" is not a column", "\"Review\""],
    );
    let one = dir.join("one.csv");
    std::fs::write(&one, "text,label\ngood film,pos\nbad film,pos\n").unwrap();
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "text,label\n,pos\n,neg\n").unwrap();
    for (file, msg) in [
        (&one, "every row has the label \"pos\""),
        (&empty, "the text column text holds no sentence"),
    ] {
        let (ok, out) = run(&classify_csv(
            file,
            &json,
            "--text-column text --label-column label",
        ));
        assert!(!ok);
        assert_has(&out, &[msg]);
    }
}

/// The largest absolute difference between the tensors `name` of two checkpoints.
fn max_diff(a: &BTreeMap<String, Tensor>, b: &BTreeMap<String, Tensor>, name: &str) -> f64 {
    (&a[name] - &b[name]).abs().max().double_value(&[])
}

#[test]
fn freeze_reset_and_lr_backbone_act_on_the_named_parameters() {
    let dir = common::scratch("lm-freeze");
    let file = dir.join("rated.txt");
    sentences(&file);
    // Another seed than the fine-tune's, so that a reset tensor differs from the loaded one.
    let lm = pretrain_on_one_line(
        &dir,
        "--max-steps 5 --eval-every 5 --n-embd 32 --block-size 48 --seed 7",
    );
    let base = common::read(&lm);
    let tune = |name: &str, extra: &str| {
        let clf = dir.join(name).join("clf.safetensors");
        let flags = format!(
            "--init-from {} --save {} {extra}",
            lm.display(),
            clf.display()
        );
        let (ok, out) = run(&classify(&file, &dir.join(format!("{name}.json")), &flags));
        assert!(ok, "{out}");
        (common::read(&clf), out)
    };
    let (wte, h0) = (
        "transformer.wte.weight",
        "transformer.h.0.attn.c_attn.weight",
    );

    // --freeze: the embedding keeps the language model's values; --reset: the
    // block is re-initialised, and frozen too, so it stays at its fresh values.
    let (clf, out) = tune("frozen", "--freeze transformer --reset transformer.h.0");
    assert_has(
        &out,
        &["frozen transformer.", "newly initialised classifier.bias"],
    );
    assert_eq!(max_diff(&clf, &base, wte), 0.0, "--freeze transformer");
    assert!(max_diff(&clf, &base, h0) > 1e-3, "--reset transformer.h.0");
    let (again, _) = tune(
        "frozen-again",
        "--freeze transformer --reset transformer.h.0",
    );
    assert_eq!(
        max_diff(&clf, &again, h0),
        0.0,
        "the reset is PyTorch's init for the seed"
    );

    // --lr-backbone: the loaded tensors move by at most about its size per step,
    // the head at --lr.
    // 4 epochs of 27 steps of AdamW move a weight by at most about 108 · 1e-6.
    let (slow, out) = tune("slow", "--lr-backbone 1e-6");
    assert_has(&out, &["learning rates head=0.003, backbone=0.000001"]);
    let moved = max_diff(&slow, &base, h0);
    assert!(moved > 0.0 && moved < 2e-4, "backbone moved {moved}");
    let (fast, _) = tune("fast", "");
    assert!(max_diff(&fast, &base, h0) > 1e-3);

    // --pooling mean: recorded, and the marker words are still learnt.
    tune("mean", "--pooling mean");
    let r = common::read_json(&dir.join("mean.json"));
    assert_eq!(r["config"]["classify"]["pooling"], "mean");
    let (acc, majority) = accuracies(&r);
    assert!(acc > majority + 0.2, "--pooling mean: {acc} vs {majority}");
}

#[test]
fn pretraining_text_from_rated_sentences_never_reads_ratings_or_held_out_sentences() {
    let dir = common::scratch("lm-pretext");
    let file = dir.join("rated.txt");
    sentences(&file);
    let all: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| l.rsplit('\t').next().unwrap().to_string())
        .collect();
    let lm_run = |extra: &str| {
        let json = dir.join("lm.json");
        let mut a = words(&format!(
            "--max-steps 2 --eval-every 1 --eval-batches 1 --n-layer 1 --n-head 2 --n-embd 16 \
             --block-size 16 --device cpu --threads 1 {extra}"
        ));
        a.extend(["--metrics-json".into(), json.display().to_string()]);
        let (ok, out) = run(&a);
        assert!(ok, "{out}");
        (common::read_json(&json), out)
    };
    // Every sentence, the 60 rated 0 too, one per line; no id, no rating.
    let (r, out) = lm_run(&format!("--text-sentences {}", file.display()));
    assert_has(
        &out,
        &["600 sentences as unlabelled text (ratings not read)"],
    );
    let chars: usize = all.iter().map(|s| s.chars().count() + 1).sum();
    assert_eq!(r["text_chars"], chars as u64);
    assert_eq!(r["files"].as_array().map(Vec::len), Some(1));

    // The training split of --sentences only: 80 % of the 540 rated ones.
    let (r, out) = lm_run(&format!(
        "--text-train-split --sentences {}",
        file.display()
    ));
    assert_has(
        &out,
        &[
            "its 432 training sentences (split seed 0) as unlabelled text",
            "its 54 validation and 54 test sentences never",
        ],
    );
    let n = r["text_chars"].as_u64().unwrap() as f64;
    assert!(
        n > 0.7 * chars as f64 && n < 0.85 * chars as f64,
        "{n} of {chars}"
    );
}

#[test]
fn class_folders_of_text_files_train_a_classifier() {
    let dir = common::scratch("lm-folders");
    let root = dir.join("reviews");
    let filler = ["the", "film", "plot", "actor", "scene", "was", "a", "and"];
    let mut rng = SplitMix64::new(5);
    for (class, mark) in [("neg", "awful"), ("pos", "great")] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..150 {
            let mut s: Vec<&str> = (0..5).map(|_| filler[rng.below(8) as usize]).collect();
            s.insert(rng.below(5) as usize, mark);
            std::fs::write(root.join(class).join(format!("{i:03}.txt")), s.join(" ")).unwrap();
        }
    }
    // A byte-order mark and CRLF, an empty file, a file that is not text.
    std::fs::write(root.join("pos/bom.txt"), "\u{feff}a great scene\r\n").unwrap();
    std::fs::write(root.join("neg/empty.txt"), "\n").unwrap();
    std::fs::write(root.join("neg/notes.md"), "awful").unwrap();
    let json = dir.join("r.json");
    let folders = |root: &Path| format!("--folders {}", root.display());
    let (ok, out) = run(&classify(&root, &json, &folders(&root)));
    assert!(ok, "{out}");
    assert_has(
        &out,
        &["301 texts in 2 class folders (0 = neg, 1 = pos); empty files left out: 1, files not .txt not read: 1"],
    );
    let r = common::read_json(&json);
    let (acc, majority) = accuracies(&r);
    assert!(acc > majority + 0.2, "{acc} vs {majority}");

    // Bad input: one class folder; a file that is not UTF-8.
    let one = dir.join("one");
    std::fs::create_dir_all(one.join("pos")).unwrap();
    std::fs::write(one.join("pos/a.txt"), "good").unwrap();
    let (ok, out) = run(&classify(&one, &json, &folders(&one)));
    assert!(!ok);
    assert_has(
        &out,
        &["1 class folder(s); a classifier needs at least two"],
    );
    std::fs::write(root.join("neg/latin1.txt"), b"caf\xe9").unwrap();
    let (ok, out) = run(&classify(&root, &json, &folders(&root)));
    assert!(!ok);
    assert_has(
        &out,
        &["latin1.txt is not UTF-8 text (invalid byte at offset 3)"],
    );
}
