//! Launch geometry shared by the kernels: grid-stride 1-D launches.

use cubecl::prelude::*;

/// Invocations per cube of the 1-D (elementwise) kernels.
pub(crate) const BLOCK_1D: u32 = 256;

/// Largest cube count along one axis that every runtime accepts.
pub(crate) const MAX_CUBES: usize = 65_535;

/// A 1-D launch for `n` work items: the kernels loop with a stride of the whole grid, so the
/// cube count is capped at [`MAX_CUBES`] and any `n` is covered.
pub(crate) fn grid_1d(n: usize) -> (CubeCount, CubeDim) {
    let cubes = n.div_ceil(BLOCK_1D as usize).clamp(1, MAX_CUBES) as u32;
    (CubeCount::Static(cubes, 1, 1), CubeDim::new_1d(BLOCK_1D))
}

/// Converts a size to the `u32` the kernels index with; sizes beyond `u32` are a programming
/// error (a 16 GiB tensor), reported by a panic naming the op.
pub(crate) fn u32_of(op: &str, v: usize) -> u32 {
    u32::try_from(v).unwrap_or_else(|_| panic!("{op}: size {v} does not fit in u32"))
}
