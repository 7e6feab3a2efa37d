//! Plain reference implementations, written independently of the crate: explicit zero / NaN
//! padding of the input instead of window clipping, f64 arithmetic, naive loops.

/// Output length and padding before, from the Keras/TF rule.
pub fn geometry(input: usize, k: usize, s: usize, same: bool) -> (usize, usize) {
    if same {
        let out = input.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(input);
        (out, total / 2)
    } else {
        ((input - k) / s + 1, 0)
    }
}

/// Pads an HWC tensor with `fill` (top/left `before`, enough after to cover every window).
pub fn pad(
    x: &[f64],
    h: usize,
    w: usize,
    c: usize,
    (pt, pb): (usize, usize),
    (pl, pr): (usize, usize),
    fill: f64,
) -> (Vec<f64>, usize, usize) {
    let (ph, pw) = (h + pt + pb, w + pl + pr);
    let mut out = vec![fill; ph * pw * c];
    for y in 0..h {
        for xx in 0..w {
            for ch in 0..c {
                out[((y + pt) * pw + xx + pl) * c + ch] = x[(y * w + xx) * c + ch];
            }
        }
    }
    (out, ph, pw)
}

/// Pads for a `k`/`s` window; returns (padded, padded width, out height, out width).
fn padded(
    x: &[f64],
    (h, w, c): (usize, usize, usize),
    k: usize,
    s: usize,
    same: bool,
    fill: f64,
) -> (Vec<f64>, usize, usize, usize) {
    let (oh, pt) = geometry(h, k, s, same);
    let (ow, pl) = geometry(w, k, s, same);
    let pb = ((oh - 1) * s + k).saturating_sub(h + pt);
    let pr = ((ow - 1) * s + k).saturating_sub(w + pl);
    let (p, _ph, pw) = pad(x, h, w, c, (pt, pb), (pl, pr), fill);
    (p, pw, oh, ow)
}

/// Conv2D, kernel HWIO, returns `(oh, ow, out)`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    x: &[f64],
    (h, w, ci): (usize, usize, usize),
    kernel: &[f64],
    bias: &[f64],
    k: usize,
    s: usize,
    same: bool,
    relu: bool,
) -> (usize, usize, Vec<f64>) {
    let co = bias.len();
    let (p, pw, oh, ow) = padded(x, (h, w, ci), k, s, same, 0.0);
    let mut out = vec![0.0; oh * ow * co];
    for oy in 0..oh {
        for ox in 0..ow {
            for o in 0..co {
                let mut acc = bias[o];
                for ky in 0..k {
                    for kx in 0..k {
                        for i in 0..ci {
                            acc += p[((oy * s + ky) * pw + ox * s + kx) * ci + i]
                                * kernel[((ky * k + kx) * ci + i) * co + o];
                        }
                    }
                }
                out[(oy * ow + ox) * co + o] = if relu { acc.max(0.0) } else { acc };
            }
        }
    }
    (oh, ow, out)
}

/// Max or average pooling (padding marked with NaN and skipped), returns `(oh, ow, out)`.
pub fn pool(
    x: &[f64],
    (h, w, c): (usize, usize, usize),
    k: usize,
    s: usize,
    same: bool,
    max: bool,
) -> (usize, usize, Vec<f64>) {
    let (p, pw, oh, ow) = padded(x, (h, w, c), k, s, same, f64::NAN);
    let mut out = vec![0.0; oh * ow * c];
    for oy in 0..oh {
        for ox in 0..ow {
            for ch in 0..c {
                let vals: Vec<f64> = (0..k)
                    .flat_map(|ky| (0..k).map(move |kx| (ky, kx)))
                    .map(|(ky, kx)| p[((oy * s + ky) * pw + ox * s + kx) * c + ch])
                    .filter(|v| !v.is_nan())
                    .collect();
                out[(oy * ow + ox) * c + ch] = if max {
                    vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                } else {
                    vals.iter().sum::<f64>() / vals.len() as f64
                };
            }
        }
    }
    (oh, ow, out)
}

/// Dense with kernel `[in][out]`.
pub fn dense(x: &[f64], kernel: &[f64], bias: &[f64], relu: bool) -> Vec<f64> {
    let n_out = bias.len();
    (0..n_out)
        .map(|o| {
            let v = bias[o]
                + x.iter()
                    .enumerate()
                    .map(|(i, xv)| xv * kernel[i * n_out + o])
                    .sum::<f64>();
            if relu {
                v.max(0.0)
            } else {
                v
            }
        })
        .collect()
}

pub fn softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

pub fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// Asserts `got` matches `want` within `tol * (1 + |want|)` element-wise.
pub fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

// ----- Integer reference of TFLite's int8 arithmetic, written from the published formulas with
// i128 intermediates (independent of the crate's i32/i64 code).

/// `x * m * 2^(shift - 31)` with TFLite's double rounding: the doubled high product rounded to
/// nearest with ties toward +infinity (gemmlowp's nudge then C truncation), then the right
/// shift rounded to nearest with ties away from zero.
pub fn mbqm(x: i32, m: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    let xs = (x as i128) << left;
    // Saturating doubling high mul: nearest, ties toward +infinity.
    let xs = xs as i32 as i128; // TFLite's int32 multiply (wraps)
    let prod = xs * m as i128;
    let high = if xs == i32::MIN as i128 && m == i32::MIN {
        i32::MAX as i128
    } else {
        let twice = 2 * prod;
        let d = 1i128 << 32;
        if twice >= 0 {
            (twice + d / 2) / d
        } else {
            -((-twice + d / 2 - 1) / d)
        }
    };
    // Rounding divide by 2^right, ties away from zero.
    if right == 0 {
        return high as i32;
    }
    let d = 1i128 << right;
    let r = if high >= 0 {
        (high + d / 2) / d
    } else {
        -((-high + d / 2) / d)
    };
    r as i32
}

/// Integer reference conv: explicit padding with the input zero point, i64 accumulation,
/// kernel HWIO given as i8 values.
#[allow(clippy::too_many_arguments)]
pub fn conv_ref_i8(
    x: &[i8],
    (h, w, ci): (usize, usize, usize),
    kernel_hwio: &[i8],
    bias: &[i32],
    mults: &[i32],
    shifts: &[i32],
    (zp_in, zp_out): (i32, i32),
    k: usize,
    s: usize,
    same: bool,
    relu: bool,
) -> Vec<i8> {
    let co = bias.len();
    let (oh, pt) = geometry(h, k, s, same);
    let (ow, pl) = geometry(w, k, s, same);
    let xf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let pb = ((oh - 1) * s + k).saturating_sub(h + pt);
    let pr = ((ow - 1) * s + k).saturating_sub(w + pl);
    let (p, _, pw) = pad(&xf, h, w, ci, (pt, pb), (pl, pr), zp_in as f64);
    let mut out = vec![0i8; oh * ow * co];
    for oy in 0..oh {
        for ox in 0..ow {
            for o in 0..co {
                let mut acc = bias[o] as i64;
                for ky in 0..k {
                    for kx in 0..k {
                        for i in 0..ci {
                            let xv = p[((oy * s + ky) * pw + ox * s + kx) * ci + i] as i64;
                            acc += (xv - zp_in as i64)
                                * kernel_hwio[((ky * k + kx) * ci + i) * co + o] as i64;
                        }
                    }
                }
                let v = mbqm(acc as i32, mults[o], shifts[o]) as i64 + zp_out as i64;
                let lo = if relu { zp_out as i64 } else { -128 };
                out[(oy * ow + ox) * co + o] = v.clamp(lo, 127) as i8;
            }
        }
    }
    out
}
