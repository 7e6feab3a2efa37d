//! Elementwise kernels: fills, copies, activations, dropout masks and optimiser updates.
//!
//! Every kernel walks its buffer with a grid-stride loop (see [`super::launch::grid_1d`]).

use cubecl::prelude::*;

/// Writes `value` to every element.
#[cube(launch)]
pub(crate) fn fill<F: Float + CubeElement>(out: &mut Array<F>, value: F) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < out.len() {
        out[i] = value;
        i += stride;
    }
}

/// `out = x`.
#[cube(launch)]
pub(crate) fn copy<F: Float + CubeElement>(x: &Array<F>, out: &mut Array<F>) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < out.len() {
        out[i] = x[i];
        i += stride;
    }
}

/// `out = max(x, 0)`.
#[cube(launch)]
pub(crate) fn relu<F: Float + CubeElement>(x: &Array<F>, out: &mut Array<F>) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < out.len() {
        let v = x[i];
        out[i] = select(v > F::new(0.0), v, F::new(0.0));
        i += stride;
    }
}

/// `out = dy * (y > 0)`.
#[cube(launch)]
pub(crate) fn relu_backward<F: Float + CubeElement>(
    y: &Array<F>,
    dy: &Array<F>,
    out: &mut Array<F>,
) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < out.len() {
        out[i] = select(y[i] > F::new(0.0), dy[i], F::new(0.0));
        i += stride;
    }
}

/// `out = x * scale + offset`.
#[cube(launch)]
pub(crate) fn scale_shift<F: Float + CubeElement>(
    x: &Array<F>,
    out: &mut Array<F>,
    scale: F,
    offset: F,
) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < out.len() {
        out[i] = x[i] * scale + offset;
        i += stride;
    }
}

/// `out = a * b`.
#[cube(launch)]
pub(crate) fn mul<F: Float + CubeElement>(a: &Array<F>, b: &Array<F>, out: &mut Array<F>) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < out.len() {
        out[i] = a[i] * b[i];
        i += stride;
    }
}

/// `out = a + b`.
#[cube(launch)]
pub(crate) fn add<F: Float + CubeElement>(a: &Array<F>, b: &Array<F>, out: &mut Array<F>) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < out.len() {
        out[i] = a[i] + b[i];
        i += stride;
    }
}

/// The logistic function in the form that never overflows `exp`.
#[cube]
pub(crate) fn sigmoid1<F: Float + CubeElement>(x: F) -> F {
    // e = exp(-|x|) <= 1: 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0.
    let e = F::exp(-F::abs(x));
    select(
        x >= F::new(0.0),
        F::new(1.0) / (F::new(1.0) + e),
        e / (F::new(1.0) + e),
    )
}

/// `out = sigmoid(x)`.
#[cube(launch)]
pub(crate) fn sigmoid<F: Float + CubeElement>(x: &Array<F>, out: &mut Array<F>) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < out.len() {
        out[i] = sigmoid1::<F>(x[i]);
        i += stride;
    }
}

/// lowbias32, the integer hash of [`crate::dropout::mix32`] (u32, wrapping multiplication).
#[cube]
fn mix32(x: u32) -> u32 {
    let mut h = x;
    h = h ^ (h >> 16u32);
    h *= 0x7feb_352du32;
    h = h ^ (h >> 15u32);
    h *= 0x846c_a68bu32;
    h = h ^ (h >> 16u32);
    h
}

/// The inverted-dropout mask of [`crate::dropout`]: element `i` is `scale` when
/// `uniform(k1, k2, i) >= rate`, else 0.
#[cube(launch)]
pub(crate) fn dropout_mask<F: Float + CubeElement>(
    out: &mut Array<F>,
    k1: u32,
    k2: u32,
    rate: F,
    scale: F,
) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < out.len() {
        let h = mix32(mix32((i as u32) ^ k2) ^ k1);
        // (h >> 8) < 2^24 converts exactly; the product by 2^-24 is exact too.
        let u = F::cast_from(h >> 8u32) * F::new(1.0 / 16_777_216.0);
        out[i] = select(u >= rate, scale, F::new(0.0));
        i += stride;
    }
}

/// Keras RMSprop step, in place on `param` and `velocity`.
#[cube(launch)]
pub(crate) fn rmsprop<F: Float + CubeElement>(
    param: &mut Array<F>,
    grad: &Array<F>,
    velocity: &mut Array<F>,
    lr: F,
    rho: F,
    eps: F,
) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < param.len() {
        let g = grad[i];
        let v = rho * velocity[i] + (F::new(1.0) - rho) * g * g;
        velocity[i] = v;
        param[i] -= lr * g / (F::sqrt(v) + eps);
        i += stride;
    }
}

/// Keras Adam step with the bias-corrected rate `lr_t`, in place on `param`, `m` and `v`.
#[cube(launch)]
pub(crate) fn adam<F: Float + CubeElement>(
    param: &mut Array<F>,
    grad: &Array<F>,
    m: &mut Array<F>,
    v: &mut Array<F>,
    lr_t: F,
    beta1: F,
    beta2: F,
    eps: F,
) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < param.len() {
        let g = grad[i];
        let mi = m[i] + (g - m[i]) * (F::new(1.0) - beta1);
        let vi = v[i] + (g * g - v[i]) * (F::new(1.0) - beta2);
        m[i] = mi;
        v[i] = vi;
        param[i] -= lr_t * mi / (F::sqrt(vi) + eps);
        i += stride;
    }
}
