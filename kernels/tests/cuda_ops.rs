//! The op suite on the CubeCL CUDA backend (`cargo test -p kernels --features cuda`).
//!
//! On a machine without CUDA (no `/dev/nvidia*` node, or no `libcuda`/`libnvrtc`), creating a
//! CUDA client panics inside a runtime thread, so every test asks [`cuda_or_skip`] first. When
//! [`kernels::gpu::cuda_available`] is false it prints one line and ends the whole test binary
//! with exit status 0 (libtest has no run-time skip, and the suite's tests take the backend
//! from an expression), unless `TINYCONV_REQUIRE_CUDA=1`, which makes absence a failure
//! (the GPU check script sets it). CUDA present but failing to start is always a failure.
#![cfg(feature = "cuda")]

#[macro_use]
mod suite;

use std::io::Write;
use std::sync::Mutex;

use kernels::gpu::GpuError;
use kernels::Backend;

/// Environment variable: `1` (or `true`/`yes`) turns a missing CUDA device into a failure.
const REQUIRE_ENV: &str = "TINYCONV_REQUIRE_CUDA";

/// True when [`REQUIRE_ENV`] asks for CUDA.
fn cuda_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Ends the test binary successfully, once: the first test thread to get here prints the
/// reason (to the real stderr, which libtest does not capture) and exits; the others wait on
/// the lock until the process is gone.
fn skip_all_tests() -> ! {
    static EXITING: Mutex<()> = Mutex::new(());
    let _guard = EXITING.lock();
    let _ = writeln!(
        std::io::stderr(),
        "cuda_ops: skipped: no CUDA device (kernels::gpu::cuda_available() is false); \
         set {REQUIRE_ENV}=1 to make this a failure"
    );
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}

/// The backend made by `make` (e.g. [`kernels::gpu::cuda_backend`]) after checking that
/// CUDA is there: skips every test when it is not (see the module docs), panics when it is
/// required but absent, or present but failing.
fn cuda_or_skip<B>(make: fn() -> Result<B, GpuError>) -> B {
    if !kernels::gpu::cuda_available() {
        if cuda_required() {
            panic!(
                "no CUDA device found ({REQUIRE_ENV} is set): need an NVIDIA device node \
                 (/dev/nvidia0, /dev/nvidiactl) and libcuda.so + libnvrtc.so on the loader path"
            );
        }
        skip_all_tests();
    }
    make().unwrap_or_else(|e| panic!("CUDA is present but the backend failed: {e}"))
}

/// One test that names the outcome: the device when CUDA is there, a failure when it is
/// required and absent (the suite's tests would then all fail with the same message).
#[test]
fn cuda_device_is_usable() {
    let be = cuda_or_skip(kernels::gpu::cuda_backend);
    let name = be.name();
    println!(
        "CUDA backend: {name}; plane GEMM: {:?}",
        be.plane_gemm_size()
    );
    assert!(!name.is_empty());
}

op_suite!(cuda, crate::cuda_or_skip(kernels::gpu::cuda_backend));

// The same suite with the portable register-tile GEMM (and materialised im2col) instead of
// the plane-broadcast GEMM that CUDA's fixed 32-lane warps select when its self-test passes.
op_suite!(cuda_portable_gemm, {
    let mut be = crate::cuda_or_skip(kernels::gpu::cuda_backend);
    be.set_plane_gemm(false);
    be
});
