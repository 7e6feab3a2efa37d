//! The op suite on the CubeCL wgpu backend (a GPU, or Mesa's lavapipe on machines without
//! one: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p kernels --features wgpu`).
#![cfg(feature = "wgpu")]

#[macro_use]
mod suite;

op_suite!(wgpu, kernels::gpu::wgpu_backend().expect("wgpu adapter"));
