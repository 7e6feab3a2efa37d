//! Quantization arithmetic of TensorFlow Lite / TFLite Micro, bit for bit.
//!
//! Scheme: `real = scale * (q - zero_point)`. Activations are int8 per tensor (scale, zero
//! point); weights are int8 symmetric per output channel (zero point 0, range ±127); biases are
//! int32 with scale `input_scale * weight_scale[c]`. A layer's int32 accumulator is brought to
//! the output scale by the real multiplier `input_scale * weight_scale[c] / output_scale`,
//! encoded once (on the host) by [`quantize_multiplier`] as a Q31 fixed-point multiplier and a
//! power-of-two shift, and applied with integer code only by
//! [`multiply_by_quantized_multiplier`].
//!
//! The float functions here ([`quantize_multiplier`], [`choose_quant_params`], [`quantize`], …)
//! run on the host's quantizer or at model load time, never inside an int8 layer.

/// Scale and zero point of an int8 tensor: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuantParams {
    /// Real value of one quantization step.
    pub scale: f32,
    /// The int8 code of real 0 (in `-128..=127`).
    pub zero_point: i32,
}

impl QuantParams {
    /// Quantizes `x` to int8 with these parameters (see [`quantize`]).
    pub fn quantize(&self, x: f32) -> i8 {
        quantize(x, self.scale, self.zero_point)
    }

    /// Dequantizes `q` with these parameters (see [`dequantize`]).
    pub fn dequantize(&self, q: i8) -> f32 {
        dequantize(q, self.scale, self.zero_point)
    }
}

/// Errors of the float-side helpers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    /// A range bound or scale was NaN or infinite.
    #[error("quantization range or scale is not finite")]
    NonFinite,
    /// The range has `min > max`.
    #[error("quantization range has min > max")]
    InvertedRange,
}

/// Smallest int8 code.
pub const QMIN: i32 = -128;
/// Largest int8 code.
pub const QMAX: i32 = 127;
/// Largest magnitude of a symmetric (weight) int8 code: weights use `-127..=127`.
pub const WEIGHT_QMAX: i32 = 127;

/// Splits a finite positive `x` into `(q, e)` with `x = q * 2^e` and `q` in `[0.5, 1)`, like C's
/// `frexp`. Zero, NaN and infinities give `(x, 0)`.
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    if exp_bits == 0 {
        // Subnormal: scale into the normal range first.
        let (q, e) = frexp(x * f64::from_bits(0x4350_0000_0000_0000)); // 2^54
        return (q, e - 54);
    }
    let e = exp_bits - 1022;
    let q_bits = (bits & !(0x7ffu64 << 52)) | (1022u64 << 52);
    (f64::from_bits(q_bits), e)
}

/// TFLite's `QuantizeMultiplier`: encodes a real multiplier `m` as `(multiplier, shift)` with
/// `m ≈ multiplier * 2^(shift - 31)`, `multiplier` in `[2^30, 2^31)` (Q31 of a value in
/// `[0.5, 1)`).
///
/// `shift` is positive for a left shift. Multipliers below `2^-31` (and zero, negative, NaN)
/// give `(0, 0)`; very large ones saturate at `(i32::MAX, 30)`, so the result is always
/// accepted by [`multiply_by_quantized_multiplier`].
pub fn quantize_multiplier(m: f64) -> (i32, i32) {
    if m.is_nan() || m <= 0.0 {
        return (0, 0);
    }
    if m.is_infinite() {
        return (i32::MAX, 30);
    }
    let (q, mut shift) = frexp(m);
    // q * 2^31 is exact (power-of-two scaling) and in [2^30, 2^31): rounding half away from zero.
    let mut q_fixed = libm::round(q * 2_147_483_648.0) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return (0, 0);
    }
    if shift > 30 {
        return (i32::MAX, 30);
    }
    (q_fixed as i32, shift)
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: the high 32 bits of `2 * a * b`, rounded to
/// nearest (ties toward +infinity, from the nudge-then-truncate of the reference code),
/// saturating the single overflow case `a == b == i32::MIN`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division truncating toward zero, as in C.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from zero.
/// `exponent` is clamped into `0..=31`.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let e = exponent.clamp(0, 31) as u32;
    let mask = ((1i64 << e) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> e) + i32::from(remainder > threshold)
}

/// TFLite's `MultiplyByQuantizedMultiplier` (double rounding, the reference kernels' default):
/// `x * multiplier * 2^(shift - 31)` rounded to nearest.
///
/// `shift` is clamped into `-31..=30`; the left shift of `x` wraps on overflow like the
/// two's-complement C code it reproduces (it cannot overflow for accumulators of a well-formed
/// layer).
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let shift = shift.clamp(-31, 30);
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32 << left), multiplier),
        right,
    )
}

