//! Devices.
//!
//! A [`Device`] is where a model's weights live and where it trains. Users pick one with a
//! [`DeviceChoice`] (`auto`, `cpu`, `cpu-ndarray`, `gpu`), in code, with a `--device` flag of
//! the examples, or with the `KILN_DEVICE` environment variable; `auto`, the default, takes a
//! usable GPU through wgpu and falls back to the CPU (burn-flex).

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// The environment variable that picks the device when code does not.
pub const DEVICE_ENV: &str = "KILN_DEVICE";

/// Which device to run on.
///
/// ```
/// use kiln::DeviceChoice;
/// assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
/// assert!("tpu".parse::<DeviceChoice>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// A GPU through wgpu when one is usable, else the CPU. The default.
    #[default]
    Auto,
    /// The CPU with burn-flex, kiln's CPU backend.
    Cpu,
    /// The CPU with burn-ndarray (deprecated by Burn, kept for those who know it).
    CpuNdarray,
    /// A GPU through wgpu; an error when none is usable.
    Gpu,
}

impl DeviceChoice {
    /// The choice named by `KILN_DEVICE`, or `Auto` when it is unset or empty.
    pub fn from_env() -> Result<Self> {
        match std::env::var(DEVICE_ENV) {
            Ok(v) if !v.trim().is_empty() => v.parse(),
            _ => Ok(DeviceChoice::Auto),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" | "flex" | "cpu-flex" => Ok(DeviceChoice::Cpu),
            "cpu-ndarray" | "ndarray" => Ok(DeviceChoice::CpuNdarray),
            "gpu" | "wgpu" => Ok(DeviceChoice::Gpu),
            other => Err(Error::config(
                "device",
                format!("`{other}` is not a device; use auto, cpu, cpu-ndarray or gpu"),
            )),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::CpuNdarray => "cpu-ndarray",
            DeviceChoice::Gpu => "gpu",
        })
    }
}

/// A device a model can live and train on, with a description of it for humans.
#[derive(Clone, Debug)]
pub struct Device {
    inner: burn::tensor::Device,
    description: String,
}

impl Device {
    /// The device picked by `KILN_DEVICE`, else `auto`.
    pub fn from_env() -> Result<Self> {
        Self::new(DeviceChoice::from_env()?)
    }

    /// The device for a choice. `Gpu` fails when no GPU is usable; `Auto` never does.
    pub fn new(choice: DeviceChoice) -> Result<Self> {
        match choice {
            DeviceChoice::Cpu => Self::cpu(),
            DeviceChoice::CpuNdarray => Self::cpu_ndarray(),
            DeviceChoice::Gpu => Self::gpu(),
            DeviceChoice::Auto => Self::hardware_gpu().or_else(|_| Self::cpu()),
        }
    }

    /// The CPU through burn-flex.
    ///
    /// On Linux with glibc, the first CPU device raises glibc's mmap and trim thresholds so that
    /// tensor buffers freed in one training step serve the next instead of being unmapped (about
    /// 18% of an epoch of the MNIST convnet); set `KILN_KEEP_MALLOC` to keep glibc's settings.
    pub fn cpu() -> Result<Self> {
        #[cfg(feature = "flex")]
        {
            super::keep_freed_buffers();
            Ok(Device {
                inner: burn::tensor::Device::flex(),
                description: format!("cpu (flex, {} threads)", cpu_threads()),
            })
        }
        #[cfg(not(feature = "flex"))]
        {
            Self::cpu_ndarray().map_err(|_| missing_feature("cpu", "flex"))
        }
    }

    /// The CPU through burn-ndarray; glibc is tuned as for [`cpu`](Self::cpu).
    pub fn cpu_ndarray() -> Result<Self> {
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        {
            super::keep_freed_buffers();
            Ok(Device {
                inner: burn::tensor::Device::ndarray(),
                description: format!("cpu (ndarray, {} threads)", cpu_threads()),
            })
        }
        #[cfg(not(feature = "ndarray"))]
        {
            Err(missing_feature("cpu-ndarray", "ndarray"))
        }
    }

    /// A GPU through wgpu (a software one such as lavapipe included), started once per
    /// process and checked with a tiny computation.
    pub fn gpu() -> Result<Self> {
        #[cfg(feature = "wgpu")]
        {
            if let Some(Ok(d)) = HARDWARE.get() {
                return Ok(d.clone());
            }
            GPU.get_or_init(|| super::quiet::with_quiet_stderr(|| start_wgpu(Software::Accept)))
                .clone()
                .map_err(|message| Error::Device {
                    requested: "gpu".into(),
                    message,
                })
        }
        #[cfg(not(feature = "wgpu"))]
        {
            Err(missing_feature("gpu", "wgpu"))
        }
    }

