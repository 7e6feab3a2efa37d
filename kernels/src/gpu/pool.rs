//! Max and average pooling over NHWC batches, forward and backward. The backward kernels gather
//! (one invocation per input element, looping over the windows that contain it), so
//! overlapping windows need no atomics.

// Kernel code: CubeCL's frontend translates `/` and `%` but not `div_ceil` or
// `is_multiple_of`.
#![allow(clippy::manual_div_ceil, clippy::manual_is_multiple_of)]

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
/// maximum in window order. One invocation per output pixel, looping over the channels (the
/// index decomposition, integer division, is paid once per pixel).
#[cube(launch)]
pub(crate) fn max_pool<F: Float + CubeElement>(
    x: &Array<F>,
    y: &mut Array<F>,
    arg: &mut Array<u32>,
    d: PoolDims,
    pixels: u32,
) {
    let stride = (CUBE_COUNT * (CUBE_DIM as usize)) as u32;
    let mut pix = ABSOLUTE_POS as u32;
    while pix < pixels {
        let ox = pix % d.out_w;
        let t = pix / d.out_w;
        let oy = t % d.out_h;
        let b = t / d.out_h;
        for c in 0..d.c {
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
            y[(pix * d.c + c) as usize] = best;
            arg[(pix * d.c + c) as usize] = best_i;
        }
        pix += stride;
    }
}

/// `dx[i] = Σ dy[o]` over the outputs `o` whose arg-max is `i`. One invocation per input pixel.
#[cube(launch)]
pub(crate) fn max_pool_backward<F: Float + CubeElement>(
    dy: &Array<F>,
    arg: &Array<u32>,
    dx: &mut Array<F>,
    d: PoolDims,
    pixels: u32,
) {
    let stride = (CUBE_COUNT * (CUBE_DIM as usize)) as u32;
    let mut pix = ABSOLUTE_POS as u32;
    while pix < pixels {
        let ix = pix % d.in_w;
        let t = pix / d.in_w;
        let iy = t % d.in_h;
        let b = t / d.in_h;
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
        for c in 0..d.c {
            let i = pix * d.c + c;
            let mut sum = F::new(0.0);
            for oy in oy_lo..oy_hi {
                for ox in ox_lo..ox_hi {
                    let o = ((b * d.out_h + oy) * d.out_w + ox) * d.c + c;
                    if arg[o as usize] == i {
                        sum += dy[o as usize];
                    }
                }
            }
            dx[i as usize] = sum;
        }
        pix += stride;
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

/// Mean over the in-bounds window positions. One invocation per output pixel.
#[cube(launch)]
pub(crate) fn avg_pool<F: Float + CubeElement>(
    x: &Array<F>,
    y: &mut Array<F>,
    d: PoolDims,
    pixels: u32,
) {
    let stride = (CUBE_COUNT * (CUBE_DIM as usize)) as u32;
    let mut pix = ABSOLUTE_POS as u32;
    while pix < pixels {
        let ox = pix % d.out_w;
        let t = pix / d.out_w;
        let oy = t % d.out_h;
        let b = t / d.out_h;
        let count = window_count(oy, ox, d);
        for c in 0..d.c {
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
            y[(pix * d.c + c) as usize] =
                select(count > 0u32, sum / F::cast_from(count), F::new(0.0));
        }
        pix += stride;
    }
}

/// `dx[i] = Σ dy[o] / count(o)` over the windows `o` containing `i`. One invocation per input
/// pixel.
#[cube(launch)]
pub(crate) fn avg_pool_backward<F: Float + CubeElement>(
    dy: &Array<F>,
    dx: &mut Array<F>,
    d: PoolDims,
    pixels: u32,
) {
    let stride = (CUBE_COUNT * (CUBE_DIM as usize)) as u32;
    let mut pix = ABSOLUTE_POS as u32;
    while pix < pixels {
        let ix = pix % d.in_w;
        let t = pix / d.in_w;
        let iy = t % d.in_h;
        let b = t / d.in_h;
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
        for c in 0..d.c {
            let mut sum = F::new(0.0);
            for oy in oy_lo..oy_hi {
                for ox in ox_lo..ox_hi {
                    let o = ((b * d.out_h + oy) * d.out_w + ox) * d.c + c;
                    let count = window_count(oy, ox, d);
                    sum += dy[o as usize] / F::cast_from(count);
                }
            }
            dx[(pix * d.c + c) as usize] = sum;
        }
        pix += stride;
    }
}
