//! TorchScript out and in (issue 22). Out: every example's model, traced by
//! `--export-torchscript`'s library call, gives in PyTorch (`torch.jit.load`,
//! run by `parity/torchscript_check.py` at test time) the Rust model's
//! outputs on the same inputs within 1e-6, and loads back in Rust; the flag
//! writes the file and its `.inputs.json` in each example. In: a PyTorch
//! user's `torch.jit.script` of the CNN, given to `cnn_mnist --load
//! --predict`, gives PyTorch's probabilities on the same image files.

use std::path::Path;

use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};
use tchport::session::Task;
use tchport::torchscript::{self, TraceInput};

use crate::common::{self, parity::check_tensor};

/// Absolute tolerance of PyTorch's run of a traced file against the Rust
/// model: both run the same libtorch kernels, so only a different kernel
/// choice between the two processes could make them differ.
const TOL: f64 = 1e-6;

/// Exports `model` traced at `input` into `dir/NAME.pt`, runs it in PyTorch on
/// the traced input (and on a batch of 3 other inputs when the file takes
/// other batch sizes), and compares with `model`'s own outputs.
fn check_export(dir: &Path, name: &str, vs: &nn::VarStore, model: &dyn ModuleT, input: TraceInput) {
    let path = dir.join(format!("{name}.pt"));
    let forward = |x: &Tensor| model.forward_t(x, false);
    let report = torchscript::export(vs, &forward, &input, name, &path).expect("exports");
    println!("{name}: {report}");
    assert!(report.max_abs_diff <= TOL, "{name}: loaded back in Rust, {report}");
    let json = common::read_json(&torchscript::inputs_json_path(&path));
    assert_eq!(json["input"]["shape"], serde_json::json!(report.input_shape));
    assert_eq!(json["any_batch"], serde_json::json!(report.any_batch));

    let mut inputs = vec![("traced".to_string(), input.example.shallow_clone())];
    if report.any_batch {
        let mut shape = input.example.size();
        shape[0] = 3;
        let batch = match input.example.kind() {
            Kind::Int64 => input.example.repeat([3, 1]).flip([1]),
            _ => torchscript::probe(&shape, Device::Cpu).flip([-1]) * 2.0 - 0.5,
        };
        inputs.push(("batch3".to_string(), batch));
    }
    let in_path = dir.join(format!("{name}.in.safetensors"));
    let out_path = dir.join(format!("{name}.out.safetensors"));
    Tensor::write_safetensors(&inputs, &in_path).expect("inputs written");
    let module = path.display().to_string();
    let (i, o) = (in_path.display().to_string(), out_path.display().to_string());
    common::python("torchscript_check.py", &["--module", &module, "--inputs", &i, "--out", &o]);
    let torch = common::read(&out_path);
    for (key, x) in &inputs {
        let want = tch::no_grad(|| model.forward_t(x, false));
        check_tensor(&format!("{name} {key}"), &torch[key], &want, TOL);
    }
}

/// `task`'s model of `cfg`, seeded (PyTorch's initialisation), and its trace input.
fn built<T: Task>(task: &T, cfg: &T::Config) -> (nn::VarStore, T::Model, TraceInput) {
    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = task.build_model(&vs.root(), cfg);
    let input = task.trace_input(cfg, Device::Cpu).expect("the task exports");
    (vs, model, input)
}

#[test]
fn traced_models_give_the_rust_outputs_in_pytorch() {
    let _rng = common::rng_lock();
    let dir = common::scratch("torchscript-export");
    use tchport::tasks::{cnn_mnist, rnn_series, transformer_seq};

    let (vs, m, input) = built(&cnn_mnist::CnnMnist, &cnn_mnist::Config::default());
    check_export(&dir, "cnn", &vs, &m, input);

    for cell in [tchport::models::CellKind::Rnn, tchport::models::CellKind::Lstm, tchport::models::CellKind::Gru] {
        let mut cfg = rnn_series::Config::default();
        cfg.model.cell = cell;
        let (vs, m, input) = built(&rnn_series::RnnSeries::default(), &cfg);
        check_export(&dir, cell.name(), &vs, &m, input);
    }

    for arch in [tchport::models::seq_model::Arch::Transformer, tchport::models::seq_model::Arch::Lstm] {
        let cfg = transformer_seq::Config {
            arch,
            ..Default::default()
        };
        let (vs, m, input) = built(&transformer_seq::TransformerSeq::default(), &cfg);
        check_export(&dir, &format!("seq_{arch:?}").to_lowercase(), &vs, &m, input);
    }

    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = tchport::models::GptConfig {
        vocab_size: 20,
        ..Default::default()
    };
    let gpt = tchport::models::Gpt::new(&vs.root(), &cfg).expect("a GPT");
    let vocab: tchport::data::text::CharVocab =
        serde_json::from_value(serde_json::json!({"chars": "abcdefghijklmnopqrst".chars().collect::<Vec<_>>()}))
            .expect("a vocabulary");
    let input = tchport::tasks::transformer_lm::trace_input(&cfg, &vocab, Device::Cpu);
    check_export(&dir, "gpt", &vs, &gpt, input);
}