    /// Every GPU of the type [`gpu`](Self::gpu) picks (all the discrete GPUs, say), each
    /// started and checked, `gpu()`'s first: the devices of a
    /// [`MirroredStrategy`](crate::distribute::MirroredStrategy) on one machine. A machine
    /// with one GPU gets one device.
    ///
    /// ```no_run
    /// use kiln::Device;
    /// let gpus = Device::gpus()?;
    /// println!("{} GPUs, the first {}", gpus.len(), gpus[0]);
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn gpus() -> Result<Vec<Self>> {
        #[cfg(feature = "wgpu")]
        {
            let first = Self::gpu()?;
            GPUS.get_or_init(|| {
                super::quiet::with_quiet_stderr(|| {
                    let adapters = find_adapters(Software::Accept)?;
                    let mut devices = vec![first];
                    for (kind, info) in adapters.kinds.iter().skip(1) {
                        devices.push(start_adapter(adapters.api, kind.clone(), info)?);
                    }
                    Ok(devices)
                })
            })
            .clone()
            .map_err(|message| Error::Device {
                requested: "gpus".into(),
                message,
            })
        }
        #[cfg(not(feature = "wgpu"))]
        {
            Err(missing_feature("gpus", "wgpu"))
        }
    }

    /// A hardware GPU through wgpu, as `auto` wants it: software adapters are refused.
    fn hardware_gpu() -> Result<Self> {
        #[cfg(feature = "wgpu")]
        {
            if let Some(Ok(d)) = GPU.get() {
                return Ok(d.clone());
            }
            HARDWARE
                .get_or_init(|| super::quiet::with_quiet_stderr(|| start_wgpu(Software::Refuse)))
                .clone()
                .map_err(|message| Error::Device {
                    requested: "auto".into(),
                    message,
                })
        }
        #[cfg(not(feature = "wgpu"))]
        {
            Err(missing_feature("auto", "wgpu"))
        }
    }

    /// What this device is, as fit prints it: `wgpu (NVIDIA H100, Vulkan)`, `cpu (flex, 2 threads)`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The Burn device, without autodiff, for code that mixes kiln and Burn.
    pub fn as_burn(&self) -> &burn::tensor::Device {
        &self.inner
    }

    /// The Burn device, without autodiff.
    pub(crate) fn burn(&self) -> &burn::tensor::Device {
        &self.inner
    }

    /// The Burn device with autodiff, for training.
    pub(crate) fn autodiff(&self) -> burn::tensor::Device {
        self.inner.clone().autodiff()
    }
}

impl PartialEq for Device {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

/// The wgpu device started by `gpu`, and the one started by `auto` (hardware only): the
/// runtime starts once per process.
#[cfg(feature = "wgpu")]
static GPU: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
#[cfg(feature = "wgpu")]
static HARDWARE: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
/// Every GPU of the type `gpu` picks, started by `gpus`.
#[cfg(feature = "wgpu")]
static GPUS: OnceLock<std::result::Result<Vec<Device>, String>> = OnceLock::new();

fn cpu_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[allow(dead_code)]
fn missing_feature(requested: &str, feature: &str) -> Error {
    Error::Device {
        requested: requested.into(),
        message: format!("kiln was built without its `{feature}` feature; enable it in Cargo.toml"),
    }
}

/// Whether a software adapter (lavapipe, llvmpipe) may serve: yes when a GPU is asked for,
/// no for `auto`, where the CPU backend is faster than a GPU emulated on the CPU.
#[cfg(feature = "wgpu")]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Software {
    Accept,
    Refuse,
}

/// The adapters a GPU device may start on: the first graphics API among Vulkan, Metal and DX12
/// (never OpenGL, whose software drivers can hang) with a usable adapter, and on it every
/// adapter of the best type (discrete before integrated, virtual, other and software), in the
/// order the wgpu runtime numbers them.
#[cfg(feature = "wgpu")]
struct Adapters {
    api: burn::tensor::wgpu::WgpuBackend,
    kinds: Vec<(
        burn::tensor::DeviceKind,
        burn::tensor::wgpu::wgpu::AdapterInfo,
    )>,
}

