//! The ping-pong activation arena of the MNIST network.

use crate::mnist::float::{MnistF16, MnistF32};
use crate::mnist::int8::MnistInt8;

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Elements of arena A: input (784), pool outputs (5408, 1600), logits (10).
pub const ARENA_A: usize = max(max(28 * 28, 13 * 13 * 32), max(5 * 5 * 64, 10));
/// Elements of arena B: conv outputs (21632, 7744, 1152).
pub const ARENA_B: usize = max(26 * 26 * 32, max(11 * 11 * 64, 3 * 3 * 128));

/// Activation arena of the MNIST network: layers alternate between `a` and `b`
/// (input→A, conv1 A→B, pool1 B→A, conv2 A→B, pool2 B→A, conv3 A→B, dense B→A).
///
/// On the device keep it in a `static` (e.g. `static_cell` or `cortex_m::singleton!`) rather
/// than on the stack.
#[derive(Clone, Debug)]
pub struct MnistScratch<T> {
    pub(crate) a: [T; ARENA_A],
    pub(crate) b: [T; ARENA_B],
}

/// Arena for [`MnistInt8`].
pub type MnistScratchI8 = MnistScratch<i8>;

/// Arena for [`MnistF32`] and [`MnistF16`]: the float interpreter's plan for the MNIST network
/// (its largest layer input + output, conv1's 21,632 values and pool1's 5,408: as many values as
/// the int8 pair), in one piece.
#[derive(Clone, Debug)]
pub struct MnistScratchF32 {
    pub(crate) data: [f32; ARENA_A + ARENA_B],
}

impl MnistScratch<i8> {
    /// A zeroed int8 arena (const, so it can initialise a `static`).
    pub const fn new() -> Self {
        Self {
            a: [0; ARENA_A],
            b: [0; ARENA_B],
        }
    }
}

impl Default for MnistScratch<i8> {
    fn default() -> Self {
        Self::new()
    }
}

impl MnistScratchF32 {
    /// A zeroed f32 arena (const, so it can initialise a `static`).
    pub const fn new() -> Self {
        Self {
            data: [0.0; ARENA_A + ARENA_B],
        }
    }
}

impl Default for MnistScratchF32 {
    fn default() -> Self {
        Self::new()
    }
}

/// Bytes of [`MnistScratchI8`]: 27,040.
pub const MNIST_INT8_SCRATCH_BYTES: usize = core::mem::size_of::<MnistScratchI8>();
/// Bytes of [`MnistScratchF32`]: 108,160.
pub const MNIST_F32_SCRATCH_BYTES: usize = core::mem::size_of::<MnistScratchF32>();
/// RAM of an int8 run: the arena plus the [`MnistInt8`] view (weights stay in flash): 27,552
/// bytes on the Cortex-M4F (32-bit pointers), 27,680 on 64-bit hosts. Kernel
/// stack use comes on top (under 100 bytes of locals in the int8 kernels).
pub const MNIST_INT8_RAM_BYTES: usize =
    MNIST_INT8_SCRATCH_BYTES + core::mem::size_of::<MnistInt8<'static>>();
/// RAM of an f32 run: the arena plus the [`MnistF32`] view (the float interpreter's plan of
/// the seven layers): 108,648 bytes on the Cortex-M4F. Kernel stack use comes on top (the
/// kernels accumulate in the output; a few words of locals).
pub const MNIST_F32_RAM_BYTES: usize =
    MNIST_F32_SCRATCH_BYTES + core::mem::size_of::<MnistF32<'static>>();
/// RAM of an f16-weight run (f32 activations): as [`MNIST_F32_RAM_BYTES`].
pub const MNIST_F16_RAM_BYTES: usize =
    MNIST_F32_SCRATCH_BYTES + core::mem::size_of::<MnistF16<'static>>();

// The figures on the Cortex-M4F (32-bit pointers), checked when building for it.
#[cfg(target_pointer_width = "32")]
const _: () = assert!(MNIST_INT8_RAM_BYTES == 27_552 && MNIST_F32_RAM_BYTES == 108_648);
