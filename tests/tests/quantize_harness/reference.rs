//! An integer reference of the int8 network, written from the TensorFlow Lite definitions
//! (reference kernels `conv.h`, `fully_connected.h`, `pooling.h`; gemmlowp's fixed-point
//! rounding) as plain nested loops with i64 arithmetic. It shares no code with `shared`'s
//! kernels: it reads the parameters from the raw blob bytes and computes every rounding step
//! its own way.

use shared::blob::{Activation, Blob, LayerKind, Shape};
use shared::padding::Padding;

/// gemmlowp `SaturatingRoundingDoublingHighMul`: `round(a * b / 2^31)` with ties towards
/// +infinity (the `nudge` of the C code makes positive ties go up and negative ties go up
/// too), saturating the single overflow `MIN * MIN`. Computed as a floor shift in i64.
pub fn rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let p = a as i64 * b as i64;
    ((p + (1i64 << 30)) >> 31) as i32
}

/// gemmlowp `RoundingDivideByPOT`: `x / 2^e` rounded to nearest, ties away from zero.
pub fn rounding_divide_by_pot(x: i32, e: u32) -> i32 {
    if e == 0 {
        return x;
    }
    let x = x as i64;
    let half = 1i64 << (e - 1);
    let q = if x >= 0 {
        (x + half) >> e
    } else {
        -((-x + half) >> e)
    };
    q as i32
}

/// TFLite `MultiplyByQuantizedMultiplier`: `x * m * 2^(shift - 31)` with the two roundings
/// above. The left shift must not overflow (asserted: TFLite would be undefined there).
pub fn multiply_by_quantized_multiplier(x: i32, m: i32, shift: i32) -> i32 {
    let left = shift.max(0) as u32;
    let right = (-shift).max(0) as u32;
    let shifted = (x as i64) << left;
    assert!(
        i32::try_from(shifted).is_ok(),
        "accumulator {x} << {left} overflows i32"
    );
    rounding_divide_by_pot(rounding_doubling_high_mul(shifted as i32, m), right)
}