#[cfg(feature = "wgpu")]
fn find_adapters(software: Software) -> std::result::Result<Adapters, String> {
    use burn::tensor::DeviceKind;
    use burn::tensor::wgpu::{WgpuBackend, wgpu};

    let candidates = [
        (wgpu::Backend::Vulkan, WgpuBackend::Vulkan),
        (wgpu::Backend::Metal, WgpuBackend::Metal),
        (wgpu::Backend::Dx12, WgpuBackend::Dx12),
    ];
    let rank = |t: wgpu::DeviceType| match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let mut seen = Vec::new();
    for (backend, api) in candidates {
        let adapters = std::panic::catch_unwind(|| adapters_on(backend)).unwrap_or_default();
        let best = adapters
            .iter()
            .filter(|a| software == Software::Accept || a.device_type != wgpu::DeviceType::Cpu)
            .map(|a| a.device_type)
            .min_by_key(|t| rank(*t));
        if let Some(best) = best {
            let of_best = adapters.iter().filter(|a| a.device_type == best);
            let kinds: Vec<_> = match best {
                // the runtime numbers adapters within their type
                wgpu::DeviceType::DiscreteGpu => of_best
                    .enumerate()
                    .map(|(i, a)| (DeviceKind::DiscreteGpu(i), a.clone()))
                    .collect(),
                wgpu::DeviceType::IntegratedGpu => of_best
                    .enumerate()
                    .map(|(i, a)| (DeviceKind::IntegratedGpu(i), a.clone()))
                    .collect(),
                wgpu::DeviceType::VirtualGpu => of_best
                    .enumerate()
                    .map(|(i, a)| (DeviceKind::VirtualGpu(i), a.clone()))
                    .collect(),
                // without an index, the runtime starts one adapter of these types
                wgpu::DeviceType::Cpu => of_best
                    .take(1)
                    .map(|a| (DeviceKind::Cpu, a.clone()))
                    .collect(),
                wgpu::DeviceType::Other => of_best
                    .take(1)
                    .map(|a| (DeviceKind::DefaultDevice, a.clone()))
                    .collect(),
            };
            return Ok(Adapters { api, kinds });
        }
        seen.extend(
            adapters
                .into_iter()
                .map(|a| format!("{} ({:?})", a.name, a.device_type)),
        );
    }
    Err(if seen.is_empty() {
        "no Vulkan, Metal or DX12 adapter was found (install a GPU driver, or Mesa's lavapipe \
         for a software one)"
            .into()
    } else {
        format!(
            "only software adapters were found ({}); ask for `gpu` to use them",
            seen.join(", ")
        )
    })
}

/// Starts Burn's wgpu runtime on the best adapter and checks it with a tiny computation.
#[cfg(feature = "wgpu")]
fn start_wgpu(software: Software) -> std::result::Result<Device, String> {
    let adapters = find_adapters(software)?;
    let (kind, info) = adapters.kinds[0].clone();
    start_adapter(adapters.api, kind, &info)
}

/// Starts Burn's wgpu runtime on one adapter and checks it with a tiny computation.
#[cfg(feature = "wgpu")]
fn start_adapter(
    api: burn::tensor::wgpu::WgpuBackend,
    kind: burn::tensor::DeviceKind,
    info: &burn::tensor::wgpu::wgpu::AdapterInfo,
) -> std::result::Result<Device, String> {
    use burn::tensor::Tensor;
    let started = std::panic::catch_unwind(|| {
        let inner = burn::tensor::Device::wgpu_options()
            .graphics_api(api)
            .device_kind(kind)
            .init()
            .map_err(|e| e.to_string())?;
        let sum = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &inner)
            .sum()
            .into_scalar::<f32>();
        if (sum - 6.0).abs() > 1e-6 {
            return Err(format!("the smoke test computed {sum} instead of 6"));
        }
        Ok(Device {
            inner,
            description: format!("wgpu ({}, {:?})", info.name, info.backend),
        })
    });
    started.unwrap_or_else(|_| {
        Err(format!(
            "the wgpu runtime panicked while starting on {}",
            info.name
        ))
    })
}

/// The adapters one graphics API offers.
#[cfg(feature = "wgpu")]
fn adapters_on(
    backend: burn::tensor::wgpu::wgpu::Backend,
) -> Vec<burn::tensor::wgpu::wgpu::AdapterInfo> {
    use burn::tensor::wgpu::wgpu;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: backend.into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    block_on(instance.enumerate_adapters(backend.into()))
        .iter()
        .map(wgpu::Adapter::get_info)
        .collect()
}

/// Drives a future that native wgpu completes without waiting on anything.
#[cfg(feature = "wgpu")]
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// A CPU device for host-side staging (flex, else ndarray), when the compiled features have
/// one.
pub(crate) fn staging_device() -> Option<burn::tensor::Device> {
    Device::cpu()
        .or_else(|_| Device::cpu_ndarray())
        .ok()
        .map(|d| d.inner)
}

/// The CPU device unit tests run on (never a GPU, which a test machine may lack).
#[cfg(test)]
pub(crate) fn test_device() -> burn::tensor::Device {
    Device::cpu().expect("a CPU backend").inner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print_back() {
        for c in [
            DeviceChoice::Auto,
            DeviceChoice::Cpu,
            DeviceChoice::CpuNdarray,
            DeviceChoice::Gpu,
        ] {
            assert_eq!(c.to_string().parse::<DeviceChoice>().unwrap(), c);
        }
        let err = "cuda-9".parse::<DeviceChoice>().unwrap_err().to_string();
        assert!(
            err.contains("cuda-9") && err.contains("cpu-ndarray"),
            "{err}"
        );
    }

    #[test]
    fn cpu_describes_itself() {
        let d = Device::cpu().unwrap();
        assert!(
            d.description().starts_with("cpu (flex"),
            "{}",
            d.description()
        );
    }

    #[test]
    fn auto_always_gives_a_device() {
        assert!(Device::new(DeviceChoice::Auto).is_ok());
    }
}
