//! The op suite on the CubeCL wgpu backend (a GPU, or Mesa's lavapipe on machines without
//! one: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p kernels --features wgpu`).
#![cfg(feature = "wgpu")]

#[macro_use]
mod suite;

op_suite!(wgpu, kernels::gpu::wgpu_backend().expect("wgpu adapter"));

// The same suite with the portable register-tile GEMM (and materialised im2col), the path
// taken on devices without a fixed plane size.
op_suite!(wgpu_portable_gemm, {
    let mut be = kernels::gpu::wgpu_backend().expect("wgpu adapter");
    be.set_plane_gemm(false);
    be
});
