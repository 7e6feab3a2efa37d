//! int8 layers: bit-exact against an independent integer reference, and against the f32
//! computation within the quantization error bound.

mod common;

use common::reference::{self as reference, conv_ref_i8, mbqm};
use proptest::collection::vec;
use proptest::prelude::*;
use shared::blob::Activation;
use shared::int8::dot::{dot_offset, dot_offset_x4};
use shared::int8::{ConvI8Weights, DenseI8Weights, QuantLayerError, Requant};
use shared::layers::{AvgPool2d, Conv2d, Dense, MaxPool2d};
use shared::layout::{hwio_to_ohwi, io_to_oi};
use shared::padding::{Same, Valid};
use shared::quant::{
    dequantize, quantize, quantize_bias, quantize_multiplier, quantize_symmetric, real_multiplier,
    symmetric_scale,
};
use shared::tensor::{TensorMut, TensorRef};

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

macro_rules! conv_exact_case {
    ($name:ident, $pad:ty, $same:expr, $h:literal, $w:literal, $ci:literal, $co:literal,
     $k:literal, $s:literal, $oh:literal, $ow:literal) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]
            #[test]
            fn $name(
                x in vec(any::<i8>(), $h * $w * $ci),
                kernel in vec(-127i8..=127, $k * $k * $ci * $co),
                bias in vec(-20_000i32..20_000, $co),
                mults in vec((1i32 << 30)..i32::MAX, $co),
                shifts in vec(-12i32..=1, $co),
                zp_in in -128i32..=127,
                zp_out in -128i32..=127,
                relu in any::<bool>(),
            ) {
                let mut ohwi = vec![0i8; kernel.len()];
                hwio_to_ohwi(&kernel, $k, $k, $ci, $co, &mut ohwi).unwrap();
                let kb: Vec<u8> = ohwi.iter().map(|&v| v as u8).collect();
                let bb = i32_bytes(&bias);
                let mb = i32_bytes(&mults);
                let sb: Vec<u8> = shifts.iter().map(|&v| v as i8 as u8).collect();
                let rq = Requant::<$co>::new(&bb, &mb, &sb, zp_in, zp_out, relu).unwrap();
                let w = ConvI8Weights::<$k, $ci, $co>::new(&kb, rq).unwrap();
                let layer = Conv2d::<$pad, $h, $w, $ci, $co, $k, $s, $oh, $ow>::new(relu);
                let mut out = vec![0i8; $oh * $ow * $co];
                layer.forward_i8(&w, TensorRef::new(&x).unwrap(), TensorMut::new(&mut out).unwrap());
                let want = conv_ref_i8(&x, ($h, $w, $ci), &kernel, &bias, &mults, &shifts,
                    (zp_in, zp_out), $k, $s, $same, relu);
                prop_assert_eq!(out, want);
            }
        }
    };
}

