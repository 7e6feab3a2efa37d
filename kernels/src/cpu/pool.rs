//! Max and average pooling over NHWC images, forward and backward, one image per task.

use rayon::prelude::*;

use super::panel::widest;
use super::recycle;
use crate::geometry::Pool2dGeom;

/// In-bounds window range along one axis for output position `o`.
fn window(o: usize, stride: usize, pad: usize, k: usize, len: usize) -> (usize, usize) {
    let start = (o * stride) as isize - pad as isize;
    let lo = start.max(0) as usize;
    let hi = ((start + k as isize).max(0) as usize).min(len);
    (lo, hi.max(lo))
}

/// Calls `f(o, (y0, y1), (x0, x1))` for every output position of one image: `o` is its first
/// element's offset in the image's output, `y0..y1` and `x0..x1` the window's in-bounds rows
/// and columns.
#[inline(always)]
fn for_each_window(g: &Pool2dGeom, mut f: impl FnMut(usize, (usize, usize), (usize, usize))) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (pt, pl) = (g.pad_top(), g.pad_left());
    for oy in 0..oh {
        let rows = window(oy, g.stride_h, pt, g.pool_h, g.in_h);
        for ox in 0..ow {
            let cols = window(ox, g.stride_w, pl, g.pool_w, g.in_w);
            f((oy * ow + ox) * g.c, rows, cols);
        }
    }
}

/// One window position of max pooling: where `src` (flat indices `p..`) is strictly greater
/// than `best`, it replaces `best` and its index replaces `arg`. Written with bit masks instead
/// of branches or selects, which LLVM turned into per-lane branches; this form vectorises.
#[inline(always)]
fn select_max(best: &mut [f32], arg: &mut [u32], src: &[f32], p: u32) {
    for (((b, a), &v), i) in best.iter_mut().zip(arg.iter_mut()).zip(src).zip(p..) {
        let mask = 0u32.wrapping_sub(u32::from(v > *b));
        *b = f32::from_bits((b.to_bits() & !mask) | (v.to_bits() & mask));
        *a = (*a & !mask) | (i & mask);
    }
}

/// Max pooling with the flat input index of each maximum (first in window order on ties).
pub(crate) fn max_pool2d(x: &[f32], g: &Pool2dGeom) -> (Vec<f32>, Vec<u32>) {
    assert_eq!(x.len(), g.input_len(), "max_pool2d: input length");
    let (oh, ow, c) = (g.out_h(), g.out_w(), g.c);
    let img_in = g.in_h * g.in_w * c;
    let img_out = oh * ow * c;
    // Every output element is written below.
    let mut y = recycle::dirty(g.output_len());
    let mut idx = recycle::dirty_u32(g.output_len());
    if y.is_empty() {
        return (y, idx);
    }
    y.par_chunks_mut(img_out)
        .zip(idx.par_chunks_mut(img_out))
        .enumerate()
        .for_each(|(b, (yi, ii))| {
            widest(
                #[inline(always)]
                || max_pool_image(x, g, b * img_in, yi, ii),
            )
        });
    (y, idx)
}

/// [`max_pool2d`] of the image whose input starts at flat index `base`, into its outputs `yi`
/// and arg-max indices `ii`.
#[inline(always)]
fn max_pool_image(x: &[f32], g: &Pool2dGeom, base: usize, yi: &mut [f32], ii: &mut [u32]) {
    let c = g.c;
    for_each_window(g, |o, (y0, y1), (x0, x1)| {
        let yo = &mut yi[o..o + c];
        let io = &mut ii[o..o + c];
        if y0 == y1 || x0 == x1 {
            // An empty window cannot occur with Keras geometry (padding is always smaller
            // than the window); output 0 and point at the image's start.
            yo.fill(0.0);
            io.fill(base as u32);
            return;
        }
        // Start from the window's first element, then a strict `>` keeps the first maximum
        // on ties.
        let first = base + (y0 * g.in_w + x0) * c;
        yo.copy_from_slice(&x[first..first + c]);
        for (i, ch) in io.iter_mut().zip(first as u32..) {
            *i = ch;
        }
        for iy in y0..y1 {
            for ix in x0..x1 {
                let p = base + (iy * g.in_w + ix) * c;
                select_max(yo, io, &x[p..p + c], p as u32);
            }
        }
    });
}