fn i32s(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

struct Requant {
    bias: Vec<i32>,
    multipliers: Vec<i32>,
    shifts: Vec<i32>,
    input_zp: i32,
    output_zp: i32,
    relu: bool,
}

impl Requant {
    fn apply(&self, c: usize, acc: i64) -> i8 {
        let acc = acc + self.bias[c] as i64;
        let acc = i32::try_from(acc).expect("the accumulator fits i32");
        let v = multiply_by_quantized_multiplier(acc, self.multipliers[c], self.shifts[c]) as i64
            + self.output_zp as i64;
        let lo = if self.relu {
            self.output_zp as i64
        } else {
            -128
        };
        v.clamp(lo, 127) as i8
    }
}

fn pad_before(p: Padding, input: u32, k: u32, stride: u32) -> i64 {
    match p {
        Padding::Valid => 0,
        Padding::Same => {
            let out = input.div_ceil(stride) as i64;
            let total = ((out - 1) * stride as i64 + k as i64 - input as i64).max(0);
            total / 2
        }
    }
}

fn at(s: Shape, y: i64, x: i64, c: usize) -> Option<usize> {
    if y < 0 || x < 0 || y >= s.h as i64 || x >= s.w as i64 {
        None
    } else {
        Some(((y as usize * s.w as usize) + x as usize) * s.c as usize + c)
    }
}

/// Runs the int8 blob on one image and returns the input tensor followed by every layer's
/// output (HWC int8), computed with the reference arithmetic only.
pub fn run(blob_bytes: &[u8], image: &[u8]) -> Vec<Vec<i8>> {
    let blob = Blob::decode(blob_bytes).expect("the blob decodes");
    let iq = blob
        .header()
        .input_quant
        .expect("an int8 blob has input quantization");
    // TFLite quantizes the real input pixel / 255: round(x / scale) + zp, ties away from zero.
    let mut x: Vec<i8> = image
        .iter()
        .map(|&p| {
            let r = (p as f64 / 255.0 / iq.scale as f64).round() as i64 + iq.zero_point as i64;
            r.clamp(-128, 127) as i8
        })
        .collect();
    let mut outputs = vec![x.clone()];
    let mut zp = iq.zero_point;
    for record in blob.layers() {
        let d = record.desc;
        let (is, os) = (d.input, d.output);
        let mut y = vec![0i8; os.len()];
        let q = record.quant.expect("int8 layers carry quantization");
        let requant = |relu: bool| Requant {
            bias: i32s(record.bias),
            multipliers: i32s(q.multipliers),
            shifts: q.shifts.iter().map(|&s| s as i8 as i32).collect(),
            input_zp: zp,
            output_zp: q.output.zero_point,
            relu,
        };
        match d.kind {
            LayerKind::Conv2d {
                kernel,
                stride,
                padding,
                filters,
                activation,
            } => {
                let rq = requant(activation == Activation::Relu);
                let (k, ci) = (kernel as i64, is.c as usize);
                let (pt, pl) = (
                    pad_before(padding, is.h, kernel, stride),
                    pad_before(padding, is.w, kernel, stride),
                );
                for oy in 0..os.h as i64 {
                    for ox in 0..os.w as i64 {
                        for co in 0..filters as usize {
                            let mut acc = 0i64;
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = oy * stride as i64 + ky - pt;
                                    let ix = ox * stride as i64 + kx - pl;
                                    for c in 0..ci {
                                        let Some(xi) = at(is, iy, ix, c) else {
                                            continue;
                                        };
                                        let wi = ((co * k as usize + ky as usize) * k as usize
                                            + kx as usize)
                                            * ci
                                            + c;
                                        let w = record.weights[wi] as i8 as i64;
                                        acc += (x[xi] as i64 - rq.input_zp as i64) * w;
                                    }
                                }
                            }
                            let oi = at(os, oy, ox, co).expect("in bounds");
                            y[oi] = rq.apply(co, acc);
                        }
                    }
                }
            }
            LayerKind::MaxPool2d {
                pool,
                stride,
                padding,
            } => {
                let (pt, pl) = (
                    pad_before(padding, is.h, pool, stride),
                    pad_before(padding, is.w, pool, stride),
                );
                for oy in 0..os.h as i64 {
                    for ox in 0..os.w as i64 {
                        for c in 0..os.c as usize {
                            let mut m = i8::MIN;
                            for py in 0..pool as i64 {
                                for px in 0..pool as i64 {
                                    let iy = oy * stride as i64 + py - pt;
                                    let ix = ox * stride as i64 + px - pl;
                                    if let Some(xi) = at(is, iy, ix, c) {
                                        m = m.max(x[xi]);
                                    }
                                }
                            }
                            y[at(os, oy, ox, c).expect("in bounds")] = m;
                        }
                    }
                }
            }
            LayerKind::Flatten => y.copy_from_slice(&x),
            LayerKind::Dense { units, activation } => {
                let rq = requant(activation == Activation::Relu);
                let n = is.len();
                for (o, out) in y.iter_mut().enumerate().take(units as usize) {
                    let mut acc = 0i64;
                    for (i, &xv) in x.iter().enumerate() {
                        let w = record.weights[o * n + i] as i8 as i64;
                        acc += (xv as i64 - rq.input_zp as i64) * w;
                    }
                    *out = rq.apply(o, acc);
                }
            }
            other => panic!("the reference does not implement {other:?}"),
        }
        zp = q.output.zero_point;
        x = y;
        outputs.push(x.clone());
    }
    outputs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_matches_the_definitions_on_hand_values() {
        // 0.5 * 0.5 = 0.25 in Q31.
        assert_eq!(rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        assert_eq!(rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        // Ties: 1 * 2^30 / 2^31 = 0.5 → 1; -0.5 → 0 (towards +infinity).
        assert_eq!(rounding_doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(rounding_doubling_high_mul(-1, 1 << 30), 0);
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(-5, 2), -1);
        assert_eq!(rounding_divide_by_pot(6, 2), 2);
    }
}