conv_exact_case!(conv_i8_exact_valid, Valid, false, 7, 6, 3, 4, 3, 1, 5, 4);
conv_exact_case!(conv_i8_exact_same_s2, Same, true, 7, 6, 3, 4, 3, 2, 4, 3);
// A filter of 3 x 3 x 120 = 1,080 values, past kernels::GATHER_PATCH: the row-span path.
conv_exact_case!(
    conv_i8_exact_large_filter,
    Same,
    true,
    5,
    4,
    120,
    5,
    3,
    1,
    5,
    4
);
conv_exact_case!(
    conv_i8_exact_same_even_k,
    Same,
    true,
    5,
    5,
    2,
    3,
    4,
    1,
    5,
    5
);
conv_exact_case!(
    conv_i8_exact_one_channel,
    Valid,
    false,
    6,
    6,
    1,
    5,
    3,
    1,
    4,
    4
);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Quantized conv against the f64 conv of the dequantized operands: within one output step.
    #[test]
    fn conv_i8_within_one_step_of_float(
        xf in vec(-1f32..1.0, 7 * 6 * 3),
        kf in vec(-0.5f32..0.5, 3 * 3 * 3 * 4),
        bf in vec(-0.5f32..0.5, 4),
        in_scale in 0.004f32..0.02,
        zp_in in -20i32..20,
        out_scale in 0.005f32..0.05,
        zp_out in -128i32..0,
        relu in any::<bool>(),
    ) {
        let (h, w, ci, co) = (7usize, 6usize, 3usize, 4usize);
        let xq: Vec<i8> = xf.iter().map(|&v| quantize(v, in_scale, zp_in)).collect();
        let scales: Vec<f32> = (0..co)
            .map(|o| symmetric_scale((0..9 * ci).map(|i| kf[i * co + o].abs()).fold(0.0, f32::max)))
            .collect();
        let kq: Vec<i8> = kf.iter().enumerate().map(|(i, &v)| quantize_symmetric(v, scales[i % co])).collect();
        let bq: Vec<i32> = bf.iter().zip(&scales).map(|(&b, &s)| quantize_bias(b, in_scale, s)).collect();
        let (mults, shifts): (Vec<i32>, Vec<i32>) = scales.iter()
            .map(|&s| quantize_multiplier(real_multiplier(in_scale, s, out_scale))).unzip();
        let mut ohwi = vec![0i8; kq.len()];
        hwio_to_ohwi(&kq, 3, 3, ci, co, &mut ohwi).unwrap();
        let kb: Vec<u8> = ohwi.iter().map(|&v| v as u8).collect();
        let (bb, mb) = (i32_bytes(&bq), i32_bytes(&mults));
        let sb: Vec<u8> = shifts.iter().map(|&v| v as i8 as u8).collect();
        let rq = Requant::<4>::new(&bb, &mb, &sb, zp_in, zp_out, relu).unwrap();
        let wts = ConvI8Weights::<3, 3, 4>::new(&kb, rq).unwrap();
        let mut out = vec![0i8; 4 * 3 * 4];
        Conv2d::<Same, 7, 6, 3, 4, 3, 2, 4, 3>::new(relu)
            .forward_i8(&wts, TensorRef::new(&xq).unwrap(), TensorMut::new(&mut out).unwrap());
        // Float reference on the dequantized operands.
        let xd: Vec<f64> = xq.iter().map(|&q| dequantize(q, in_scale, zp_in) as f64).collect();
        let kd: Vec<f64> = kq.iter().enumerate().map(|(i, &q)| q as f64 * scales[i % co] as f64).collect();
        let bd: Vec<f64> = bq.iter().zip(&scales).map(|(&q, &s)| q as f64 * in_scale as f64 * s as f64).collect();
        let (_, _, want) = reference::conv2d(&xd, (h, w, ci), &kd, &bd, 3, 2, true, relu);
        let lo = out_scale as f64 * (-128 - zp_out) as f64;
        let hi = out_scale as f64 * (127 - zp_out) as f64;
        for (i, (&q, &r)) in out.iter().zip(&want).enumerate() {
            let got = dequantize(q, out_scale, zp_out) as f64;
            let r = r.clamp(lo, hi);
            prop_assert!((got - r).abs() <= out_scale as f64 * 1.0001, "[{}] got {} want {}", i, got, r);
        }
    }

    #[test]
    fn dense_i8_exact_and_within_one_step(
        xf in vec(-1f32..1.0, 20),
        kf in vec(-0.5f32..0.5, 20 * 6),
        bf in vec(-0.5f32..0.5, 6),
        in_scale in 0.004f32..0.02,
        zp_in in -20i32..20,
        out_scale in 0.005f32..0.05,
        zp_out in -30i32..30,
        relu in any::<bool>(),
    ) {
        let (n_in, n_out) = (20usize, 6usize);
        let xq: Vec<i8> = xf.iter().map(|&v| quantize(v, in_scale, zp_in)).collect();
        let scales: Vec<f32> = (0..n_out)
            .map(|o| symmetric_scale((0..n_in).map(|i| kf[i * n_out + o].abs()).fold(0.0, f32::max)))
            .collect();
        let kq: Vec<i8> = kf.iter().enumerate().map(|(i, &v)| quantize_symmetric(v, scales[i % n_out])).collect();
        let bq: Vec<i32> = bf.iter().zip(&scales).map(|(&b, &s)| quantize_bias(b, in_scale, s)).collect();
        let (mults, shifts): (Vec<i32>, Vec<i32>) = scales.iter()
            .map(|&s| quantize_multiplier(real_multiplier(in_scale, s, out_scale))).unzip();
        let mut oi = vec![0i8; kq.len()];
        io_to_oi(&kq, n_in, n_out, &mut oi).unwrap();
        let kb: Vec<u8> = oi.iter().map(|&v| v as u8).collect();
        let (bb, mb) = (i32_bytes(&bq), i32_bytes(&mults));
        let sb: Vec<u8> = shifts.iter().map(|&v| v as i8 as u8).collect();
        let rq = Requant::<6>::new(&bb, &mb, &sb, zp_in, zp_out, relu).unwrap();
        let wts = DenseI8Weights::<20, 6>::new(&kb, rq).unwrap();
        let mut out = [0i8; 6];
        Dense::<20, 6>::new(if relu { Activation::Relu } else { Activation::None })
            .forward_i8(&wts, TensorRef::new(&xq).unwrap(), TensorMut::new(&mut out).unwrap());
        for o in 0..n_out {
            // Integer reference.
            let acc: i64 = bq[o] as i64 + (0..n_in).map(|i| (xq[i] as i64 - zp_in as i64) * kq[i * n_out + o] as i64).sum::<i64>();
            let lo = if relu { zp_out as i64 } else { -128 };
            let exact = (mbqm(acc as i32, mults[o], shifts[o]) as i64 + zp_out as i64).clamp(lo, 127);
            prop_assert_eq!(out[o] as i64, exact);
            // Float bound.
            let mut r = bq[o] as f64 * in_scale as f64 * scales[o] as f64;
            for i in 0..n_in {
                r += dequantize(xq[i], in_scale, zp_in) as f64 * kq[i * n_out + o] as f64 * scales[o] as f64;
            }
            if relu { r = r.max(0.0); }
            let r = r.clamp(out_scale as f64 * (-128 - zp_out) as f64, out_scale as f64 * (127 - zp_out) as f64);
            let got = dequantize(out[o], out_scale, zp_out) as f64;
            prop_assert!((got - r).abs() <= out_scale as f64 * 1.0001);
        }
    }

    #[test]
    fn max_pool_i8_matches_f32_on_codes(x in vec(any::<i8>(), 7 * 5 * 2)) {
        let mut out = vec![0i8; 4 * 3 * 2];
        MaxPool2d::<Same, 7, 5, 2, 3, 2, 4, 3>::new()
            .forward_i8(TensorRef::new(&x).unwrap(), TensorMut::new(&mut out).unwrap());
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let (_, _, want) = reference::pool(&xd, (7, 5, 2), 3, 2, true, true);
        let want: Vec<i8> = want.iter().map(|&v| v as i8).collect();
        prop_assert_eq!(out, want);
    }

    #[test]
    fn avg_pool_i8_rounds_the_mean_half_away(x in vec(any::<i8>(), 7 * 5 * 2)) {
        let mut out = vec![0i8; 4 * 3 * 2];
        AvgPool2d::<Same, 7, 5, 2, 3, 2, 4, 3>::new()
            .forward_i8(TensorRef::new(&x).unwrap(), TensorMut::new(&mut out).unwrap());
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let (_, _, want) = reference::pool(&xd, (7, 5, 2), 3, 2, true, false);
        let want: Vec<i8> = want.iter().map(|&v| v.round() as i8).collect();
        prop_assert_eq!(out, want);
    }

    #[test]
    fn dot_offset_matches_i64(x in vec(any::<i8>(), 0..80), w in vec(any::<u8>(), 80), off in -127i32..=128) {
        let want: i64 = x.iter().zip(&w).map(|(&a, &b)| (a as i64 + off as i64) * (b as i8) as i64).sum();
        prop_assert_eq!(dot_offset(&x, &w, off) as i64, want);
    }

    #[test]
    fn dot_offset_x4_is_four_dot_offsets(
        x in vec(any::<i8>(), 0..100),
        w in proptest::array::uniform4(vec(any::<u8>(), 100)),
        off in -127i32..=128,
    ) {
        let got = dot_offset_x4(&x, [&w[0], &w[1], &w[2], &w[3]], off);
        for j in 0..4 {
            prop_assert_eq!(got[j], dot_offset(&x, &w[j], off));
        }
    }

    #[test]
    fn layouts_are_transposes(v in vec(any::<i8>(), 2 * 3 * 4 * 5)) {
        let mut ohwi = vec![0i8; v.len()];
        hwio_to_ohwi(&v, 2, 3, 4, 5, &mut ohwi).unwrap();
        for y in 0..2 { for x in 0..3 { for i in 0..4 { for o in 0..5 {
            prop_assert_eq!(ohwi[((o * 2 + y) * 3 + x) * 4 + i], v[((y * 3 + x) * 4 + i) * 5 + o]);
        }}}}
        let mut oi = vec![0i8; v.len()];
        io_to_oi(&v, 12, 10, &mut oi).unwrap();
        let mut back = vec![0i8; v.len()];
        io_to_oi(&oi, 10, 12, &mut back).unwrap();
        prop_assert_eq!(back, v);
    }
}

