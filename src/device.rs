//! Choosing the device a run uses (`--device auto|cpu|cuda`).

use anyhow::{bail, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::Device;

/// The `--device` flag of every example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The first CUDA GPU when one is usable, otherwise the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA GPU; an error when none is usable.
    Cuda,
}

impl DeviceChoice {
    /// Resolves the choice to a device, failing clearly when CUDA was asked for
    /// but libtorch sees no GPU.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cuda => {
                if tch::Cuda::is_available() {
                    Ok(Device::Cuda(0))
                } else {
                    bail!(
                        "--device cuda: libtorch sees no usable CUDA GPU on this machine \
                         (no GPU or driver, or a CPU-only libtorch); use --device cpu or auto"
                    )
                }
            }
        }
    }
}

/// A short human name for a device (`cpu`, `cuda:0`).
pub fn name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
