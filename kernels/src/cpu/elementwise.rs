//! Element-wise ops, split into parallel blocks with straight, vectorisable inner loops.

use rayon::prelude::*;

use super::recycle;
use crate::dropout::{dropout_keys, dropout_scale, uniform_from_keys};

/// Elements per parallel block. Tensors of at most one block run on the calling thread: a
/// hand-off to the pool and back costs more than the work (see [`super::SMALL_WORK`]).
pub(crate) const BLOCK: usize = super::SMALL_WORK;

/// `out[i] = f(a[i])`.
pub(crate) fn map(a: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = recycle::dirty(a.len()); // every element written below
    let kernel = |o: &mut [f32], a: &[f32]| {
        for (o, &a) in o.iter_mut().zip(a) {
            *o = f(a);
        }
    };
    if a.len() <= BLOCK {
        kernel(&mut out, a);
    } else {
        out.par_chunks_mut(BLOCK)
            .zip(a.par_chunks(BLOCK))
            .for_each(|(o, a)| kernel(o, a));
    }
    out
}

/// `a[i] = f(a[i])`, in place.
pub(crate) fn update(a: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    let kernel = |a: &mut [f32]| {
        for v in a {
            *v = f(*v);
        }
    };
    if a.len() <= BLOCK {
        kernel(a);
    } else {
        a.par_chunks_mut(BLOCK).for_each(kernel);
    }
}

/// `a[i] = f(a[i], b[i])`, in place.
pub(crate) fn update_zip(a: &mut [f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    assert_eq!(a.len(), b.len(), "element-wise op: lengths differ");
    let kernel = |a: &mut [f32], b: &[f32]| {
        for (v, &w) in a.iter_mut().zip(b) {
            *v = f(*v, w);
        }
    };
    if a.len() <= BLOCK {
        kernel(a, b);
    } else {
        a.par_chunks_mut(BLOCK)
            .zip(b.par_chunks(BLOCK))
            .for_each(|(a, b)| kernel(a, b));
    }
}

/// `out[i] = f(a[i], b[i])`.
pub(crate) fn zip_map(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "element-wise op: lengths differ");
    let mut out = recycle::dirty(a.len()); // every element written below
    let kernel = |o: &mut [f32], a: &[f32], b: &[f32]| {
        for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
            *o = f(a, b);
        }
    };
    if a.len() <= BLOCK {
        kernel(&mut out, a, b);
    } else {
        out.par_chunks_mut(BLOCK)
            .zip(a.par_chunks(BLOCK).zip(b.par_chunks(BLOCK)))
            .for_each(|(o, (a, b))| kernel(o, a, b));
    }
    out
}

/// max(x, 0).
pub(crate) fn relu(x: &[f32]) -> Vec<f32> {
    map(x, |v| v.max(0.0))
}

/// `d` where the ReLU output `y` is positive, else 0: a bit mask rather than a select, so
/// that loops over it vectorise (see pool::select_max).
#[inline(always)]
pub(crate) fn relu_grad(y: f32, d: f32) -> f32 {
    f32::from_bits(d.to_bits() & 0u32.wrapping_sub(u32::from(y > 0.0)))
}

/// `dy * (y > 0)`.
pub(crate) fn relu_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    zip_map(y, dy, relu_grad)
}

/// Numerically stable logistic sigmoid.
#[inline]
pub(crate) fn sigmoid1(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The inverted-dropout mask of [`crate::dropout`].
pub(crate) fn dropout_mask(len: usize, rate: f32, seed: u64) -> Vec<f32> {
    assert!(
        len <= u32::MAX as usize + 1,
        "dropout_mask: at most 2^32 elements"
    );
    let (k1, k2) = dropout_keys(seed);
    let scale = dropout_scale(rate);
    let mut out = recycle::dirty(len); // every element written below
    let kernel = |ci: usize, o: &mut [f32]| {
        let i0 = ci * BLOCK;
        for (j, o) in o.iter_mut().enumerate() {
            let u = uniform_from_keys(k1, k2, (i0 + j) as u32);
            *o = if u >= rate { scale } else { 0.0 };
        }
    };
    if len <= BLOCK {
        kernel(0, &mut out);
    } else {
        out.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(ci, o)| kernel(ci, o));
    }
    out
}

/// Sums `dy` viewed as `[rows, channels]` over the rows.
pub(crate) fn bias_grad(dy: &[f32], channels: usize) -> Vec<f32> {
    if channels == 0 {
        return Vec::new();
    }
    assert_eq!(
        dy.len() % channels,
        0,
        "bias_grad: length not a multiple of channels"
    );
    let rows_per_block = (BLOCK / channels).max(1);
    let kernel = |mut acc: Vec<f32>, block: &[f32]| {
        for row in block.chunks_exact(channels) {
            for (a, v) in acc.iter_mut().zip(row) {
                *a += v;
            }
        }
        acc
    };
    if dy.len() <= BLOCK {
        return kernel(vec![0.0f32; channels], dy);
    }
    dy.par_chunks(rows_per_block * channels)
        .fold(|| vec![0.0f32; channels], kernel)
        .reduce(|| vec![0.0f32; channels], super::recycle::add_into)
}
