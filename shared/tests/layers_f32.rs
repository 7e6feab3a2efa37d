//! Property tests of the f32 layers against the independent f64 reference.

mod common;

use common::reference::{self as reference, assert_close, to_f64};
use proptest::collection::vec;
use proptest::prelude::*;
use shared::blob::Activation;
use shared::float::{argmax, softmax, ConvWeights, DenseWeights};
use shared::layers::{AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d};
use shared::padding::{Same, Valid};
use shared::tensor::{TensorMut, TensorRef};
use shared::weights::{F16Le, F32Le};

macro_rules! conv_case {
    ($name:ident, $pad:ty, $same:expr, $h:literal, $w:literal, $ci:literal, $co:literal,
     $k:literal, $s:literal, $oh:literal, $ow:literal) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]
            #[test]
            fn $name(
                input in vec(-2f32..2.0, $h * $w * $ci),
                kernel in vec(-1f32..1.0, $k * $k * $ci * $co),
                bias in vec(-1f32..1.0, $co),
                relu in any::<bool>(),
            ) {
                let layer = Conv2d::<$pad, $h, $w, $ci, $co, $k, $s, $oh, $ow>::new(relu);
                let weights = ConvWeights::<&[f32], $k, $ci, $co>::new(&kernel[..], &bias[..]).unwrap();
                let mut out = vec![0f32; $oh * $ow * $co];
                layer.forward(&weights, TensorRef::new(&input).unwrap(), TensorMut::new(&mut out).unwrap());
                let (oh, ow, want) = reference::conv2d(
                    &to_f64(&input), ($h, $w, $ci), &to_f64(&kernel), &to_f64(&bias), $k, $s, $same, relu);
                prop_assert_eq!((oh, ow), ($oh, $ow));
                assert_close(&out, &want, 1e-5, "conv");
            }
        }
    };
}

conv_case!(conv_valid_k3_s1, Valid, false, 7, 6, 3, 4, 3, 1, 5, 4);
conv_case!(conv_valid_k2_s2, Valid, false, 7, 6, 2, 3, 2, 2, 3, 3);
conv_case!(
    conv_same_k3_s2_asymmetric,
    Same,
    true,
    7,
    6,
    3,
    4,
    3,
    2,
    4,
    3
);
conv_case!(
    conv_same_k4_s1_even_kernel,
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
conv_case!(conv_same_k3_s1, Same, true, 5, 5, 1, 2, 3, 1, 5, 5);
conv_case!(conv_valid_k3_s3, Valid, false, 9, 7, 2, 2, 3, 3, 3, 2);

macro_rules! pool_case {
    ($name:ident, $ty:ident, $max:expr, $pad:ty, $same:expr, $h:literal, $w:literal, $c:literal,
     $k:literal, $s:literal, $oh:literal, $ow:literal) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]
            #[test]
            fn $name(input in vec(-5f32..5.0, $h * $w * $c)) {
                let layer = $ty::<$pad, $h, $w, $c, $k, $s, $oh, $ow>::new();
                let mut out = vec![0f32; $oh * $ow * $c];
                layer.forward(TensorRef::new(&input).unwrap(), TensorMut::new(&mut out).unwrap());
                let (oh, ow, want) = reference::pool(&to_f64(&input), ($h, $w, $c), $k, $s, $same, $max);
                prop_assert_eq!((oh, ow), ($oh, $ow));
                assert_close(&out, &want, 1e-6, "pool");
            }
        }
    };
}

