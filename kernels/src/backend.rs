//! The training-op API that every backend implements.

use crate::geometry::{Conv2dGeom, DenseGeom, ImageGeom, Pool2dGeom};

/// Result of a fused loss op: the mean loss over the batch, the number of correct predictions,
/// and the gradient of the mean loss with respect to the logits.
#[derive(Clone, Debug)]
pub struct LossOutput<T> {
    /// Mean loss over the batch.
    pub loss: f32,
    /// Correct predictions in the batch (arg-max for categorical, `p >= 0.5` for binary).
    pub correct: usize,
    /// d(mean loss)/d(logits), same shape as the logits.
    pub grad: T,
}

/// One set of training ops, forward and backward, on one device.
///
/// Tensors are flat `f32` buffers owned by the device; shapes travel in the geometry
/// arguments. Layouts follow Keras: NHWC activations, HWIO conv kernels, `[in, out]` dense
/// kernels. Callers guarantee that buffer lengths match the geometry (layers check shapes when
/// a model is built); implementations may panic on a mismatch, which is a programming error,
/// never a data error.
pub trait Backend: Send + Sync {
    /// A device buffer of `f32`.
    type Tensor: Send + Sync;
    /// A device buffer of `u32` (labels, arg-max indices).
    type Index: Send + Sync;

    /// Human-readable name of the backend and device, e.g. `cpu (2 threads)` or
    /// `wgpu: llvmpipe (LLVM 15.0.6, 256 bits)`.
    fn name(&self) -> String;

    // ---- data parallelism ----------------------------------------------------------------

    /// Into how many slices a training or evaluation batch is cut, each run whole (forward,
    /// loss, backward) by [`Backend::on_replicas`] on a replica of this backend of its own.
    /// 1, the default, runs every batch whole on `self`, its ops parallel inside.
    fn replicas(&self) -> usize {
        1
    }

    /// Runs `f(i, replica)` for every `i` in `0..self.replicas()`, concurrently, and returns
    /// the results in order of `i`. Tensors of a replica are valid on `self` and on every
    /// other replica. The default runs `f(0, self)`.
    fn on_replicas<T: Send>(&self, f: impl Fn(usize, &Self) -> T + Sync) -> Vec<T>
    where
        Self: Sized,
    {
        vec![f(0, self)]
    }

    // ---- memory --------------------------------------------------------------------------

    /// Uploads a host slice.
    #[allow(clippy::wrong_self_convention)] // a device method, not a conversion
    fn from_slice(&self, data: &[f32]) -> Self::Tensor;
    /// Uploads a host slice of indices.
    fn index_from_slice(&self, data: &[u32]) -> Self::Index;
    /// A tensor of `len` zeros.
    fn zeros(&self, len: usize) -> Self::Tensor;
    /// Downloads a tensor (waits for pending work).
    fn to_vec(&self, t: &Self::Tensor) -> Vec<f32>;
    /// Downloads an index buffer (waits for pending work).
    fn index_to_vec(&self, t: &Self::Index) -> Vec<u32>;
    /// Waits until `t` is computed (what a timing must do before it reads the clock). The
    /// default downloads it; a backend whose ops finish before they return does nothing.
    fn sync(&self, t: &Self::Tensor) {
        let _ = self.to_vec(t);
    }
    /// Number of elements.
    fn len(&self, t: &Self::Tensor) -> usize;
    /// A device-side copy.
    fn copy(&self, t: &Self::Tensor) -> Self::Tensor;

    // ---- convolution ---------------------------------------------------------------------

