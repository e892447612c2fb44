//! Bad input to the MNIST side gets a clear error naming the file or flag and
//! the problem — never a panic. Each case checks the message.

use crate::common;
use tchport::cli::Flags;
use tchport::session;

use common::{assert_has, quiet_cpu};

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use tch::nn;
use tchport::checkpoint;
use tchport::data::mnist;
use tchport::device::DeviceChoice;
use tchport::models::{Cnn, CnnConfig};
use tchport::session::RunOptions;
use tchport::tasks::cnn_mnist::{self, CnnMnist};

fn idx_bytes(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("writing to memory");
    e.finish().expect("finishing gzip in memory")
}

/// Writes an MNIST-format folder with `n` images of `side`×`side` and `m` labels.
fn fake_mnist(dir: &Path, n: u32, m: u32, side: u32) {
    std::fs::create_dir_all(dir).expect("scratch folder");
    for prefix in ["train", "t10k"] {
        let images = idx_bytes(&[n, side, side], &vec![0u8; (n * side * side) as usize]);
        let labels = idx_bytes(&[m], &vec![1u8; m as usize]);
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            gz(&images),
        )
        .expect("write");
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).expect("write");
    }
}

fn run_err(cfg: &cnn_mnist::Config, opts: &RunOptions) -> String {
    let _lock = common::rng_lock();
    match session::run(&CnnMnist, cfg, opts) {
        Ok(_) => panic!("the run should have failed"),
        Err(e) => format!("{e:#}"),
    }
}

fn quick(data_dir: PathBuf) -> cnn_mnist::Config {
    cnn_mnist::Config {
        data_dir,
        train_limit: Some(64),
        test_limit: Some(64),
        ..cnn_mnist::Config::default()
    }
}

#[test]
fn missing_data_directory_says_where_it_looked_and_how_to_get_data() {
    let msg = format!(
        "{:#}",
        mnist::load_dir(Path::new("no/such/dir")).unwrap_err()
    );
    assert_has(
        &msg,
        &["no/such/dir", "not found", "data/mnist", "--data-dir"],
    );
}

#[test]
fn missing_file_names_both_candidates() {
    let dir = common::scratch("err-missing-file");
    fake_mnist(&dir, 2, 2, 28);
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).expect("remove");
    let msg = format!("{:#}", mnist::load_dir(&dir).unwrap_err());
    assert_has(
        &msg,
        &[
            "t10k-labels-idx1-ubyte.gz",
            "t10k-labels-idx1-ubyte",
            "exists",
        ],
    );
}

#[test]
fn empty_truncated_and_foreign_idx_files_are_named() {
    let dir = common::scratch("err-idx");
    let read = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).expect("write");
        format!("{:#}", tchport::data::idx::read_idx_file(&p).unwrap_err())
    };
    assert_has(&read("empty", &[]), &["empty", "file too short: 0 bytes"]);
    assert_has(
        &read("short.gz", &gz(&idx_bytes(&[10, 28, 28], &[0; 100]))),
        &["short.gz", "truncated payload", "7840"],
    );
    assert_has(
        &read("cut-gzip.gz", &gz(&idx_bytes(&[10], &[0; 10]))[..20]),
        &["cut-gzip.gz"],
    );
    assert_has(
        &read("png", b"\x89PNG\r\n\x1a\n0000"),
        &["png", "wrong magic number"],
    );
    assert_has(
        &read("huge", &idx_bytes(&[1_000_000, 1_000_000, 784], &[])),
        &["huge", "more than the"],
    );
}

#[test]
fn image_and_label_counts_must_agree() {
    let dir = common::scratch("err-counts");
    fake_mnist(&dir, 3, 2, 28);
    let msg = format!("{:#}", mnist::load_dir(&dir).unwrap_err());
    assert_has(&msg, &["holds 3 images but", "holds 2 labels"]);
}

#[test]
fn images_of_another_size_are_refused() {
    let dir = common::scratch("err-size");
    fake_mnist(&dir, 4, 4, 8);
    let msg = run_err(
        &cnn_mnist::Config {
            data_dir: dir,
            ..cnn_mnist::Config::default()
        },
        &quiet_cpu(),
    );
    assert_has(&msg, &["[8, 8] pixels", "expects 28×28"]);
}

