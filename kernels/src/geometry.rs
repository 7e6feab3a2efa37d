//! Shapes of the ops: convolution, pooling, dense and image geometry, with Keras/TensorFlow
//! padding rules.

/// Padding mode of a convolution or pooling window, as in Keras.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    /// No padding: only windows that fit entirely inside the input.
    Valid,
    /// Zero padding so that `out = ceil(in / stride)`; when the total padding is odd the extra
    /// row/column goes at the bottom/right (TensorFlow's rule).
    Same,
}

impl Padding {
    /// Output length along one axis for input length `input`, window `k` and `stride`.
    /// Returns 0 when the window does not fit (valid padding with `k > input`).
    pub fn out_len(self, input: usize, k: usize, stride: usize) -> usize {
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

    /// Padding added before the first element (top or left) along one axis.
    pub fn pad_before(self, input: usize, k: usize, stride: usize) -> usize {
        match self {
            Padding::Valid => 0,
            Padding::Same => {
                let out = self.out_len(input, k, stride);
                let total = ((out.saturating_sub(1)) * stride + k).saturating_sub(input);
                total / 2
            }
        }
    }
}

/// A 2-D convolution over a batch of NHWC images with an HWIO kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dGeom {
    /// Images in the batch.
    pub batch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output channels (filters).
    pub out_c: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Padding mode.
    pub padding: Padding,
}

impl Conv2dGeom {
    /// A geometry from its sizes, for the crate's tests: `batch` images of `(in_h, in_w,
    /// in_c)` into `out_c` channels, kernel `(kh, kw)`, stride `(stride_h, stride_w)`.
    #[cfg(test)]
    pub(crate) fn of(
        batch: usize,
        (in_h, in_w, in_c, out_c): (usize, usize, usize, usize),
        (kh, kw): (usize, usize),
        (stride_h, stride_w): (usize, usize),
        padding: Padding,
    ) -> Self {
        Conv2dGeom {
            batch,
            in_h,
            in_w,
            in_c,
            out_c,
            kh,
            kw,
            stride_h,
            stride_w,
            padding,
        }
    }

    /// Output height.
    pub fn out_h(&self) -> usize {
        self.padding.out_len(self.in_h, self.kh, self.stride_h)
    }
    /// Output width.
    pub fn out_w(&self) -> usize {
        self.padding.out_len(self.in_w, self.kw, self.stride_w)
    }
    /// Rows of zero padding above the input.
    pub fn pad_top(&self) -> usize {
        self.padding.pad_before(self.in_h, self.kh, self.stride_h)
    }
    /// Columns of zero padding left of the input.
    pub fn pad_left(&self) -> usize {
        self.padding.pad_before(self.in_w, self.kw, self.stride_w)
    }
    /// Elements of the input tensor (`batch * in_h * in_w * in_c`).
    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }
    /// Elements of the output tensor (`batch * out_h * out_w * out_c`).
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h() * self.out_w() * self.out_c
    }
    /// Elements of the HWIO kernel (`kh * kw * in_c * out_c`).
    pub fn weight_len(&self) -> usize {
        self.kh * self.kw * self.in_c * self.out_c
    }
    /// Multiply-accumulates of the forward pass.
    pub fn macs(&self) -> usize {
        self.batch * self.out_h() * self.out_w() * self.out_c * self.kh * self.kw * self.in_c
    }
}

/// A 2-D pooling window over a batch of NHWC images (pool size and stride independent, so
/// overlapping pooling works).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dGeom {
    /// Images in the batch.
    pub batch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels (unchanged by pooling).
    pub c: usize,
    /// Window height.
    pub pool_h: usize,
    /// Window width.
    pub pool_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Padding mode. With `Same`, padded positions are ignored (max over / mean of the
    /// positions inside the input only), as in TensorFlow.
    pub padding: Padding,
}

impl Pool2dGeom {
    /// Output height.
    pub fn out_h(&self) -> usize {
        self.padding.out_len(self.in_h, self.pool_h, self.stride_h)
    }
    /// Output width.
    pub fn out_w(&self) -> usize {
        self.padding.out_len(self.in_w, self.pool_w, self.stride_w)
    }
    /// Rows of padding above the input.
    pub fn pad_top(&self) -> usize {
        self.padding
            .pad_before(self.in_h, self.pool_h, self.stride_h)
    }
    /// Columns of padding left of the input.
    pub fn pad_left(&self) -> usize {
        self.padding
            .pad_before(self.in_w, self.pool_w, self.stride_w)
    }
    /// Elements of the input tensor.
    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.c
    }
    /// Elements of the output tensor.
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h() * self.out_w() * self.c
    }
}

/// A dense (fully connected) layer: `y[b, o] = sum_i x[b, i] * w[i, o] + bias[o]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DenseGeom {
    /// Rows (batch).
    pub batch: usize,
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
}

/// A batch of NHWC images, for the augmentation resampler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageGeom {
    /// Images in the batch.
    pub batch: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl ImageGeom {
    /// Elements of the tensor.
    pub fn len(&self) -> usize {
        self.batch * self.h * self.w * self.c
    }
    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_output_sizes() {
        // 5x5 input, 3x3 kernel: valid -> 3, same -> 5, valid stride 2 -> 2.
        assert_eq!(Padding::Valid.out_len(5, 3, 1), 3);
        assert_eq!(Padding::Same.out_len(5, 3, 1), 5);
        assert_eq!(Padding::Valid.out_len(5, 3, 2), 2);
        assert_eq!(Padding::Same.out_len(5, 3, 2), 3);
        // MNIST: 28 -> 26 -> pool 13 -> 11 -> pool 5 -> 3.
        assert_eq!(Padding::Valid.out_len(28, 3, 1), 26);
        assert_eq!(Padding::Valid.out_len(26, 2, 2), 13);
        assert_eq!(Padding::Valid.out_len(11, 2, 2), 5);
    }

    #[test]
    fn tf_same_padding_puts_extra_at_the_end() {
        // in 6, k 3, s 2: out 3, total pad (2*2+3-6)=1 -> 0 before, 1 after.
        assert_eq!(Padding::Same.pad_before(6, 3, 2), 0);
        // in 5, k 3, s 2: out 3, total pad 2 -> 1 before.
        assert_eq!(Padding::Same.pad_before(5, 3, 2), 1);
        // in 4, k 4, s 1: total 3 -> 1 before, 2 after.
        assert_eq!(Padding::Same.pad_before(4, 4, 1), 1);
    }
}