    /// `y = conv2d(x, w) + bias`, x NHWC, w HWIO, y NHWC.
    fn conv2d(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        bias: Option<&Self::Tensor>,
        g: &Conv2dGeom,
    ) -> Self::Tensor;
    /// `max(conv2d(x, w) + bias, 0)`: [`Backend::conv2d`] and its ReLU in one op where the
    /// backend can (the CPU backend applies it as the GEMM stores each result); the default
    /// runs the two ops.
    fn conv2d_relu(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        bias: Option<&Self::Tensor>,
        g: &Conv2dGeom,
    ) -> Self::Tensor {
        self.relu_owned(self.conv2d(x, w, bias, g))
    }
    /// dL/dx from dL/dy.
    fn conv2d_backward_input(
        &self,
        dy: &Self::Tensor,
        w: &Self::Tensor,
        g: &Conv2dGeom,
    ) -> Self::Tensor;
    /// dL/dw (HWIO) from x and dL/dy.
    fn conv2d_backward_weight(
        &self,
        x: &Self::Tensor,
        dy: &Self::Tensor,
        g: &Conv2dGeom,
    ) -> Self::Tensor;
    /// dL/dbias: sums `dy` (viewed as `[rows, channels]`) over the rows.
    fn bias_grad(&self, dy: &Self::Tensor, channels: usize) -> Self::Tensor;
    /// [`Backend::conv2d_backward_weight`] and the bias's [`Backend::bias_grad`] of the same
    /// `dy`, in one pass over `dy` where the backend can; the default runs the two ops.
    fn conv2d_backward_weight_bias(
        &self,
        x: &Self::Tensor,
        dy: &Self::Tensor,
        g: &Conv2dGeom,
    ) -> (Self::Tensor, Self::Tensor) {
        (
            self.conv2d_backward_weight(x, dy, g),
            self.bias_grad(dy, g.out_c),
        )
    }

    // ---- pooling -------------------------------------------------------------------------

    /// Max pooling; also returns, per output element, the flat input index of its maximum
    /// (first maximum in window order on ties).
    fn max_pool2d(&self, x: &Self::Tensor, g: &Pool2dGeom) -> (Self::Tensor, Self::Index);
    /// Scatters `dy` to the arg-max positions (adding where windows overlap).
    fn max_pool2d_backward(
        &self,
        dy: &Self::Tensor,
        argmax: &Self::Index,
        g: &Pool2dGeom,
    ) -> Self::Tensor;
    /// Average pooling (with `Same` padding, the mean over the in-bounds positions only).
    fn avg_pool2d(&self, x: &Self::Tensor, g: &Pool2dGeom) -> Self::Tensor;
    /// Backward of [`Backend::avg_pool2d`].
    fn avg_pool2d_backward(&self, dy: &Self::Tensor, g: &Pool2dGeom) -> Self::Tensor;

    // ---- dense ---------------------------------------------------------------------------

    /// `y = x w + bias`, x `[batch, in]`, w `[in, out]`.
    fn dense(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        bias: Option<&Self::Tensor>,
        g: &DenseGeom,
    ) -> Self::Tensor;
    /// dL/dx = dy wᵀ.
    fn dense_backward_input(
        &self,
        dy: &Self::Tensor,
        w: &Self::Tensor,
        g: &DenseGeom,
    ) -> Self::Tensor;
    /// dL/dw = xᵀ dy.
    fn dense_backward_weight(
        &self,
        x: &Self::Tensor,
        dy: &Self::Tensor,
        g: &DenseGeom,
    ) -> Self::Tensor;

    // ---- elementwise ---------------------------------------------------------------------

