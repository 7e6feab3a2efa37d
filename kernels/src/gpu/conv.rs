//! Convolution data movement: `im2col` (NHWC input to `[b·oh·ow, kh·kw·c]` patch rows, the A
//! operand of the convolution GEMM, whose B operand is the HWIO kernel viewed as
//! `[kh·kw·c, out_c]`) and its adjoint `col2im`, written as a gather so that it needs no atomics.

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
/// padding.
#[cube(launch)]
pub(crate) fn im2col<F: Float + CubeElement>(x: &Array<F>, cols: &mut Array<F>, d: ConvDims) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let kcols = d.kh * d.kw * d.in_c;
    let mut idx = ABSOLUTE_POS;
    while idx < cols.len() {
        let i = idx as u32;
        let row = i / kcols;
        let col = i % kcols;
        let c = col % d.in_c;
        let kx = (col / d.in_c) % d.kw;
        let ky = col / (d.in_c * d.kw);
        let ox = row % d.out_w;
        let oy = (row / d.out_w) % d.out_h;
        let b = row / (d.out_w * d.out_h);
        // Unsigned arithmetic: coordinates in the top/left padding wrap to huge values and
        // fail the `< in_h` / `< in_w` tests.
        let iy = oy * d.stride_h + ky - d.pad_top;
        let ix = ox * d.stride_w + kx - d.pad_left;
        let mut v = F::new(0.0);
        if iy < d.in_h && ix < d.in_w {
            v = x[(((b * d.in_h + iy) * d.in_w + ix) * d.in_c + c) as usize];
        }
        cols[idx] = v;
        idx += stride;
    }
}

/// The adjoint of [`im2col`]: `dx[b, iy, ix, c] = Σ dcols[(b, oy, ox), (ky, kx, c)]` over the
/// window positions that read `(iy, ix)`.
#[cube(launch)]
pub(crate) fn col2im<F: Float + CubeElement>(dcols: &Array<F>, dx: &mut Array<F>, d: ConvDims) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let kcols = d.kh * d.kw * d.in_c;
    let mut idx = ABSOLUTE_POS;
    while idx < dx.len() {
        let i = idx as u32;
        let c = i % d.in_c;
        let ix = (i / d.in_c) % d.in_w;
        let iy = (i / (d.in_c * d.in_w)) % d.in_h;
        let b = i / (d.in_c * d.in_w * d.in_h);
        let mut sum = F::new(0.0);
        for ky in 0..d.kh {
            // oy · sh = iy + pt - ky must be a non-negative multiple of sh below out_h · sh.
            let ty = iy + d.pad_top;
            if ty >= ky {
                let ty = ty - ky;
                let oy = ty / d.stride_h;
                if ty % d.stride_h == 0 && oy < d.out_h {
                    for kx in 0..d.kw {
                        let tx = ix + d.pad_left;
                        if tx >= kx {
                            let tx = tx - kx;
                            let ox = tx / d.stride_w;
                            if tx % d.stride_w == 0 && ox < d.out_w {
                                let row = (b * d.out_h + oy) * d.out_w + ox;
                                let col = (ky * d.kw + kx) * d.in_c + c;
                                sum += dcols[(row * kcols + col) as usize];
                            }
                        }
                    }
                }
            }
        }
        dx[idx] = sum;
        idx += stride;
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
