//! Bilinear image resize with TensorFlow's convention (`tf.image.resize(..., "bilinear")`,
//! half-pixel centres, no antialiasing), which is what Keras's
//! `image_dataset_from_directory` uses by default.

/// Resizes an HWC `f32` image from `(in_h, in_w)` to `(out_h, out_w)`.
///
/// Output pixel `(y, x)` samples the input at `((y + 0.5) * in_h / out_h - 0.5, ...)`,
/// clamped to the image, by bilinear interpolation.
pub fn resize_bilinear(
    src: &[f32],
    in_h: usize,
    in_w: usize,
    channels: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<f32> {
    assert_eq!(
        src.len(),
        in_h * in_w * channels,
        "source length does not match its shape"
    );
    let mut out = vec![0f32; out_h * out_w * channels];
    if in_h == 0 || in_w == 0 {
        return out;
    }
    let xs: Vec<(usize, usize, f32)> = (0..out_w).map(|x| weights(x, in_w, out_w)).collect();
    for y in 0..out_h {
        let (y0, y1, fy) = weights(y, in_h, out_h);
        for (x, &(x0, x1, fx)) in xs.iter().enumerate() {
            let o = (y * out_w + x) * channels;
            for c in 0..channels {
                let p = |yy: usize, xx: usize| src[(yy * in_w + xx) * channels + c];
                let top = p(y0, x0) + (p(y0, x1) - p(y0, x0)) * fx;
                let bottom = p(y1, x0) + (p(y1, x1) - p(y1, x0)) * fx;
                out[o + c] = top + (bottom - top) * fy;
            }
        }
    }
    out
}

/// Lower index, upper index and interpolation weight of output coordinate `i`.
fn weights(i: usize, in_len: usize, out_len: usize) -> (usize, usize, f32) {
    let scale = in_len as f32 / out_len as f32;
    let pos = ((i as f32 + 0.5) * scale - 0.5).max(0.0);
    let lo = (pos.floor() as usize).min(in_len - 1);
    let hi = (lo + 1).min(in_len - 1);
    (lo, hi, pos - lo as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_identity() {
        let src: Vec<f32> = (0..4 * 5 * 3).map(|v| v as f32).collect();
        assert_eq!(resize_bilinear(&src, 4, 5, 3, 4, 5), src);
    }

    #[test]
    fn upscale_2x_matches_half_pixel_reference() {
        // 1-D row [0, 10] upscaled to 4: sample points -0.25, 0.25, 0.75, 1.25 -> clamp ->
        // 0, 2.5, 7.5, 10 (TensorFlow gives the same).
        let out = resize_bilinear(&[0.0, 10.0], 1, 2, 1, 1, 4);
        assert_eq!(out, vec![0.0, 2.5, 7.5, 10.0]);
    }

    #[test]
    fn downscale_2x_averages_pairs() {
        // 4 -> 2: sample points 0.5 and 2.5, the means of neighbouring pairs.
        let out = resize_bilinear(&[0.0, 2.0, 4.0, 8.0], 1, 4, 1, 1, 2);
        assert_eq!(out, vec![1.0, 6.0]);
    }
}