    /// max(x, 0).
    fn relu(&self, x: &Self::Tensor) -> Self::Tensor;
    /// `dy * (y > 0)`, where `y` is the ReLU's output.
    fn relu_backward(&self, y: &Self::Tensor, dy: &Self::Tensor) -> Self::Tensor;
    /// [`Backend::relu`] of a tensor the caller gives up, in its buffer where the backend can
    /// (the default allocates, as `relu`).
    fn relu_owned(&self, x: Self::Tensor) -> Self::Tensor {
        self.relu(&x)
    }
    /// [`Backend::relu_backward`] into `dy`'s buffer where the backend can (the default
    /// allocates).
    fn relu_backward_owned(&self, y: &Self::Tensor, dy: Self::Tensor) -> Self::Tensor {
        self.relu_backward(y, &dy)
    }
    /// `x * scale + offset` (Keras `Rescaling`).
    fn scale_shift(&self, x: &Self::Tensor, scale: f32, offset: f32) -> Self::Tensor;
    /// Elementwise product.
    fn mul(&self, a: &Self::Tensor, b: &Self::Tensor) -> Self::Tensor;
    /// Elementwise sum (summing the gradients of data-parallel replicas).
    fn add(&self, a: &Self::Tensor, b: &Self::Tensor) -> Self::Tensor;
    /// Inverted dropout mask: each element is `1 / (1 - rate)` with probability `1 - rate`,
    /// else 0, from a counter-based generator keyed by `seed` (same seed, same mask, on every
    /// backend). Multiply activations and gradients by it.
    fn dropout_mask(&self, len: usize, rate: f32, seed: u64) -> Self::Tensor;

    // ---- outputs and losses --------------------------------------------------------------

    /// Row-wise softmax of `[batch, classes]` logits.
    fn softmax(&self, logits: &Self::Tensor, batch: usize, classes: usize) -> Self::Tensor;
    /// Elementwise logistic sigmoid.
    fn sigmoid(&self, x: &Self::Tensor) -> Self::Tensor;
    /// Softmax + sparse categorical crossentropy, fused: mean loss, correct count (arg-max ==
    /// label), and d(mean loss)/d(logits) = (softmax - onehot) / batch.
    fn softmax_cross_entropy(
        &self,
        logits: &Self::Tensor,
        labels: &Self::Index,
        batch: usize,
        classes: usize,
    ) -> LossOutput<Self::Tensor>;
    /// Sigmoid + binary crossentropy on `[batch]` logits with 0/1 targets, fused and stable:
    /// mean loss, correct count (`sigmoid >= 0.5` == target), d(mean loss)/d(logits) =
    /// (sigmoid - target) / batch.
    fn sigmoid_binary_cross_entropy(
        &self,
        logits: &Self::Tensor,
        targets: &Self::Tensor,
        batch: usize,
    ) -> LossOutput<Self::Tensor>;

    // ---- augmentation --------------------------------------------------------------------

    /// Resamples each image of an NHWC batch through an affine map, bilinear, with Keras's
    /// default `fill_mode="reflect"`. `transforms[i]` = `[a0, a1, a2, b0, b1, b2]` maps an
    /// *output* pixel (x, y) to the *input* point (a0 x + a1 y + a2, b0 x + b1 y + b2), the
    /// convention of `tf.raw_ops.ImageProjectiveTransformV3`. `transforms.len() == g.batch`.
    fn affine_resample(
        &self,
        x: &Self::Tensor,
        g: &ImageGeom,
        transforms: &[[f32; 6]],
    ) -> Self::Tensor;

    // ---- optimisers ----------------------------------------------------------------------

    /// Keras RMSprop (no momentum, not centred):
    /// `v = rho v + (1 - rho) g²; p -= lr g / (sqrt(v) + eps)`.
    fn rmsprop_update(
        &self,
        param: &mut Self::Tensor,
        grad: &Self::Tensor,
        velocity: &mut Self::Tensor,
        lr: f32,
        rho: f32,
        eps: f32,
    );
    /// Keras Adam at step `t` (1-based):
    /// `m += (g - m)(1 - b1); v += (g² - v)(1 - b2);
    ///  p -= lr sqrt(1 - b2^t)/(1 - b1^t) · m / (sqrt(v) + eps)`.
    #[allow(clippy::too_many_arguments)]
    fn adam_update(
        &self,
        param: &mut Self::Tensor,
        grad: &Self::Tensor,
        m: &mut Self::Tensor,
        v: &mut Self::Tensor,
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        t: u32,
    );
}