#[test]
fn requant_rejects_bad_parameters() {
    let bias = i32_bytes(&[0, 0]);
    let mults = i32_bytes(&[1 << 30, 1 << 30]);
    assert!(Requant::<2>::new(&bias, &mults, &[0, 0], 0, 0, false).is_ok());
    assert!(matches!(
        Requant::<2>::new(&bias, &mults, &[0, 31], 0, 0, false),
        Err(QuantLayerError::Shift {
            channel: 1,
            shift: 31
        })
    ));
    assert!(matches!(
        Requant::<2>::new(&bias, &mults, &[(-32i8) as u8, 0], 0, 0, false),
        Err(QuantLayerError::Shift {
            channel: 0,
            shift: -32
        })
    ));
    let neg = i32_bytes(&[1 << 30, -5]);
    assert!(matches!(
        Requant::<2>::new(&bias, &neg, &[0, 0], 0, 0, false),
        Err(QuantLayerError::Multiplier {
            channel: 1,
            multiplier: -5
        })
    ));
    assert!(matches!(
        Requant::<2>::new(&bias, &mults, &[0, 0], 128, 0, false),
        Err(QuantLayerError::ZeroPoint(128))
    ));
    assert!(matches!(
        Requant::<2>::new(&bias[..7], &mults, &[0, 0], 0, 0, false),
        Err(QuantLayerError::Length(_))
    ));
    assert!(matches!(
        Requant::<3>::new(&bias, &mults, &[0, 0], 0, 0, false),
        Err(QuantLayerError::Length(_))
    ));
    let rq = Requant::<2>::new(&bias, &mults, &[0, 0], 0, 0, false).unwrap();
    assert!(ConvI8Weights::<3, 1, 2>::new(&[0; 17], rq).is_err());
    assert!(ConvI8Weights::<3, 1, 2>::new(&[0; 18], rq).is_ok());
    assert!(hwio_to_ohwi(&[0i8; 5], 1, 1, 2, 3, &mut [0i8; 6]).is_err());
}
