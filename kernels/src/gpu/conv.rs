//! Convolution data movement: `im2col` (NHWC input to `[b·oh·ow, kh·kw·c]` patch rows, the A
//! operand of the convolution GEMM, whose B operand is the HWIO kernel viewed as
//! `[kh·kw·c, out_c]`) and its adjoint `col2im`, written as a gather so that it needs no atomics.

// Kernel code: CubeCL's frontend translates `/` and `%` but not `div_ceil` or
// `is_multiple_of`.
#![allow(clippy::manual_div_ceil, clippy::manual_is_multiple_of)]

use cubecl::prelude::*;

/// Convolution geometry as kernel scalars (see [`crate::Conv2dGeom`]).
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub(crate) struct ConvDims {
    pub in_h: u32,
    pub in_w: u32,
    pub in_c: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub kh: u32,
    pub kw: u32,
    pub stride_h: u32,
    pub stride_w: u32,
    pub pad_top: u32,
    pub pad_left: u32,
}

/// `cols[(b, oy, ox), (ky, kx, c)] = x[b, oy·sh + ky - pt, ox·sw + kx - pl, c]`, or 0 in the
/// padding. One invocation per patch row: the index decomposition (integer division, slow on
/// SIMD CPUs) is paid once per row, not per element.
#[cube(launch)]
pub(crate) fn im2col<F: Float + CubeElement>(
    x: &Array<F>,
    cols: &mut Array<F>,
    d: ConvDims,
    rows: u32,
) {
    let stride = (CUBE_COUNT * (CUBE_DIM as usize)) as u32;
    let kcols = d.kh * d.kw * d.in_c;
    let mut row = ABSOLUTE_POS as u32;
    while row < rows {
        let ox = row % d.out_w;
        let t = row / d.out_w;
        let oy = t % d.out_h;
        let b = t / d.out_h;
        let mut o = row * kcols;
        for ky in 0..d.kh {
            // Unsigned arithmetic: coordinates in the top/left padding wrap to huge values and
            // fail the `< in_h` / `< in_w` tests.
            let iy = oy * d.stride_h + ky - d.pad_top;
            for kx in 0..d.kw {
                let ix = ox * d.stride_w + kx - d.pad_left;
                let inside = iy < d.in_h && ix < d.in_w;
                let base = ((b * d.in_h + iy) * d.in_w + ix) * d.in_c;
                for c in 0..d.in_c {
                    let mut v = F::new(0.0);
                    if inside {
                        v = x[(base + c) as usize];
                    }
                    cols[o as usize] = v;
                    o += 1;
                }
            }
        }
        row += stride;
    }
}

/// The adjoint of [`im2col`]: `dx[b, iy, ix, c] = Σ dcols[(b, oy, ox), (ky, kx, c)]` over the
/// window positions that read `(iy, ix)`. One invocation per input pixel, looping over its
/// channels.
#[cube(launch)]
pub(crate) fn col2im<F: Float + CubeElement>(
    dcols: &Array<F>,
    dx: &mut Array<F>,
    d: ConvDims,
    pixels: u32,
) {
    let stride = (CUBE_COUNT * (CUBE_DIM as usize)) as u32;
    let kcols = d.kh * d.kw * d.in_c;
    let mut pix = ABSOLUTE_POS as u32;
    while pix < pixels {
        let ix = pix % d.in_w;
        let t = pix / d.in_w;
        let iy = t % d.in_h;
        let b = t / d.in_h;
        let ty = iy + d.pad_top;
        let tx = ix + d.pad_left;
        for c in 0..d.in_c {
            let mut sum = F::new(0.0);
            for ky in 0..d.kh {
                // oy · sh = iy + pt - ky must be a non-negative multiple of sh below out_h · sh.
                if ty >= ky {
                    let oy = (ty - ky) / d.stride_h;
                    if (ty - ky) % d.stride_h == 0 && oy < d.out_h {
                        for kx in 0..d.kw {
                            if tx >= kx {
                                let ox = (tx - kx) / d.stride_w;
                                if (tx - kx) % d.stride_w == 0 && ox < d.out_w {
                                    let row = (b * d.out_h + oy) * d.out_w + ox;
                                    let col = (ky * d.kw + kx) * d.in_c + c;
                                    sum += dcols[(row * kcols + col) as usize];
                                }
                            }
                        }
                    }
                }
            }
            dx[(pix * d.in_c + c) as usize] = sum;
        }
        pix += stride;
    }
}

/// Partial column sums of a row-major `[rows, cols]` matrix: invocation `(col, chunk)` sums
/// rows `chunk · rows_per_chunk ..` of column `col` into `partial[chunk · cols + col]`.
#[cube(launch)]
pub(crate) fn column_sum_partial<F: Float + CubeElement>(
    x: &Array<F>,
    partial: &mut Array<F>,
    rows: u32,
    cols: u32,
    rows_per_chunk: u32,
) {
    let col = CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X;
    let chunk = CUBE_POS_Y;
    if col >= cols {
        terminate!();
    }
    let start = chunk * rows_per_chunk;
    let end = select(start + rows_per_chunk < rows, start + rows_per_chunk, rows);
    let mut sum = F::new(0.0);
    for r in start..end {
        sum += x[(r * cols + col) as usize];
    }
    partial[(chunk * cols + col) as usize] = sum;
}
