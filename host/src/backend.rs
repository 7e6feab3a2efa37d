//! Backend selection for the commands: `--backend auto|cpu|wgpu|cuda`, resolved once and run
//! through [`with_backend`]. Every command that trains or evaluates uses this module; it
//! depends on no command.

use clap::ValueEnum;
use kernels::Backend;

/// Which backend runs the ops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// CUDA when built in and present, else a hardware wgpu adapter, else the native CPU.
    #[default]
    Auto,
    /// The native CPU backend.
    Cpu,
    /// CubeCL on wgpu (needs the `wgpu` feature).
    Wgpu,
    /// CubeCL on CUDA (needs the `cuda` feature).
    Cuda,
}

/// The requested backend is not available.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// Work generic over the backend, run by [`with_backend`] on the chosen one.
pub trait BackendJob {
    /// The result.
    type Output;
    /// Runs on `backend`.
    fn run<B: Backend>(self, backend: B) -> Self::Output;
}

/// Picks the backend for `choice`, prints the choice on stderr, and runs `job` on it.
pub fn with_backend<J: BackendJob>(
    choice: BackendChoice,
    job: J,
) -> Result<J::Output, BackendError> {
    let resolved = match choice {
        BackendChoice::Auto => auto_backend(),
        c => c,
    };
    match resolved {
        BackendChoice::Cpu | BackendChoice::Auto => {
            let b = kernels::CpuBackend::new();
            eprintln!("backend: {}", b.name());
            Ok(job.run(b))
        }
        BackendChoice::Wgpu => run_wgpu(job),
        BackendChoice::Cuda => run_cuda(job),
    }
}

/// What `auto` resolves to on this machine: CUDA when built in and present, else a hardware
/// wgpu adapter, else the CPU.
pub fn auto_backend() -> BackendChoice {
    #[cfg(feature = "cuda")]
    if kernels::gpu::cuda_available() {
        return BackendChoice::Cuda;
    }
    #[cfg(feature = "wgpu")]
    if kernels::gpu::wgpu_hardware_adapter_available() {
        return BackendChoice::Wgpu;
    }
    BackendChoice::Cpu
}

#[cfg(feature = "wgpu")]
fn run_wgpu<J: BackendJob>(job: J) -> Result<J::Output, BackendError> {
    let b = kernels::gpu::wgpu_backend()
        .map_err(|e| BackendError(format!("wgpu backend unavailable: {e}")))?;
    eprintln!("backend: {}", b.name());
    Ok(job.run(b))
}

#[cfg(not(feature = "wgpu"))]
fn run_wgpu<J: BackendJob>(_job: J) -> Result<J::Output, BackendError> {
    Err(BackendError(
        "this binary was built without the wgpu backend; rebuild with `--features wgpu`".into(),
    ))
}

#[cfg(feature = "cuda")]
fn run_cuda<J: BackendJob>(job: J) -> Result<J::Output, BackendError> {
    if !kernels::gpu::cuda_available() {
        return Err(BackendError("no CUDA device found".into()));
    }
    let b = kernels::gpu::cuda_backend()
        .map_err(|e| BackendError(format!("CUDA backend unavailable: {e}")))?;
    eprintln!("backend: {}", b.name());
    Ok(job.run(b))
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<J: BackendJob>(_job: J) -> Result<J::Output, BackendError> {
    Err(BackendError(
        "this binary was built without the CUDA backend; rebuild with `--features cuda`".into(),
    ))
}
