//! The CUDA side of the parity tests: the guard that skips them where libtorch
//! sees no GPU, and the float32 settings both sides run with there.
//!
//! tch 0.24 exposes no switch for TF32 or cuDNN determinism (only
//! `Cuda::cudnn_set_benchmark` and `Cuda::set_user_enabled_cudnn`), so the
//! Rust side runs with libtorch's defaults: matmul TF32 off (float32 matmul
//! precision "highest"), cuDNN TF32 on, cuDNN benchmark off, cuDNN
//! deterministic off. The PyTorch scripts set PyTorch's flags to those same
//! values (`parity/common.py::use_device`), and TF32 itself is turned off for
//! both processes with `NVIDIA_TF32_OVERRIDE=0`, which cuBLAS and cuDNN honour
//! whatever a framework asks: [`cuda_or_skip`] sets it before the first CUDA
//! call, and the Python children inherit it.
//!
//! `TCHPORT_CUDA_TESTS_ON_CPU=1` rehearses the CUDA tests on the CPU where no
//! GPU is seen (the same code with `cpu` for `cuda`): it checks the tests'
//! own code and the scripts' `--device` plumbing, not the GPU.

use std::io::Write;
use std::sync::Once;

use tch::Device;

/// The one line a CUDA test prints when it is skipped.
pub const SKIPPED: &str = "skipped: no CUDA device (tch::Cuda::is_available() is false)";

/// NVIDIA's switch that keeps cuBLAS and cuDNN from using TF32 (`0`).
pub const TF32_OVERRIDE: &str = "NVIDIA_TF32_OVERRIDE";

/// Set to `1` to run the CUDA tests on the CPU where no GPU is seen.
pub const ON_CPU: &str = "TCHPORT_CUDA_TESTS_ON_CPU";

/// `Some(cuda:0)` when libtorch sees a usable GPU; `Some(cpu)` when not but
/// [`ON_CPU`] is `1`. Otherwise prints [`SKIPPED`] straight to the process's
/// stdout (past libtest's capture, so a CI log shows it) and returns `None`.
///
/// # Panics
/// When `NVIDIA_TF32_OVERRIDE` is set to anything but `0`: the CUDA tests
/// compare full float32 maths, and TF32 rounds products to 10 mantissa bits.
pub fn cuda_or_skip() -> Option<Device> {
    static TF32_OFF: Once = Once::new();
    TF32_OFF.call_once(|| match std::env::var(TF32_OVERRIDE) {
        // Before any CUDA call (cuBLAS and cuDNN read it when they start);
        // every test thread waits here until it is set.
        Err(_) => std::env::set_var(TF32_OVERRIDE, "0"),
        Ok(v) if v == "0" => {}
        Ok(v) => panic!(
            "{TF32_OVERRIDE}={v}: the CUDA parity tests compare float32 without TF32; \
             unset it or set it to 0"
        ),
    });
    if tch::Cuda::is_available() {
        return Some(Device::Cuda(0));
    }
    if std::env::var(ON_CPU).is_ok_and(|v| v == "1") {
        println!("{ON_CPU}=1: no GPU, rehearsing on the CPU");
        return Some(Device::Cpu);
    }
    let _ = writeln!(std::io::stdout().lock(), "{SKIPPED}");
    None
}

/// `cuda` or `cpu`: the value of the scripts' `--device` for `device`.
pub fn flag(device: Device) -> &'static str {
    if device.is_cuda() {
        "cuda"
    } else {
        "cpu"
    }
}

/// The device flags of a PyTorch twin in a full-run comparison:
/// `torch.backends.cudnn.deterministic = True` on its side (issue 12).
pub fn twin_flags(device: Device) -> [&'static str; 3] {
    ["--device", flag(device), "--deterministic"]
}

/// The device flags of a reference script (`parity/*_reference.py`): cuDNN
/// deterministic stays off, as on the Rust side.
pub fn reference_flags(device: Device) -> [&'static str; 2] {
    ["--device", flag(device)]
}

/// The run option that puts an example's run on `device`.
pub fn choice(device: Device) -> tchport::device::DeviceChoice {
    if device.is_cuda() {
        tchport::device::DeviceChoice::Cuda
    } else {
        tchport::device::DeviceChoice::Cpu
    }
}
