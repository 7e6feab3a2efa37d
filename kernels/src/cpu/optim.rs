//! Optimiser updates (Keras RMSprop and Adam), in place, in parallel blocks.

use rayon::prelude::*;

use super::elementwise::BLOCK;

/// Keras RMSprop: `v = rho v + (1 - rho) g²; p -= lr g / (sqrt(v) + eps)`.
pub(crate) fn rmsprop_update(p: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, rho: f32, eps: f32) {
    assert_eq!(p.len(), g.len(), "rmsprop_update: gradient length");
    assert_eq!(p.len(), v.len(), "rmsprop_update: velocity length");
    let kernel = |p: &mut [f32], g: &[f32], v: &mut [f32]| {
        for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
            *v = rho * *v + (1.0 - rho) * g * g;
            *p -= lr * g / (v.sqrt() + eps);
        }
    };
    if p.len() <= BLOCK {
        kernel(p, g, v);
    } else {
        p.par_chunks_mut(BLOCK)
            .zip(g.par_chunks(BLOCK).zip(v.par_chunks_mut(BLOCK)))
            .for_each(|(p, (g, v))| kernel(p, g, v));
    }
}

/// Keras Adam at 1-based step `t`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn adam_update(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    t: u32,
) {
    assert_eq!(p.len(), g.len(), "adam_update: gradient length");
    assert_eq!(p.len(), m.len(), "adam_update: first-moment length");
    assert_eq!(p.len(), v.len(), "adam_update: second-moment length");
    let t = t.clamp(1, i32::MAX as u32) as i32;
    let alpha = lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t));
    let kernel = |p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m += (g - *m) * (1.0 - beta1);
            *v += (g * g - *v) * (1.0 - beta2);
            *p -= alpha * *m / (v.sqrt() + eps);
        }
    };
    if p.len() <= BLOCK {
        kernel(p, g, m, v);
    } else {
        p.par_chunks_mut(BLOCK)
            .zip(g.par_chunks(BLOCK))
            .zip(m.par_chunks_mut(BLOCK).zip(v.par_chunks_mut(BLOCK)))
            .for_each(|((p, g), (m, v))| kernel(p, g, m, v));
    }
}
