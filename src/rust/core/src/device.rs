//! Choosing where tensors live. CUDA is compiled in only with the `cuda` feature.

pub use candle_core::Device;

use crate::error::{Error, Result};

/// Whether this build can use a CUDA GPU.
pub fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

/// Resolves "cpu", "cuda" or "auto" (CUDA when compiled in and a GPU is present).
pub fn resolve(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" if !cuda_compiled() => Err(Error::Device(
            "this build of sygnet has no CUDA support; reinstall from source with the \
             environment variable SYGNET_CARGO_FEATURES=cuda (needs the CUDA toolkit, nvcc)"
                .into(),
        )),
        "cuda" => Device::new_cuda(0).map_err(|e| {
            // candle may attach a backtrace of its own frames: not for the user.
            let e = match e {
                candle_core::Error::WithBacktrace { inner, .. } => *inner,
                e => e,
            };
            Error::Device(format!("no usable CUDA device: {e}"))
        }),
        "auto" => Ok(if cuda_compiled() {
            Device::cuda_if_available(0).unwrap_or(Device::Cpu)
        } else {
            Device::Cpu
        }),
        other => Err(Error::Config(format!(
            "unknown device `{other}`; use \"cpu\", \"cuda\" or \"auto\""
        ))),
    }
}

pub fn name(device: &Device) -> &'static str {
    if device.is_cuda() {
        "cuda"
    } else {
        "cpu"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_auto_resolve_without_a_gpu_and_bad_names_fail() {
        assert!(resolve("cpu").unwrap().is_cpu());
        assert!(resolve("tpu").is_err());
        if !cuda_compiled() {
            assert!(resolve("auto").unwrap().is_cpu());
            let msg = resolve("cuda").unwrap_err().to_string();
            assert!(msg.contains("SYGNET_CARGO_FEATURES=cuda"));
        }
    }

    #[test]
    fn a_cuda_build_without_a_gpu_falls_back_on_auto_and_says_why_on_cuda() {
        match resolve("cuda") {
            Ok(device) => {
                assert!(device.is_cuda());
                assert_eq!(name(&resolve("auto").unwrap()), "cuda");
            }
            Err(e) => {
                assert!(resolve("auto").unwrap().is_cpu());
                let expected = if cuda_compiled() {
                    "no usable CUDA device"
                } else {
                    "no CUDA support"
                };
                assert!(e.to_string().contains(expected), "{e}");
                assert!(!e.to_string().contains("candle_core::"), "{e}");
            }
        }
    }
}