pool_case!(
    max_valid_2_2,
    MaxPool2d,
    true,
    Valid,
    false,
    7,
    6,
    3,
    2,
    2,
    3,
    3
);
pool_case!(
    max_same_overlapping_3_2,
    MaxPool2d,
    true,
    Same,
    true,
    7,
    5,
    2,
    3,
    2,
    4,
    3
);
pool_case!(
    max_same_2_1,
    MaxPool2d,
    true,
    Same,
    true,
    5,
    4,
    2,
    2,
    1,
    5,
    4
);
pool_case!(
    avg_valid_overlapping_3_1,
    AvgPool2d,
    false,
    Valid,
    false,
    6,
    5,
    2,
    3,
    1,
    4,
    3
);
pool_case!(
    avg_same_overlapping_3_2,
    AvgPool2d,
    false,
    Same,
    true,
    7,
    5,
    2,
    3,
    2,
    4,
    3
);
pool_case!(
    avg_same_4_3,
    AvgPool2d,
    false,
    Same,
    true,
    8,
    7,
    1,
    4,
    3,
    3,
    3
);
pool_case!(
    avg_same_window_smaller_than_stride,
    AvgPool2d,
    false,
    Same,
    true,
    7,
    7,
    2,
    1,
    3,
    3,
    3
);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn dense_matches_reference(
        input in vec(-2f32..2.0, 12),
        kernel in vec(-1f32..1.0, 12 * 5),
        bias in vec(-1f32..1.0, 5),
        relu in any::<bool>(),
    ) {
        let layer = Dense::<12, 5>::new(if relu { Activation::Relu } else { Activation::None });
        let weights = DenseWeights::<&[f32], 12, 5>::new(&kernel[..], &bias[..]).unwrap();
        let mut out = [0f32; 5];
        layer.forward(&weights, TensorRef::new(&input).unwrap(), TensorMut::new(&mut out).unwrap());
        let want = reference::dense(&to_f64(&input), &to_f64(&kernel), &to_f64(&bias), relu);
        assert_close(&out, &want, 1e-5, "dense");
    }

    #[test]
    fn flatten_keeps_hwc_order(input in vec(-2f32..2.0, 3 * 2 * 4)) {
        let flat = Flatten::<3, 2, 4, 24>::new().apply(TensorRef::<f32, 3, 2, 4>::new(&input).unwrap());
        prop_assert_eq!(flat.data(), &input[..]);
        let t = TensorRef::<f32, 3, 2, 4>::new(&input).unwrap();
        prop_assert_eq!(*t.get(1, 1, 2).unwrap(), input[(2 + 1) * 4 + 2]);
    }

    #[test]
    fn relu_clamps_negatives(mut x in vec(-5f32..5.0, 1..40)) {
        let orig = x.clone();
        shared::float::relu(&mut x);
        for (a, b) in x.iter().zip(&orig) {
            prop_assert_eq!(*a, if *b > 0.0 { *b } else { 0.0 });
        }
    }

    #[test]
    fn softmax_matches_reference(x in proptest::array::uniform10(-30f32..30.0)) {
        let p = softmax(&x);
        let want = reference::softmax(&to_f64(&x));
        assert_close(&p, &want, 1e-5, "softmax");
        let sum: f32 = p.iter().sum();
        prop_assert!((sum - 1.0).abs() < 1e-5);
    }

    #[test]
    fn argmax_is_first_maximum(x in vec(-100i32..100, 1..30)) {
        let i = argmax(&x);
        let m = *x.iter().max().unwrap();
        prop_assert_eq!(i, x.iter().position(|&v| v == m).unwrap());
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        prop_assert_eq!(argmax(&xf), i);
        let xi: Vec<i8> = x.iter().map(|&v| v as i8).collect();
        prop_assert_eq!(argmax(&xi), i);
    }

    /// Weights read from unaligned little-endian bytes (f32 and f16) give the same results as
    /// the reference on the weights those bytes encode.
    #[test]
    fn conv_from_unaligned_le_and_f16_bytes(
        input in vec(-2f32..2.0, 6 * 5 * 3),
        kernel in vec(-1f32..1.0, 3 * 3 * 3 * 4),
        bias in vec(-1f32..1.0, 4),
        offset in 1usize..4,
    ) {
        let layer = Conv2d::<Same, 6, 5, 3, 4, 3, 1, 6, 5>::new(true);
        let mut out = vec![0f32; 6 * 5 * 4];
        // f32, starting at an odd address.
        let mut kb = vec![0u8; offset];
        kb.extend(kernel.iter().flat_map(|v| v.to_le_bytes()));
        let mut bb = vec![0u8; offset];
        bb.extend(bias.iter().flat_map(|v| v.to_le_bytes()));
        let w = ConvWeights::<F32Le<'_>, 3, 3, 4>::new(
            F32Le::new(&kb[offset..]).unwrap(), F32Le::new(&bb[offset..]).unwrap()).unwrap();
        layer.forward(&w, TensorRef::new(&input).unwrap(), TensorMut::new(&mut out).unwrap());
        let (_, _, want) = reference::conv2d(
            &to_f64(&input), (6, 5, 3), &to_f64(&kernel), &to_f64(&bias), 3, 1, true, true);
        assert_close(&out, &want, 1e-5, "conv f32 bytes");
        // f16: the reference uses the f16-rounded weights.
        let k16: Vec<half::f16> = kernel.iter().map(|&v| half::f16::from_f32(v)).collect();
        let b16: Vec<half::f16> = bias.iter().map(|&v| half::f16::from_f32(v)).collect();
        let mut kb = vec![0u8; offset];
        kb.extend(k16.iter().flat_map(|v| v.to_le_bytes()));
        let mut bb = vec![0u8; offset];
        bb.extend(b16.iter().flat_map(|v| v.to_le_bytes()));
        let w = ConvWeights::<F16Le<'_>, 3, 3, 4>::new(
            F16Le::new(&kb[offset..]).unwrap(), F16Le::new(&bb[offset..]).unwrap()).unwrap();
        layer.forward(&w, TensorRef::new(&input).unwrap(), TensorMut::new(&mut out).unwrap());
        let kf: Vec<f64> = k16.iter().map(|v| v.to_f64()).collect();
        let bf: Vec<f64> = b16.iter().map(|v| v.to_f64()).collect();
        let (_, _, want) = reference::conv2d(&to_f64(&input), (6, 5, 3), &kf, &bf, 3, 1, true, true);
        assert_close(&out, &want, 1e-5, "conv f16 bytes");
    }
}

