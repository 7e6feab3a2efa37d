//! Max and average pooling over NHWC batches, forward and backward. The backward kernels gather
//! (one invocation per input element, looping over the windows that contain it), so
//! overlapping windows need no atomics.

use cubecl::prelude::*;

/// Pooling geometry as kernel scalars (see [`crate::Pool2dGeom`]).
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub(crate) struct PoolDims {
    pub in_h: u32,
    pub in_w: u32,
    pub c: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub pool_h: u32,
    pub pool_w: u32,
    pub stride_h: u32,
    pub stride_w: u32,
    pub pad_top: u32,
    pub pad_left: u32,
}

/// Max over the in-bounds window positions; `arg` gets the flat input index of the first
/// maximum in window order.
#[cube(launch)]
pub(crate) fn max_pool<F: Float + CubeElement>(
    x: &Array<F>,
    y: &mut Array<F>,
    arg: &mut Array<u32>,
    d: PoolDims,
) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut idx = ABSOLUTE_POS;
    while idx < y.len() {
        let o = idx as u32;
        let c = o % d.c;
        let ox = (o / d.c) % d.out_w;
        let oy = (o / (d.c * d.out_w)) % d.out_h;
        let b = o / (d.c * d.out_w * d.out_h);
        let mut best = F::new(0.0);
        let mut best_i = 0u32;
        let mut found = false;
        for py in 0..d.pool_h {
            // Unsigned: rows in the top padding wrap and fail `< in_h`.
            let iy = oy * d.stride_h + py - d.pad_top;
            if iy < d.in_h {
                for px in 0..d.pool_w {
                    let ix = ox * d.stride_w + px - d.pad_left;
                    if ix < d.in_w {
                        let i = ((b * d.in_h + iy) * d.in_w + ix) * d.c + c;
                        let v = x[i as usize];
                        if !found || v > best {
                            best = v;
                            best_i = i;
                            found = true;
                        }
                    }
                }
            }
        }
        y[idx] = best;
        arg[idx] = best_i;
        idx += stride;
    }
}

/// `dx[i] = Σ dy[o]` over the outputs `o` whose arg-max is `i`.
#[cube(launch)]
pub(crate) fn max_pool_backward<F: Float + CubeElement>(
    dy: &Array<F>,
    arg: &Array<u32>,
    dx: &mut Array<F>,
    d: PoolDims,
) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut idx = ABSOLUTE_POS;
    while idx < dx.len() {
        let i = idx as u32;
        let c = i % d.c;
        let ix = (i / d.c) % d.in_w;
        let iy = (i / (d.c * d.in_w)) % d.in_h;
        let b = i / (d.c * d.in_w * d.in_h);
        let mut sum = F::new(0.0);
        // Windows containing iy: oy·sh - pt <= iy < oy·sh - pt + ph.
        let ty = iy + d.pad_top;
        let tx = ix + d.pad_left;
        let oy_lo = select(
            ty + 1 > d.pool_h,
            (ty + 1 - d.pool_h + d.stride_h - 1) / d.stride_h,
            0u32,
        );
        let oy_hi = select(ty / d.stride_h + 1 < d.out_h, ty / d.stride_h + 1, d.out_h);
        let ox_lo = select(
            tx + 1 > d.pool_w,
            (tx + 1 - d.pool_w + d.stride_w - 1) / d.stride_w,
            0u32,
        );
        let ox_hi = select(tx / d.stride_w + 1 < d.out_w, tx / d.stride_w + 1, d.out_w);
        for oy in oy_lo..oy_hi {
            for ox in ox_lo..ox_hi {
                let o = ((b * d.out_h + oy) * d.out_w + ox) * d.c + c;
                if arg[o as usize] == i {
                    sum += dy[o as usize];
                }
            }
        }
        dx[idx] = sum;
        idx += stride;
    }
}

/// Number of in-bounds positions of the window of output `(oy, ox)`.
#[cube]
fn window_count(oy: u32, ox: u32, d: PoolDims) -> u32 {
    let y0 = oy * d.stride_h;
    let x0 = ox * d.stride_w;
    // Window rows [y0 - pt, y0 - pt + ph) clipped to [0, in_h), in shifted coordinates.
    let ylo = select(y0 > d.pad_top, y0, d.pad_top);
    let yhi = select(
        y0 + d.pool_h < d.in_h + d.pad_top,
        y0 + d.pool_h,
        d.in_h + d.pad_top,
    );
    let xlo = select(x0 > d.pad_left, x0, d.pad_left);
    let xhi = select(
        x0 + d.pool_w < d.in_w + d.pad_left,
        x0 + d.pool_w,
        d.in_w + d.pad_left,
    );
    let h = select(yhi > ylo, yhi - ylo, 0u32);
    let w = select(xhi > xlo, xhi - xlo, 0u32);
    h * w
}

/// Mean over the in-bounds window positions.
#[cube(launch)]
pub(crate) fn avg_pool<F: Float + CubeElement>(x: &Array<F>, y: &mut Array<F>, d: PoolDims) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut idx = ABSOLUTE_POS;
    while idx < y.len() {
        let o = idx as u32;
        let c = o % d.c;
        let ox = (o / d.c) % d.out_w;
        let oy = (o / (d.c * d.out_w)) % d.out_h;
        let b = o / (d.c * d.out_w * d.out_h);
        let mut sum = F::new(0.0);
        for py in 0..d.pool_h {
            let iy = oy * d.stride_h + py - d.pad_top;
            if iy < d.in_h {
                for px in 0..d.pool_w {
                    let ix = ox * d.stride_w + px - d.pad_left;
                    if ix < d.in_w {
                        sum += x[(((b * d.in_h + iy) * d.in_w + ix) * d.c + c) as usize];
                    }
                }
            }
        }
        let count = window_count(oy, ox, d);
        y[idx] = select(count > 0u32, sum / F::cast_from(count), F::new(0.0));
        idx += stride;
    }
}

/// `dx[i] = Σ dy[o] / count(o)` over the windows `o` containing `i`.
#[cube(launch)]
pub(crate) fn avg_pool_backward<F: Float + CubeElement>(
    dy: &Array<F>,
    dx: &mut Array<F>,
    d: PoolDims,
) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut idx = ABSOLUTE_POS;
    while idx < dx.len() {
        let i = idx as u32;
        let c = i % d.c;
        let ix = (i / d.c) % d.in_w;
        let iy = (i / (d.c * d.in_w)) % d.in_h;
        let b = i / (d.c * d.in_w * d.in_h);
        let mut sum = F::new(0.0);
        let ty = iy + d.pad_top;
        let tx = ix + d.pad_left;
        let oy_lo = select(
            ty + 1 > d.pool_h,
            (ty + 1 - d.pool_h + d.stride_h - 1) / d.stride_h,
            0u32,
        );
        let oy_hi = select(ty / d.stride_h + 1 < d.out_h, ty / d.stride_h + 1, d.out_h);
        let ox_lo = select(
            tx + 1 > d.pool_w,
            (tx + 1 - d.pool_w + d.stride_w - 1) / d.stride_w,
            0u32,
        );
        let ox_hi = select(tx / d.stride_w + 1 < d.out_w, tx / d.stride_w + 1, d.out_w);
        for oy in oy_lo..oy_hi {
            for ox in ox_lo..ox_hi {
                let o = ((b * d.out_h + oy) * d.out_w + ox) * d.c + c;
                let count = window_count(oy, ox, d);
                sum += dy[o as usize] / F::cast_from(count);
            }
        }
        dx[idx] = sum;
        idx += stride;
    }
}
