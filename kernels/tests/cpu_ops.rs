//! The op suite on the native CPU backend.

#[macro_use]
mod suite;

op_suite!(cpu, kernels::cpu::CpuBackend::new());

// The same suite on a private two-thread pool, which splits work differently.
op_suite!(
    cpu_two_threads,
    kernels::cpu::CpuBackend::with_threads(2).expect("rayon pool")
);