#[test]
fn weight_sets_reject_wrong_lengths() {
    let k = vec![0f32; 3 * 3 * 2 * 4];
    let b = [0f32; 4];
    assert!(ConvWeights::<&[f32], 3, 2, 4>::new(&k[..], &b[..]).is_ok());
    let e = ConvWeights::<&[f32], 3, 2, 4>::new(&k[1..], &b[..]).unwrap_err();
    assert_eq!((e.tensor, e.expected, e.found), ("kernel", 72, 71));
    let e = ConvWeights::<&[f32], 3, 2, 4>::new(&k[..], &b[1..]).unwrap_err();
    assert_eq!((e.tensor, e.expected, e.found), ("bias", 4, 3));
    assert!(DenseWeights::<&[f32], 18, 4>::new(&k[..], &b[..]).is_ok());
    assert!(DenseWeights::<&[f32], 18, 5>::new(&k[..], &b[..]).is_err());
    assert!(F32Le::new(&[0u8; 7]).is_none());
    assert!(F16Le::new(&[0u8; 3]).is_none());
    assert!(TensorRef::<f32, 2, 2, 2>::new(&k[..7]).is_none());
}

#[test]
fn f16_widening_is_exact_for_every_bit_pattern() {
    for bits in 0..=u16::MAX {
        let want = half::f16::from_bits(bits).to_f32();
        let got = shared::weights::f16_bits_to_f32(bits);
        if want.is_nan() {
            assert!(got.is_nan(), "{bits:#06x}");
        } else {
            assert_eq!(got.to_bits(), want.to_bits(), "{bits:#06x}");
        }
    }
}

#[test]
fn relu_layer_f32_and_int8() {
    let layer = shared::layers::Relu::<1, 2, 2>::new();
    let mut x = [-1.0f32, 2.0, 0.0, -0.5];
    layer.forward(TensorMut::new(&mut x).unwrap());
    assert_eq!(x, [0.0, 2.0, 0.0, 0.0]);
    let mut q = [-128i8, -5, -3, 100];
    layer.forward_i8(TensorMut::new(&mut q).unwrap(), -4);
    assert_eq!(q, [-4, -4, -3, 100]);
    assert_eq!(layer.desc().output, shared::blob::Shape::new(1, 2, 2));
}
