//! Device discovery and backend construction for the wgpu and CUDA runtimes.
//!
//! Creating a CubeCL client on a machine without the device makes the runtime panic (for
//! CUDA, inside a runtime thread), so availability is checked first with cheap probes, and
//! creation runs under `catch_unwind` as a second line of defence.

#[cfg(any(feature = "wgpu", feature = "cuda"))]
use std::panic::{catch_unwind, AssertUnwindSafe};

#[cfg(any(feature = "wgpu", feature = "cuda"))]
use super::{GpuBackend, GpuError};

/// Text of a caught panic payload.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic in the runtime".to_string()
    }
}

#[cfg(feature = "wgpu")]
mod wgpu_device {
    use std::sync::OnceLock;

    use cubecl::prelude::*;
    use cubecl::wgpu::{
        init_setup, AutoGraphicsApi, GraphicsApi, RuntimeOptions, WgpuDevice, WgpuRuntime,
    };

    use super::*;

    /// Device type ids of CubeCL's wgpu enumeration: 0 discrete, 1 integrated, 2 virtual GPU,
    /// 3 CPU (llvmpipe/lavapipe, WARP), 4 other.
    fn adapter_type_ids() -> Vec<u16> {
        let backend = AutoGraphicsApi::backend();
        catch_unwind(|| WgpuRuntime::enumerate_all_devices(&backend))
            .map(|ids| ids.into_iter().map(|id| id.type_id).collect())
            .unwrap_or_default()
    }

    /// True when wgpu sees a GPU adapter (discrete, integrated or virtual), i.e. one that is
    /// not a CPU rasteriser such as Mesa's lavapipe.
    ///
    /// On Linux a GPU needs a device node (`/dev/dri/renderD*`, or `/dev/nvidia*` for
    /// NVIDIA's driver): without one no hardware adapter can exist, and the adapter
    /// enumeration is skipped (it starts the Vulkan loader, whose window-system layers print
    /// `XDG_RUNTIME_DIR is invalid or not set` on machines without a desktop session).
    pub fn wgpu_hardware_adapter_available() -> bool {
        gpu_device_node_present() && adapter_type_ids().iter().any(|&t| t <= 2)
    }

    #[cfg(target_os = "linux")]
    fn gpu_device_node_present() -> bool {
        let has = |dir: &str, prefix: &str| {
            std::fs::read_dir(dir).is_ok_and(|rd| {
                rd.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
            })
        };
        has("/dev/dri", "renderD") || has("/dev", "nvidia")
    }

    #[cfg(not(target_os = "linux"))]
    fn gpu_device_node_present() -> bool {
        true
    }

    /// The process-wide default wgpu device: CubeCL registers one server per device, so the
    /// setup runs once and later backends share its client.
    fn default_device() -> &'static Result<String, GpuError> {
        static SETUP: OnceLock<Result<String, GpuError>> = OnceLock::new();
        SETUP.get_or_init(|| {
            if adapter_type_ids().is_empty() {
                return Err(GpuError::NoDevice("wgpu"));
            }
            catch_unwind(AssertUnwindSafe(|| {
                let setup = init_setup::<AutoGraphicsApi>(
                    &WgpuDevice::DefaultDevice,
                    RuntimeOptions::default(),
                );
                let info = setup.adapter.get_info();
                format!(
                    "{} ({}{}{}, {:?}, {:?})",
                    info.name,
                    info.driver,
                    if info.driver_info.is_empty() { "" } else { " " },
                    info.driver_info,
                    info.device_type,
                    info.backend
                )
            }))
            .map_err(|p| GpuError::Init {
                runtime: "wgpu",
                reason: panic_text(p.as_ref()),
            })
        })
    }

    /// A backend on wgpu's default adapter (the high-performance one; override with
    /// `CUBECL_WGPU_DEFAULT_DEVICE`, e.g. `Cpu` or `DiscreteGpu(1)`).
    pub fn wgpu_backend() -> Result<GpuBackend<WgpuRuntime>, GpuError> {
        let adapter = default_device().as_ref().map_err(|e| match e {
            GpuError::NoDevice(r) => GpuError::NoDevice(r),
            GpuError::Init { runtime, reason } => GpuError::Init {
                runtime,
                reason: reason.clone(),
            },
        })?;
        let client = WgpuRuntime::client(&WgpuDevice::DefaultDevice);
        Ok(GpuBackend::new(client, adapter.clone()))
    }
}

#[cfg(feature = "wgpu")]
pub use wgpu_device::{wgpu_backend, wgpu_hardware_adapter_available};

#[cfg(feature = "cuda")]
mod cuda_device {
    use std::path::{Path, PathBuf};

    use cubecl::cuda::{CudaDevice, CudaRuntime};
    use cubecl::prelude::*;

    use super::*;

    /// Directories where the dynamic loader finds the CUDA driver and NVRTC libraries.
    fn library_dirs() -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for var in ["LD_LIBRARY_PATH", "CUDA_PATH", "CUDA_HOME", "CUDA_ROOT"] {
            if let Some(v) = std::env::var_os(var) {
                for p in std::env::split_paths(&v) {
                    dirs.push(p.join("lib64"));
                    dirs.push(p.join("lib"));
                    dirs.push(p);
                }
            }
        }
        for d in [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/cuda/lib64",
            "/usr/local/cuda/lib",
            "/usr/lib/wsl/lib",
            "/opt/cuda/lib64",
        ] {
            dirs.push(PathBuf::from(d));
        }
        if let Ok(entries) = std::fs::read_dir("/usr/local") {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with("cuda-") {
                    dirs.push(e.path().join("lib64"));
                }
            }
        }
        dirs
    }

    /// True when some directory holds a file named `prefix*` (e.g. `libcuda.so.1`).
    fn has_library(dirs: &[PathBuf], prefix: &str) -> bool {
        dirs.iter().any(|d| {
            std::fs::read_dir(d).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
            })
        })
    }

    /// True when this machine looks able to run CUDA kernels: an NVIDIA device node (or WSL's
    /// GPU bridge) exists and the driver library (`libcuda.so`) and the runtime compiler
    /// (`libnvrtc.so`, which CubeCL uses to build kernels) can be found. Cheap: no library is
    /// loaded and no CUDA context is created.
    pub fn cuda_available() -> bool {
        let node = ["/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg"]
            .iter()
            .any(|p| Path::new(p).exists());
        if !node {
            return false;
        }
        let dirs = library_dirs();
        has_library(&dirs, "libcuda.so") && has_library(&dirs, "libnvrtc.so")
    }

    /// A backend on CUDA device 0, after [`cuda_available`] and a test launch.
    pub fn cuda_backend() -> Result<GpuBackend<CudaRuntime>, GpuError> {
        if !cuda_available() {
            return Err(GpuError::NoDevice("CUDA"));
        }
        catch_unwind(AssertUnwindSafe(|| {
            let client = CudaRuntime::client(&CudaDevice::new(0));
            GpuBackend::new(client, "CUDA device 0".to_string())
        }))
        .map_err(|p| GpuError::Init {
            runtime: "cuda",
            reason: panic_text(p.as_ref()),
        })
    }
}

#[cfg(feature = "cuda")]
pub use cuda_device::{cuda_available, cuda_backend};