#[test]
fn bad_flags_are_refused_before_training() {
    let mnist = PathBuf::from("data/mnist");
    let with = |f: &dyn Fn(&mut cnn_mnist::Config)| {
        let mut cfg = quick(common::repo_root().join(&mnist));
        f(&mut cfg);
        run_err(&cfg, &quiet_cpu())
    };
    assert_has(
        &with(&|c| c.run.train.epochs = 0),
        &["--epochs must be at least 1"],
    );
    assert_has(
        &with(&|c| c.run.train.batch_size = 0),
        &["--batch-size must be at least 1"],
    );
    assert_has(
        &with(&|c| c.run.optim.lr = -0.1),
        &["--lr must be a positive number"],
    );
    assert_has(
        &with(&|c| c.run.optim.lr = f64::NAN),
        &["--lr must be a positive number"],
    );
    assert_has(
        &with(&|c| c.run.optim.momentum = 1.5),
        &["--momentum must be in [0, 1)"],
    );
    assert_has(
        &with(&|c| c.train_limit = Some(60_001)),
        &["--train-limit 60001 is larger than the 60000"],
    );
    assert_has(
        &with(&|c| c.test_limit = Some(0)),
        &["--test-limit must be at least 1"],
    );
    if !tch::Cuda::is_available() {
        let opts = RunOptions {
            device: DeviceChoice::Cuda,
            ..quiet_cpu()
        };
        assert_has(
            &run_err(&quick(mnist.clone()), &opts),
            &["--device cuda", "no usable CUDA GPU"],
        );
    }
}

#[test]
fn checkpoint_problems_are_explained() {
    let dir = common::scratch("err-ckpt");
    let data = common::repo_root().join("data/mnist");
    // As given on the command line: --no-logit-relu is explicit, so a
    // checkpoint of the other model is an error, not adopted.
    let load = |path: PathBuf| RunOptions {
        load: Some(path),
        eval_only: true,
        given: Flags::given_ids::<cnn_mnist::Config>(["logit_relu"]),
        ..quiet_cpu()
    };

    let msg = run_err(&quick(data.clone()), &load(dir.join("nope.safetensors")));
    assert_has(&msg, &["nope.safetensors", "not found"]);

    std::fs::write(dir.join("junk.safetensors"), b"this is not safetensors").expect("write");
    let msg = run_err(&quick(data.clone()), &load(dir.join("junk.safetensors")));
    assert_has(
        &msg,
        &[
            "junk.safetensors",
            "neither safetensors nor a PyTorch torch.save file",
        ],
    );

    // A checkpoint of another model: a 5-class CNN (fc shape differs) plus an extra tensor.
    let other = dir.join("other/model.safetensors");
    {
        let _lock = common::rng_lock();
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _m = Cnn::new(
            &vs.root(),
            &CnnConfig {
                num_classes: 5,
                ..CnnConfig::default()
            },
        );
        let _extra = (vs.root() / "head").zeros("weight", &[3]);
        checkpoint::save(&vs, &other).expect("save");
    }
    let msg = run_err(&quick(data.clone()), &load(other));
    assert_has(
        &msg,
        &[
            "does not fit this model",
            "fc.weight: checkpoint has [5, 3136], model expects [10, 3136]",
            "unexpected head.weight [3]",
        ],
    );

    // A config.json that does not match the flags.
    let saved = dir.join("relu/model.safetensors");
    {
        let _lock = common::rng_lock();
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _m = Cnn::new(&vs.root(), &CnnConfig::default());
        checkpoint::save_with_config(&vs, &saved, &cnn_mnist::Config::default()).expect("save");
    }
    let mut cfg = quick(data);
    cfg.model.logit_relu = false;
    let msg = run_err(&cfg, &load(saved));
    assert_has(
        &msg,
        &[
            "config.json",
            "was saved with model options",
            "--no-logit-relu",
        ],
    );
}

#[test]
fn a_diverging_run_stops_naming_epoch_and_step() {
    let mut cfg = quick(common::repo_root().join("data/mnist"));
    cfg.model.logit_relu = false;
    cfg.run.optim.lr = 1e12;
    cfg.train_limit = Some(640);
    let msg = run_err(&cfg, &quiet_cpu());
    assert_has(
        &msg,
        &["the training loss became", "at epoch 1, step", "--lr"],
    );
}

#[test]
fn a_failed_write_leaves_the_previous_checkpoint_intact() {
    let dir = common::scratch("err-atomic");
    let path = dir.join("model.safetensors");
    std::fs::write(&path, b"previous good checkpoint").expect("write");
    let result = tchport::io::write_atomic(&path, |tmp| {
        std::fs::write(tmp, b"half a chec").expect("partial write");
        anyhow::bail!("simulated crash mid-write")
    });
    assert!(result.is_err());
    assert_eq!(
        std::fs::read(&path).expect("read"),
        b"previous good checkpoint"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file is left behind: {leftovers:?}"
    );
}
