//! The quantization arithmetic against f64 math and an independent i128 reference.

mod common;

use proptest::prelude::*;
use shared::quant::{
    choose_quant_params, dequantize, frexp, multiply_by_quantized_multiplier, quantize,
    quantize_bias, quantize_multiplier, quantize_pixel, quantize_real, quantize_symmetric,
    rounding_divide_by_pot, saturating_rounding_doubling_high_mul, symmetric_scale, QuantError,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn frexp_splits_exactly(x in 1e-300f64..1e300) {
        let (q, e) = frexp(x);
        prop_assert!((0.5..1.0).contains(&q), "q = {}", q);
        prop_assert_eq!(q * 2f64.powi(e), x);
    }

    #[test]
    fn quantize_multiplier_represents_m(log_m in -20f64..12.0) {
        let m = 2f64.powf(log_m);
        let (mult, shift) = quantize_multiplier(m);
        prop_assert!((1i64 << 30..1i64 << 31).contains(&(mult as i64)), "mult {}", mult);
        prop_assert!((-31..=30).contains(&shift));
        let back = mult as f64 * 2f64.powi(shift - 31);
        // Q31 rounding of a value in [0.5, 1): relative error at most 2^-31 / 0.5.
        prop_assert!((back - m).abs() <= m * 2f64.powi(-30), "m {} back {}", m, back);
    }

    #[test]
    fn multiply_by_quantized_multiplier_is_bit_exact_with_reference(
        x in any::<i32>(),
        mult in (1i32 << 30)..i32::MAX,
        shift in -31i32..=30,
    ) {
        prop_assert_eq!(
            multiply_by_quantized_multiplier(x, mult, shift),
            common::reference::mbqm(x, mult, shift)
        );
    }

    #[test]
    fn multiply_by_quantized_multiplier_matches_f64(
        x in -(1i32 << 24)..(1i32 << 24),
        log_m in -20f64..-0.01,
    ) {
        let m = 2f64.powf(log_m);
        let (mult, shift) = quantize_multiplier(m);
        let got = multiply_by_quantized_multiplier(x, mult, shift) as f64;
        let exact = x as f64 * m;
        // Two roundings of at most half a unit each plus the multiplier's relative error.
        prop_assert!((got - exact).abs() <= 1.0 + exact.abs() * 2f64.powi(-29), "x {} m {} got {} exact {}", x, m, got, exact);
    }

    #[test]
    fn rounding_divide_by_pot_rounds_half_away(x in any::<i32>(), e in 0i32..=31) {
        let exact = x as f64 / 2f64.powi(e);
        prop_assert_eq!(rounding_divide_by_pot(x, e) as f64, exact.round());
    }

    #[test]
    fn doubling_high_mul_rounds_to_nearest(a in any::<i32>(), b in any::<i32>()) {
        let exact = a as f64 * b as f64 / 2f64.powi(31);
        let got = saturating_rounding_doubling_high_mul(a, b) as f64;
        if a == i32::MIN && b == i32::MIN {
            prop_assert_eq!(got, i32::MAX as f64);
        } else {
            prop_assert!((got - exact).abs() <= 0.5 + 1e-9, "{} * {}: {} vs {}", a, b, got, exact);
        }
    }

    #[test]
    fn chosen_params_represent_zero_and_cover_the_range(min in -50f32..50.0, width in 0f32..100.0) {
        let max = min + width;
        let p = choose_quant_params(min, max).unwrap();
        let (lo, hi) = (min.min(0.0), max.max(0.0));
        prop_assert!((-128..=127).contains(&p.zero_point));
        // Real zero is exactly representable.
        prop_assert_eq!(dequantize(p.zero_point as i8, p.scale, p.zero_point), 0.0);
        if hi > lo {
            prop_assert!(((p.scale as f64) - (hi - lo) as f64 / 255.0).abs() <= 1e-6 * p.scale as f64);
            // The ends of the range are within one step of a code.
            for v in [lo, hi] {
                let back = dequantize(quantize(v, p.scale, p.zero_point), p.scale, p.zero_point);
                prop_assert!((back - v).abs() <= p.scale * 1.001, "{} -> {}", v, back);
            }
        }
    }

    #[test]
    fn quantize_dequantize_error_is_half_a_step(x in -10f32..10.0, log_s in -8f32..0.0, zp in -128i32..=127) {
        let scale = 2f32.powf(log_s);
        let q = quantize(x, scale, zp);
        let lo = scale * (-128 - zp) as f32;
        let hi = scale * (127 - zp) as f32;
        let back = dequantize(q, scale, zp);
        if x >= lo && x <= hi {
            prop_assert!((back - x).abs() <= scale * 0.5001, "{} -> {} -> {}", x, q, back);
        } else {
            prop_assert_eq!(q, if x < lo { -128 } else { 127 });
        }
    }

    #[test]
    fn symmetric_weights_stay_within_127(w in -3f32..3.0, max_abs in 0.01f32..3.0) {
        let s = symmetric_scale(max_abs);
        let q = quantize_symmetric(w, s);
        prop_assert!((-127..=127).contains(&(q as i32)));
        if w.abs() <= max_abs {
            prop_assert!((q as f32 * s - w).abs() <= s * 0.5001);
        }
    }

    #[test]
    fn pixel_quantization_matches_f64(p in any::<u8>(), log_s in -10f32..-6.0, zp in -128i32..=127) {
        let scale = 2f32.powf(log_s);
        let want = ((p as f64 / 255.0 / scale as f64).round() as i64 + zp as i64).clamp(-128, 127);
        // Division order may differ in the last ulp; only exact ties could flip.
        let got = quantize_pixel(p, scale, zp) as i64;
        prop_assert!((got - want).abs() <= 1);
        let exact = p as f64 / 255.0 / scale as f64;
        if (exact - exact.floor() - 0.5).abs() > 1e-9 {
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn bias_quantization_rounds(b in -5f32..5.0, si in 0.001f32..0.1, sw in 0.001f32..0.1) {
        let q = quantize_bias(b, si, sw);
        let exact = b as f64 / (si as f64 * sw as f64);
        prop_assert!((q as f64 - exact).abs() <= 0.5 + 1e-9);
    }
}

#[test]
fn quantize_multiplier_edge_cases() {
    assert_eq!(quantize_multiplier(0.0), (0, 0));
    assert_eq!(quantize_multiplier(-1.0), (0, 0));
    assert_eq!(quantize_multiplier(f64::NAN), (0, 0));
    assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
    assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
    assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
    // Rounds up to 2^31: renormalised.
    let almost_one = 1.0 - 2f64.powi(-40);
    assert_eq!(quantize_multiplier(almost_one), (1 << 30, 1));
    // Too small for a shift of -31.
    assert_eq!(quantize_multiplier(1e-12), (0, 0));
    assert_eq!(quantize_multiplier(f64::INFINITY), (i32::MAX, 30));
    // x * 0.5: the doubling high multiply breaks ties toward +infinity (gemmlowp's nudge).
    assert_eq!(multiply_by_quantized_multiplier(3, 1 << 30, 0), 2);
    assert_eq!(multiply_by_quantized_multiplier(-3, 1 << 30, 0), -1);
    // x * 0.25 = -0.75 → -1; the right shift breaks its tie (-0.5) away from zero.
    assert_eq!(multiply_by_quantized_multiplier(-3, 1 << 30, -1), -1);
    assert_eq!(rounding_divide_by_pot(-1, 1), -1);
    assert_eq!(rounding_divide_by_pot(1, 1), 1);
    assert_eq!(rounding_divide_by_pot(-3, 1), -2);
    assert_eq!(multiply_by_quantized_multiplier(5, 1 << 30, 1), 5);
    assert_eq!(
        saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
        i32::MAX
    );
    // Out-of-range shifts are clamped, not a panic.
    let _ = multiply_by_quantized_multiplier(i32::MAX, i32::MAX, 1000);
    let _ = multiply_by_quantized_multiplier(i32::MIN, i32::MIN, -1000);
}

#[test]
fn choose_quant_params_edge_cases() {
    assert_eq!(
        choose_quant_params(f32::NAN, 1.0),
        Err(QuantError::NonFinite)
    );
    assert_eq!(
        choose_quant_params(0.0, f32::INFINITY),
        Err(QuantError::NonFinite)
    );
    assert_eq!(
        choose_quant_params(2.0, 1.0),
        Err(QuantError::InvertedRange)
    );
    let p = choose_quant_params(0.0, 0.0).unwrap();
    assert_eq!((p.scale, p.zero_point), (1.0, 0));
    // [0, 1]: zero at the bottom code.
    let p = choose_quant_params(0.0, 1.0).unwrap();
    assert_eq!(p.zero_point, -128);
    assert!((p.scale - 1.0 / 255.0).abs() < 1e-9);
    // A range not including 0 is extended to it.
    let p = choose_quant_params(2.0, 6.0).unwrap();
    assert_eq!(p.zero_point, -128);
    assert!((p.scale - 6.0 / 255.0).abs() < 1e-7);
    let p = choose_quant_params(-6.0, -2.0).unwrap();
    assert_eq!(p.zero_point, 127);
    // Symmetric range: zero near the middle.
    let p = choose_quant_params(-1.0, 1.0).unwrap();
    assert!(p.zero_point == 0 || p.zero_point == -1, "{}", p.zero_point);
    assert_eq!(quantize_pixel(0, 1.0 / 255.0, -128), -128);
    assert_eq!(quantize_pixel(255, 1.0 / 255.0, -128), 127);
}

/// The f64 computation the integer `quantize_pixel` / `quantize_real` replace.
fn f64_code(ratio: f64, zero_point: i32) -> i8 {
    ((ratio.round() as i32).saturating_add(zero_point)).clamp(-128, 127) as i8
}

/// splitmix64: deterministic pseudo-random bits.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A positive finite f32: half of them log-uniform over the scales quantizers produce
/// (2^-40..2^8), half any positive finite bit pattern (subnormals included).
fn scale(state: &mut u64) -> f32 {
    let bits = next(state);
    let s = if bits & 1 == 0 {
        2f32.powf(-40.0 + 48.0 * ((bits >> 11) as f32 / (1u64 << 53) as f32))
    } else {
        f32::from_bits((bits >> 32) as u32 & 0x7f7f_ffff)
    };
    if s > 0.0 && s.is_finite() {
        s
    } else {
        f32::MIN_POSITIVE
    }
}

#[test]
fn integer_pixel_quantization_equals_f64_for_every_pixel_and_many_scales() {
    let mut state = 1;
    for _ in 0..100_000 {
        let s = scale(&mut state);
        for p in 0..=255u8 {
            let ratio = p as f64 / (255.0 * s as f64);
            for zp in [-128, -3, 0, 127] {
                assert_eq!(
                    quantize_pixel(p, s, zp),
                    f64_code(ratio, zp),
                    "p {p} scale {s:e} ({:#x}) zp {zp}",
                    s.to_bits()
                );
            }
        }
    }
    // Exact half-integers round away from zero: 1 / (255 * (2 / 255)) = 0.5 -> 1.
    let s = 1.0 / 255.0 * 2.0;
    assert_eq!(
        quantize_pixel(1, s, 0),
        f64_code(1.0 / (255.0 * s as f64), 0)
    );
    // Invalid scales give the zero point.
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert_eq!(quantize_pixel(200, bad, 5), 5);
    }
}

#[test]
fn integer_real_quantization_equals_f64() {
    let mut state = 7;
    for i in 0..2_000_000 {
        let s = scale(&mut state);
        let bits = next(&mut state);
        // Values near the quantization grid (k/2 * s, where ties live) and arbitrary ones.
        let x = match i % 3 {
            0 => ((bits % 1024) as f32 - 512.0) * 0.5 * s,
            1 => ((bits % 100_000) as f32 - 50_000.0) * 0.01 * s,
            _ => f32::from_bits((bits >> 32) as u32 & 0xff7f_ffff),
        };
        if !x.is_finite() {
            continue;
        }
        let zp = (bits % 256) as i32 - 128;
        let q = shared::quant::QuantParams {
            scale: s,
            zero_point: zp,
        };
        assert_eq!(
            quantize_real(x, q),
            f64_code(x as f64 / s as f64, zp),
            "x {x:e} scale {s:e} zp {zp}"
        );
    }
}