/// Quantizes `x`: `clamp(round(x / scale) + zero_point, -128, 127)` with rounding half away
/// from zero (TFLite's `std::round`), computed in f32 like TFLite's `AffineQuantize`.
/// NaN maps to `zero_point` (clamped).
pub fn quantize(x: f32, scale: f32, zero_point: i32) -> i8 {
    let r = libm::roundf(x / scale);
    // `as` saturates (and maps NaN to 0), so no overflow is possible here.
    let q = (r as i32).saturating_add(zero_point);
    q.clamp(QMIN, QMAX) as i8
}

/// Dequantizes `q`: `scale * (q - zero_point)`.
pub fn dequantize(q: i8, scale: f32, zero_point: i32) -> f32 {
    scale * (q as i32 - zero_point) as f32
}

/// Quantizes a weight symmetrically: `clamp(round(w / scale), -127, 127)`.
pub fn quantize_symmetric(w: f32, scale: f32) -> i8 {
    let r = libm::roundf(w / scale);
    (r as i32).clamp(-WEIGHT_QMAX, WEIGHT_QMAX) as i8
}

/// Per-output-channel symmetric weight scale: `max_abs / 127`, or 1 when the channel is all
/// zeros (any positive scale then represents it exactly).
pub fn symmetric_scale(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs / WEIGHT_QMAX as f32
    } else {
        1.0
    }
}

/// Quantizes a bias to int32 with scale `input_scale * weight_scale` (zero point 0), rounding
/// half away from zero and saturating.
pub fn quantize_bias(b: f32, input_scale: f32, weight_scale: f32) -> i32 {
    let s = input_scale as f64 * weight_scale as f64;
    let r = libm::round(b as f64 / s);
    r as i32
}

/// The real multiplier of a layer's output channel, `input_scale * weight_scale / output_scale`,
/// computed in f64 (feed it to [`quantize_multiplier`]).
pub fn real_multiplier(input_scale: f32, weight_scale: f32, output_scale: f32) -> f64 {
    input_scale as f64 * weight_scale as f64 / output_scale as f64
}

/// TFLite's `ChooseQuantizationParams` for int8: the range is first extended to include 0,
/// `scale = (max - min) / 255`, and the zero point is the int8 code nearest to the real 0
/// (chosen from whichever end gives the smaller error, then nudged into `-128..=127` and
/// rounded), so that 0 is represented exactly.
///
/// A range that is a single point (`min == max == 0` after extension) gives `scale = 1`,
/// `zero_point = 0`.
pub fn choose_quant_params(min: f32, max: f32) -> Result<QuantParams, QuantError> {
    if !min.is_finite() || !max.is_finite() {
        return Err(QuantError::NonFinite);
    }
    if min > max {
        return Err(QuantError::InvertedRange);
    }
    let rmin = (min as f64).min(0.0);
    let rmax = (max as f64).max(0.0);
    if rmin == rmax {
        return Ok(QuantParams {
            scale: 1.0,
            zero_point: 0,
        });
    }
    let qmin = QMIN as f64;
    let qmax = QMAX as f64;
    let scale = (rmax - rmin) / (qmax - qmin);
    let zp_from_min = qmin - rmin / scale;
    let zp_from_max = qmax - rmax / scale;
    let err_min = libm::fabs(qmin) + libm::fabs(rmin / scale);
    let err_max = libm::fabs(qmax) + libm::fabs(rmax / scale);
    let zp = if err_min < err_max {
        zp_from_min
    } else {
        zp_from_max
    };
    let zero_point = if zp < qmin {
        QMIN
    } else if zp > qmax {
        QMAX
    } else {
        libm::round(zp) as i32
    };
    Ok(QuantParams {
        scale: scale as f32,
        zero_point,
    })
}

/// How an 8-bit pixel, as a board receives it, becomes the network's real input value.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PixelScaling {
    /// `pixel / 255` (the data was fed as `images / 255`, as the book does for MNIST).
    Unit,
    /// `pixel * scale + offset`, in f32 as Keras computes it: a `Rescaling(scale, offset)`
    /// first layer folded into the input quantization.
    Rescale {
        /// Multiplier.
        scale: f32,
        /// Added after the multiplication.
        offset: f32,
    },
}

impl PixelScaling {
    /// The real input value of `pixel`.
    pub fn real(self, pixel: u8) -> f32 {
        match self {
            PixelScaling::Unit => pixel as f32 / 255.0,
            PixelScaling::Rescale { scale, offset } => pixel as f32 * scale + offset,
        }
    }
}

