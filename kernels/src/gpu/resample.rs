//! Affine resampling with bilinear interpolation and reflect fill, with the semantics of
//! TensorFlow's `ImageProjectiveTransformV3` (see [`crate::cpu::reflect_coord`] for the
//! coordinate mapping, which [`reflect`] reproduces).

use cubecl::prelude::*;

/// TensorFlow's `MapCoordinate<FILL_REFLECT>`: reflect about the edges with period `2 len`,
/// then clamp to `[0, len - 1]`; non-finite coordinates map to 0.
#[cube]
fn reflect<F: Float + CubeElement>(coord: F, len: u32) -> F {
    let lenf = F::cast_from(len);
    let mut c = coord;
    let mut out = F::new(0.0);
    // Finite: false for NaN and the infinities.
    if len > 1u32 && F::abs(coord) <= F::new(f32::MAX) {
        let sz2 = F::new(2.0) * lenf;
        if c < F::new(0.0) {
            c += sz2 * F::trunc(-c / sz2);
            c = select(c < -lenf, c + sz2, -c - F::new(1.0));
        } else if c > lenf - F::new(1.0) {
            c -= sz2 * F::trunc(c / sz2);
            if c >= lenf {
                c = sz2 - c - F::new(1.0);
            }
        }
        out = F::clamp(c, F::new(0.0), lenf - F::new(1.0));
    }
    out
}

/// Pixel `(yy, xx)` channel `ch` of image `b`, or 0 outside the image.
#[cube]
#[allow(clippy::too_many_arguments)]
fn read_px<F: Float + CubeElement>(
    x: &Array<F>,
    b: u32,
    yy: F,
    xx: F,
    ch: u32,
    h: u32,
    w: u32,
    c: u32,
) -> F {
    let mut v = F::new(0.0);
    if yy >= F::new(0.0) && yy < F::cast_from(h) && xx >= F::new(0.0) && xx < F::cast_from(w) {
        let iy = u32::cast_from(yy);
        let ix = u32::cast_from(xx);
        v = x[(((b * h + iy) * w + ix) * c + ch) as usize];
    }
    v
}

/// One invocation per output element; `t[6 b ..]` is image `b`'s transform.
#[cube(launch)]
pub(crate) fn affine_resample<F: Float + CubeElement>(
    x: &Array<F>,
    t: &Array<F>,
    y: &mut Array<F>,
    h: u32,
    w: u32,
    c: u32,
) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut idx = ABSOLUTE_POS;
    while idx < y.len() {
        let o = idx as u32;
        let ch = o % c;
        let ox = (o / c) % w;
        let oy = (o / (c * w)) % h;
        let b = o / (c * w * h);
        let tb = (b * 6) as usize;
        let xf = F::cast_from(ox);
        let yf = F::cast_from(oy);
        let in_x = t[tb] * xf + t[tb + 1] * yf + t[tb + 2];
        let in_y = t[tb + 3] * xf + t[tb + 4] * yf + t[tb + 5];
        let px = reflect::<F>(in_x, w);
        let py = reflect::<F>(in_y, h);
        let x0 = F::floor(px);
        let y0 = F::floor(py);
        let x1 = x0 + F::new(1.0);
        let y1 = y0 + F::new(1.0);
        let top = (x1 - px) * read_px::<F>(x, b, y0, x0, ch, h, w, c)
            + (px - x0) * read_px::<F>(x, b, y0, x1, ch, h, w, c);
        let bottom = (x1 - px) * read_px::<F>(x, b, y1, x0, ch, h, w, c)
            + (px - x0) * read_px::<F>(x, b, y1, x1, ch, h, w, c);
        y[idx] = (y1 - py) * top + (py - y0) * bottom;
        idx += stride;
    }
}
