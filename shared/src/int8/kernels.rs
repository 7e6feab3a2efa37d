//! The int8 kernels over run-time shapes: convolution, dense, average pooling (max pooling,
//! the same for every number type, is [`crate::window::max_pool`]). The
//! const-generic layers ([`crate::layers`]) call them with their compile-time geometry (the
//! portable path; Cortex-M4 convolutions have their own in `arm_dsp`), and the blob
//! interpreter ([`crate::int8::interpreter`]) with the geometry it validated from a blob.
//!
//! Slice lengths are the caller's contract (checked by the tensor views or the interpreter's
//! validation): `x` is `h × w × c`, `out` is `oh × ow × co`, a convolution kernel is OHWI
//! `co × k × k × c` bytes, a dense kernel `[out][in]`.

use crate::int8::dot::{dot_offset, dot_offset_x4};
use crate::int8::params::ChannelRequant;
use crate::window::Window2d;

/// Largest filter (`k × k × c` values) whose patch [`conv2d`] gathers into a stack buffer.
pub const GATHER_PATCH: usize = 1024;

/// TFLite's int8 convolution: per output channel `o`,
/// `acc = bias[o] + Σ (x - input_zp) * w[o]`, then
/// `out = clamp(MultiplyByQuantizedMultiplier(acc, m[o], shift[o]) + output_zp)`.
/// Padded positions contribute nothing (as if padded with the input zero point).
///
/// On the Cortex-M4 (`arm-dsp`), filters of up to 576 values take `arm_dsp`'s four-pixel SMLAD
/// kernel. Elsewhere, filters of up to [`GATHER_PATCH`] values: each output pixel's patch is gathered once into a
/// contiguous buffer (padded positions hold the input zero point, so they add exactly 0), then
/// one dot product per output channel covers the whole filter, four channels at a time. Larger
/// filters: for each kernel row the in-bounds input span `[x0, x1) × c` is contiguous both in
/// the input (HWC) and in the OHWI kernel, so one dot product covers it.
#[inline(always)]
pub fn conv2d(
    g: &Window2d,
    co: usize,
    kernel: &[u8],
    rq: &ChannelRequant<'_>,
    x: &[i8],
    out: &mut [i8],
) {
    #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
    if g.k * g.k * g.c <= crate::arm_dsp::MAX_PATCH {
        return crate::arm_dsp::conv2d_quad_dyn(g, co, kernel, rq, x, out);
    }
    if g.k * g.k * g.c <= GATHER_PATCH {
        conv2d_gathered(g, co, kernel, rq, x, out)
    } else {
        conv2d_rows(g, co, kernel, rq, x, out)
    }
}

/// [`conv2d`] through a gathered patch.
#[inline(always)]
fn conv2d_gathered(
    g: &Window2d,
    co: usize,
    kernel: &[u8],
    rq: &ChannelRequant<'_>,
    x: &[i8],
    out: &mut [i8],
) {
    let (k, ci, s) = (g.k, g.c, g.stride);
    let offset = rq.input_offset();
    // The input zero point: `zero + offset == 0`, so padded positions add nothing.
    let zero = (-offset).clamp(-128, 127) as i8;
    let filter_len = k * k * ci;
    let mut buffer = [0i8; GATHER_PATCH];
    let patch = &mut buffer[..filter_len];
    let blocked = co - co % 4;
    for oy in 0..g.oh {
        let (y0, y1) = g.rows(oy);
        for ox in 0..g.ow {
            let (x0, x1) = g.cols(ox);
            let kx0 = x0 + g.pad_left - ox * s;
            let span = (x1 - x0) * ci;
            if y1 - y0 < k || span < k * ci {
                patch.fill(zero);
            }
            for iy in y0..y1 {
                let ky = iy + g.pad_top - oy * s;
                let start = (ky * k + kx0) * ci;
                patch[start..start + span].copy_from_slice(&x[(iy * g.w + x0) * ci..][..span]);
            }
            let o = &mut out[(oy * g.ow + ox) * co..(oy * g.ow + ox + 1) * co];
            for c in (0..blocked).step_by(4) {
                let filter = |j: usize| &kernel[(c + j) * filter_len..(c + j + 1) * filter_len];
                let d = dot_offset_x4(patch, [filter(0), filter(1), filter(2), filter(3)], offset);
                for (j, d) in d.into_iter().enumerate() {
                    o[c + j] = rq.apply(c + j, rq.bias(c + j).wrapping_add(d));
                }
            }
            for (c, ov) in o.iter_mut().enumerate().skip(blocked) {
                let w = &kernel[c * filter_len..(c + 1) * filter_len];
                *ov = rq.apply(c, rq.bias(c).wrapping_add(dot_offset(patch, w, offset)));
            }
        }
    }
}