/// Quantizes an 8-bit pixel `p` (real value `p / 255`) to int8:
/// `clamp(round(p / (255 * scale)) + zero_point, -128, 127)`, rounding half away from zero.
/// This is the network input quantization of the MNIST models (built once as a 256-entry
/// table at load time).
///
/// Computed exactly in integers (`round_ratio`), which gives the same code as the f64
/// computation `round(p as f64 / (255.0 * scale as f64))` for every pixel, zero point and
/// positive finite scale (the f64 quotient never lands on the other side of a half-integer;
/// `shared/tests/quant.rs` checks every pixel at 100,000 scales), without linking soft-float f64 on the
/// device. A scale that is not positive and finite gives the zero point.
pub fn quantize_pixel(p: u8, scale: f32, zero_point: i32) -> i8 {
    let r = match mantissa(scale) {
        Some((m, e)) if scale > 0.0 => round_ratio(u64::from(p), 0, 255 * m, e),
        _ => 0,
    };
    r.saturating_add(zero_point).clamp(QMIN, QMAX) as i8
}

/// Quantizes the real value `x` to int8 with `q`:
/// `clamp(round(x / scale) + zero_point, -128, 127)`, rounding half away from zero, exactly
/// (as [`quantize_pixel`]: equal to the f64 computation for every finite `x` and positive
/// finite scale). A non-finite `x` or a scale that is not positive and finite gives the zero
/// point.
pub fn quantize_real(x: f32, q: QuantParams) -> i8 {
    let r = match (mantissa(x.abs()), mantissa(q.scale)) {
        (Some((xm, xe)), Some((sm, se))) if q.scale > 0.0 => {
            let r = round_ratio(xm, xe, sm, se);
            if x < 0.0 {
                -r
            } else {
                r
            }
        }
        _ => 0,
    };
    r.saturating_add(q.zero_point).clamp(QMIN, QMAX) as i8
}

/// `x = m * 2^e` with an integer `m < 2^24` (subnormals included), for finite `x`.
fn mantissa(x: f32) -> Option<(u64, i32)> {
    if !x.is_finite() {
        return None;
    }
    let bits = x.to_bits() & 0x7fff_ffff;
    let exp = (bits >> 23) as i32;
    let frac = u64::from(bits & 0x007f_ffff);
    Some(if exp == 0 {
        (frac, -149)
    } else {
        (frac | 1 << 23, exp - 150)
    })
}

/// Beyond this magnitude a rounded ratio saturates: with any zero point the int8 code is
/// then -128 or 127 anyway.
const RATIO_CAP: i32 = 1 << 20;

/// `round(nm * 2^ne / (dm * 2^de))`, half away from zero, for `nm < 2^24` and `dm < 2^32`,
/// saturated at [`RATIO_CAP`]; exact, in u64 (`0` when `nm` or `dm` is 0).
fn round_ratio(nm: u64, ne: i32, dm: u64, de: i32) -> i32 {
    if nm == 0 || dm == 0 {
        return 0;
    }
    let sh = ne - de;
    let (num, den) = if sh >= 0 {
        // nm * 2^sh / dm >= 2^(sh - 32): from sh = 41 on it is at least 512 (saturated).
        if sh > 40 {
            return RATIO_CAP;
        }
        (nm << sh, dm) // < 2^64
    } else {
        // nm / (dm * 2^k) < 2^24 / 2^k: from k = 32 on it is below 1/2.
        let k = -sh;
        if k >= 32 {
            return 0;
        }
        (nm, dm << k) // < 2^63
    };
    // Quotients of 2^20 and more saturate; below, long division by shifts and compares (no
    // 64-bit division routine on the device): the quotient then has at most 24 bits.
    if den < 1 << 40 && num >= den << 20 {
        return RATIO_CAP;
    }
    let (mut q, mut rem) = (0u64, num);
    for bit in (0..24).rev() {
        if rem >> bit >= den {
            rem -= den << bit;
            q |= 1 << bit;
        }
    }
    // Half away from zero: up when 2 * rem >= den.
    let r = q + u64::from(rem >= den - rem);
    r.min(RATIO_CAP as u64) as i32
}

/// The int8 input code of every 8-bit pixel value: the table a network quantizes its input
/// with. [`PixelScaling::Unit`] is [`quantize_pixel`] (exactly as the MNIST models always
/// did); [`PixelScaling::Rescale`] is [`quantize_real`] of `pixel * scale + offset`.
pub fn pixel_lut(pixels: PixelScaling, q: QuantParams) -> [i8; 256] {
    let mut lut = [0i8; 256];
    for (p, v) in lut.iter_mut().enumerate() {
        *v = match pixels {
            PixelScaling::Unit => quantize_pixel(p as u8, q.scale, q.zero_point),
            PixelScaling::Rescale { .. } => quantize_real(pixels.real(p as u8), q),
        };
    }
    lut
}
