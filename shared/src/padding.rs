//! Padding modes and the output-size / offset arithmetic of Keras and TensorFlow.

use serde::{Deserialize, Serialize};

/// Spatial padding of a convolution or pooling window (Keras `padding=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Padding {
    /// No padding: only windows fully inside the input; `out = (in - k) / stride + 1`.
    Valid,
    /// TensorFlow "same": `out = ceil(in / stride)`, total padding
    /// `max((out - 1) * stride + k - in, 0)`, `before = total / 2`, the odd extra pixel at the
    /// bottom/right.
    Same,
}

impl Padding {
    /// Output length along one axis for input length `input`, window `k` and `stride`.
    ///
    /// Returns 0 when a valid window does not fit, or when `stride` is 0.
    pub const fn out_dim(self, input: usize, k: usize, stride: usize) -> usize {
        if stride == 0 {
            return 0;
        }
        match self {
            Padding::Valid => {
                if input < k {
                    0
                } else {
                    (input - k) / stride + 1
                }
            }
            Padding::Same => input.div_ceil(stride),
        }
    }

    /// Padding inserted before the first element (top or left) along one axis.
    pub const fn pad_before(self, input: usize, k: usize, stride: usize) -> usize {
        match self {
            Padding::Valid => 0,
            Padding::Same => {
                let out = self.out_dim(input, k, stride);
                if out == 0 {
                    return 0;
                }
                // `(out - 1) * stride < input`; only `+ k` can overflow (a hostile blob on a
                // 32-bit device), and then the interpreter's window check rejects the layer.
                let needed = ((out - 1) * stride).saturating_add(k);
                let total = needed.saturating_sub(input);
                total / 2
            }
        }
    }
}

/// Type-level padding mode, so that a layer's padding is part of its type.
pub trait PaddingKind {
    /// The runtime value of this padding mode.
    const PADDING: Padding;
}

/// Type-level [`Padding::Valid`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Valid;

/// Type-level [`Padding::Same`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Same;

impl PaddingKind for Valid {
    const PADDING: Padding = Padding::Valid;
}

impl PaddingKind for Same {
    const PADDING: Padding = Padding::Same;
}