/// [`conv2d`] row span by row span, for filters too large to gather.
#[inline(always)]
fn conv2d_rows(
    g: &Window2d,
    co: usize,
    kernel: &[u8],
    rq: &ChannelRequant<'_>,
    x: &[i8],
    out: &mut [i8],
) {
    let (k, ci, s) = (g.k, g.c, g.stride);
    let offset = rq.input_offset();
    let filter_len = k * k * ci;
    for oy in 0..g.oh {
        let (y0, y1) = g.rows(oy);
        for ox in 0..g.ow {
            let (x0, x1) = g.cols(ox);
            let kx0 = x0 + g.pad_left - ox * s;
            let span = (x1 - x0) * ci;
            let o = &mut out[(oy * g.ow + ox) * co..(oy * g.ow + ox + 1) * co];
            let blocked = co - co % 4;
            for c in (0..blocked).step_by(4) {
                let mut acc = [rq.bias(c), rq.bias(c + 1), rq.bias(c + 2), rq.bias(c + 3)];
                let filter = |j: usize| &kernel[(c + j) * filter_len..(c + j + 1) * filter_len];
                let wc = [filter(0), filter(1), filter(2), filter(3)];
                for iy in y0..y1 {
                    let ky = iy + g.pad_top - oy * s;
                    let xs = &x[(iy * g.w + x0) * ci..][..span];
                    let start = (ky * k + kx0) * ci;
                    let d = dot_offset_x4(xs, wc.map(|w| &w[start..start + span]), offset);
                    for (a, d) in acc.iter_mut().zip(d) {
                        *a = a.wrapping_add(d);
                    }
                }
                for (j, a) in acc.into_iter().enumerate() {
                    o[c + j] = rq.apply(c + j, a);
                }
            }
            for (c, ov) in o.iter_mut().enumerate().skip(blocked) {
                let wc = &kernel[c * filter_len..(c + 1) * filter_len];
                let mut acc = rq.bias(c);
                for iy in y0..y1 {
                    let ky = iy + g.pad_top - oy * s;
                    let xs = &x[(iy * g.w + x0) * ci..][..span];
                    let ws = &wc[(ky * k + kx0) * ci..][..span];
                    acc = acc.wrapping_add(dot_offset(xs, ws, offset));
                }
                *ov = rq.apply(c, acc);
            }
        }
    }
}

/// TFLite's int8 fully connected layer: `out[o] = requant(bias[o] + Σ (x - zp) * w[o])`.
#[inline(always)]
pub fn dense(inputs: usize, kernel: &[u8], rq: &ChannelRequant<'_>, x: &[i8], out: &mut [i8]) {
    for (o, ov) in out.iter_mut().enumerate() {
        let w = &kernel[o * inputs..(o + 1) * inputs];
        let acc = rq.bias(o).wrapping_add(dot_offset(x, w, rq.input_offset()));
        *ov = rq.apply(o, acc);
    }
}

/// TFLite's int8 average pooling (same quantization in and out): the sum of the in-bounds
/// elements of each window divided by their count, rounded half away from zero.
#[inline(always)]
pub fn avg_pool(g: &Window2d, x: &[i8], out: &mut [i8]) {
    let c = g.c;
    for oy in 0..g.oh {
        let (y0, y1) = g.rows(oy);
        for ox in 0..g.ow {
            let (x0, x1) = g.cols(ox);
            // At least one element: a same-padded window always overlaps the input.
            let count = (((y1 - y0) * (x1 - x0)) as i32).max(1);
            let o = &mut out[(oy * g.ow + ox) * c..(oy * g.ow + ox + 1) * c];
            for (ch, ov) in o.iter_mut().enumerate() {
                let mut a = 0i32;
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        a = a.wrapping_add(i32::from(x[(iy * g.w + ix) * c + ch]));
                    }
                }
                let avg = if a > 0 {
                    (a + count / 2) / count
                } else {
                    (a - count / 2) / count
                };
                *ov = avg.clamp(-128, 127) as i8;
            }
        }
    }
}
