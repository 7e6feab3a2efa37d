//! Affine image resampling with bilinear interpolation and reflect fill, with the semantics of
//! TensorFlow's `ImageProjectiveTransformV3` (`interpolation="bilinear"`,
//! `fill_mode="reflect"`, `fill_value=0`), which Keras's augmentation layers call.
//!
//! Per output pixel `(x, y)`: the input point `(a0 x + a1 y + a2, b0 x + b1 y + b2)` is first
//! mapped into the image by [`reflect_coord`] on each axis ("d c b a | a b c d | d c b a",
//! pixel centres at integers, then clamped to `[0, len - 1]`); then the four neighbours at
//! `floor` and `floor + 1` are blended bilinearly, a neighbour outside the image reading the
//! fill value 0 (it can only get weight 0 after the clamp).

use rayon::prelude::*;

use super::recycle;
use crate::geometry::ImageGeom;

/// TensorFlow's `MapCoordinate<FILL_REFLECT>`: reflects a coordinate about the image edges
/// with period `2 len`, then clamps it to `[0, len - 1]`. Non-finite input gives 0.
pub fn reflect_coord(coord: f32, len: usize) -> f32 {
    if !coord.is_finite() {
        return 0.0;
    }
    let lenf = len as f32;
    let mut c = coord;
    if len <= 1 {
        return 0.0;
    }
    let sz2 = 2.0 * lenf;
    if c < 0.0 {
        // Shift into (-2 len, 0], then reflect: -1 -> 0, -len -> len - 1, -len - 1 -> len - 1.
        c += sz2 * (-c / sz2).trunc();
        c = if c < -lenf { c + sz2 } else { -c - 1.0 };
    } else if c > lenf - 1.0 {
        c -= sz2 * (c / sz2).trunc();
        if c >= lenf {
            c = sz2 - c - 1.0;
        }
    }
    c.clamp(0.0, lenf - 1.0)
}

/// Resamples each image of an NHWC batch through its affine map.
pub(crate) fn affine_resample(x: &[f32], g: &ImageGeom, transforms: &[[f32; 6]]) -> Vec<f32> {
    assert_eq!(x.len(), g.len(), "affine_resample: input length");
    assert_eq!(
        transforms.len(),
        g.batch,
        "affine_resample: one transform per image"
    );
    let (h, w, c) = (g.h, g.w, g.c);
    let img = h * w * c;
    let mut out = recycle::dirty(g.len()); // every element written below
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(img)
        .zip(x.par_chunks(img))
        .zip(transforms.par_iter())
        .for_each(|((oi, xi), t)| {
            let read = |yy: f32, xx: f32, ch: usize| -> f32 {
                if yy >= 0.0 && yy < h as f32 && xx >= 0.0 && xx < w as f32 {
                    xi[(yy as usize * w + xx as usize) * c + ch]
                } else {
                    0.0
                }
            };
            for oy in 0..h {
                for ox in 0..w {
                    let (xf, yf) = (ox as f32, oy as f32);
                    let in_x = t[0] * xf + t[1] * yf + t[2];
                    let in_y = t[3] * xf + t[4] * yf + t[5];
                    let px = reflect_coord(in_x, w);
                    let py = reflect_coord(in_y, h);
                    let (x0, y0) = (px.floor(), py.floor());
                    let (x1, y1) = (x0 + 1.0, y0 + 1.0);
                    let o = (oy * w + ox) * c;
                    for ch in 0..c {
                        let top = (x1 - px) * read(y0, x0, ch) + (px - x0) * read(y0, x1, ch);
                        let bottom = (x1 - px) * read(y1, x0, ch) + (px - x0) * read(y1, x1, ch);
                        oi[o + ch] = (y1 - py) * top + (py - y0) * bottom;
                    }
                }
            }
        });
    out
}