/// Scatters `dy` to the arg-max positions, adding where windows overlap.
pub(crate) fn max_pool2d_backward(dy: &[f32], argmax: &[u32], g: &Pool2dGeom) -> Vec<f32> {
    assert_eq!(dy.len(), g.output_len(), "max_pool2d_backward: dy length");
    assert_eq!(
        argmax.len(),
        g.output_len(),
        "max_pool2d_backward: argmax length"
    );
    let img_in = g.in_h * g.in_w * g.c;
    let img_out = g.out_h() * g.out_w() * g.c;
    if img_in == 0 || img_out == 0 {
        return recycle::zeros(g.input_len());
    }
    // Every element is written below.
    let mut dx = recycle::dirty(g.input_len());
    // Windows that tile the input without overlap or padding (Keras's default pooling): each
    // input element belongs to at most one window, so one pass writes every element once
    // (the gradient at the window's arg-max, 0 elsewhere) instead of zeroing the whole
    // gradient and scattering into it.
    let tiled = g.stride_h == g.pool_h
        && g.stride_w == g.pool_w
        && g.pad_top() == 0
        && g.pad_left() == 0
        && g.out_h() * g.pool_h <= g.in_h
        && g.out_w() * g.pool_w <= g.in_w;
    dx.par_chunks_mut(img_in)
        .zip(dy.par_chunks(img_out).zip(argmax.par_chunks(img_out)))
        .enumerate()
        .for_each(|(b, (dxi, (dyi, ai)))| {
            let base = b * img_in;
            if tiled {
                widest(
                    #[inline(always)]
                    || scatter_tiled(dxi, dyi, ai, base, g),
                );
                return;
            }
            dxi.fill(0.0);
            for (&d, &i) in dyi.iter().zip(ai) {
                // Arg-max indices of image b always lie inside image b.
                dxi[i as usize - base] += d;
            }
        });
    dx
}

/// [`max_pool2d_backward`] of one image (input elements from flat index `base`) for windows
/// that tile the input: every element of `dxi` written once.
#[inline(always)]
fn scatter_tiled(dxi: &mut [f32], dyi: &[f32], ai: &[u32], base: usize, g: &Pool2dGeom) {
    let (oh, ow, c) = (g.out_h(), g.out_w(), g.c);
    let (ph, pw) = (g.pool_h, g.pool_w);
    for iy in 0..g.in_h {
        let oy = iy / ph;
        let row = &mut dxi[iy * g.in_w * c..(iy + 1) * g.in_w * c];
        if oy >= oh {
            row.fill(0.0); // below the last window
            continue;
        }
        for ix in 0..g.in_w {
            let ox = ix / pw;
            let d = &mut row[ix * c..(ix + 1) * c];
            if ox >= ow {
                d.fill(0.0); // right of the last window
                continue;
            }
            let o = (oy * ow + ox) * c;
            let here = (base + (iy * g.in_w + ix) * c) as u32;
            for (((v, &dyv), &a), ch) in d
                .iter_mut()
                .zip(&dyi[o..o + c])
                .zip(&ai[o..o + c])
                .zip(here..)
            {
                *v = if a == ch { dyv } else { 0.0 };
            }
        }
    }
}

/// Average pooling over the in-bounds positions of each window.
pub(crate) fn avg_pool2d(x: &[f32], g: &Pool2dGeom) -> Vec<f32> {
    assert_eq!(x.len(), g.input_len(), "avg_pool2d: input length");
    let (oh, ow, c) = (g.out_h(), g.out_w(), g.c);
    let img_in = g.in_h * g.in_w * c;
    let img_out = oh * ow * c;
    let mut y = recycle::dirty(g.output_len()); // each window zeroes its output first
    if y.is_empty() {
        return y;
    }
    y.par_chunks_mut(img_out).enumerate().for_each(|(b, yi)| {
        let xi = &x[b * img_in..(b + 1) * img_in];
        for_each_window(g, |o, (y0, y1), (x0, x1)| {
            let yo = &mut yi[o..o + c];
            yo.fill(0.0);
            for iy in y0..y1 {
                for ix in x0..x1 {
                    let p = (iy * g.in_w + ix) * c;
                    for (d, v) in yo.iter_mut().zip(&xi[p..p + c]) {
                        *d += v;
                    }
                }
            }
            let count = ((y1 - y0) * (x1 - x0)).max(1) as f32;
            for d in yo.iter_mut() {
                *d /= count;
            }
        });
    });
    y
}

/// Backward of [`avg_pool2d`]: each window spreads `dy / count` over its in-bounds positions.
pub(crate) fn avg_pool2d_backward(dy: &[f32], g: &Pool2dGeom) -> Vec<f32> {
    assert_eq!(dy.len(), g.output_len(), "avg_pool2d_backward: dy length");
    let (oh, ow, c) = (g.out_h(), g.out_w(), g.c);
    let img_in = g.in_h * g.in_w * c;
    let img_out = oh * ow * c;
    if img_in == 0 || img_out == 0 {
        return recycle::zeros(g.input_len());
    }
    let mut dx = recycle::dirty(g.input_len()); // each task zeroes its image first
    dx.par_chunks_mut(img_in).enumerate().for_each(|(b, dxi)| {
        dxi.fill(0.0);
        let dyi = &dy[b * img_out..(b + 1) * img_out];
        for_each_window(g, |o, (y0, y1), (x0, x1)| {
            let count = ((y1 - y0) * (x1 - x0)).max(1) as f32;
            let d = &dyi[o..o + c];
            for iy in y0..y1 {
                for ix in x0..x1 {
                    let p = (iy * g.in_w + ix) * c;
                    for (t, v) in dxi[p..p + c].iter_mut().zip(d) {
                        *t += v / count;
                    }
                }
            }
        });
    });
    dx
}
