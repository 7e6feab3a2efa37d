//! Errors of GPU backend creation.

/// Why a GPU backend could not be created.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No adapter/device of the requested kind exists on this machine.
    #[error("no {0} device found")]
    NoDevice(&'static str),
    /// The runtime failed while creating the device or running its self-test.
    #[error("{runtime} device initialisation failed: {reason}")]
    Init {
        /// The CubeCL runtime (`wgpu`, `cuda`).
        runtime: &'static str,
        /// What went wrong.
        reason: String,
    },
}
