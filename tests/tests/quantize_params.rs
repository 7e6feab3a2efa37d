//! The int8 blob's parameters, checked against the float model with the quantization scheme's
//! definitions written out here (not `shared::quant`): per output channel, the weight scale is
//! `max|w| / 127`, every weight is the nearest multiple of it, the kernel is stored OHWI /
//! `[out][in]`; biases are `round(b / (input_scale * weight_scale))`; the multiplier and shift
//! encode `input_scale * weight_scale / output_scale`; activation parameters cover the
//! calibrated ranges with 0 exactly representable.

mod quantize_harness;

use host::model::Model;
use host::quantize::{export, ExportFormat, RangeMethod};
use quantize_harness::mnist;
use shared::blob::{Blob, LayerKind};

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn i32s(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// An untrained MNIST convnet with non-zero biases (so that bias quantization is exercised).
fn model() -> Model {
    let mut m = host::zoo::mnist_convnet().build(3).unwrap();
    let mut params = m.params().to_vec();
    for (l, ps) in params.iter_mut().enumerate() {
        if let Some(bias) = ps.iter_mut().find(|p| p.name == "bias") {
            for (i, b) in bias.values.iter_mut().enumerate() {
                *b = ((i * 7 + l) % 13) as f32 * 0.01 - 0.06;
            }
        }
    }
    m.set_params(params).unwrap();
    m
}

#[test]
fn int8_parameters_follow_the_scheme() {
    let model = model();
    let calibration = host::quantize::calibrate::sample(&mnist().train.images, 784, 64);
    let e = export(
        &model,
        &[ExportFormat::Int8],
        &calibration,
        RangeMethod::MinMax,
    )
    .unwrap()
    .remove(0);
    let cal = e.calibration.as_ref().unwrap();
    let blob = Blob::decode(&e.blob).unwrap();
    let input_q = blob.header().input_quant.unwrap();
    assert_eq!(input_q.zero_point, -128);
    assert!((input_q.scale as f64 - 1.0 / 255.0).abs() < 1e-9);

    let weighted: Vec<usize> = vec![0, 2, 4, 6];
    let mut in_q = input_q;
    for (i, record) in blob.layers().enumerate() {
        let q = record.quant.unwrap();
        let out_q = q.output;
        // Activation parameters: the range [min(lo, 0), max(hi, 0)] fits in -128..=127 and
        // real 0 is a code.
        let r = cal.ranges[i];
        let (lo, hi) = (r.min.min(0.0) as f64, r.max.max(0.0) as f64);
        let s = out_q.scale as f64;
        let zp = out_q.zero_point as f64;
        assert!((-128.0..=127.0).contains(&zp), "layer {i}");
        if weighted.contains(&i) {
            assert!(
                ((hi - lo) / 255.0 - s).abs() <= 1e-6 * s,
                "layer {i}: scale {s}"
            );
            assert!(lo / s + zp >= -128.5 && hi / s + zp <= 127.5, "layer {i}");
        } else {
            assert_eq!(
                out_q, in_q,
                "layer {i}: weightless layers keep their input's"
            );
            in_q = out_q;
            continue;
        }
        let params = &model.params()[i];
        let (kernel, bias) = (&params[0].values, &params[1].values);
        let out = bias.len();
        let scales = f32s(q.weight_scales);
        let mults = i32s(q.multipliers);
        let biases = i32s(record.bias);
        assert_eq!((scales.len(), mults.len(), biases.len()), (out, out, out));
        let weights: Vec<i8> = record.weights.iter().map(|&b| b as i8).collect();
        let fan_in = kernel.len() / out;
        for c in 0..out {
            let max_abs = (0..fan_in)
                .map(|j| kernel[j * out + c].abs())
                .fold(0f32, f32::max);
            let ws = scales[c] as f64;
            assert!(
                (ws - max_abs as f64 / 127.0).abs() <= 1e-6 * ws,
                "layer {i} channel {c}"
            );
            let mut max_q = 0;
            for j in 0..fan_in {
                // Keras index j*out + c (HWIO with j = (ky, kx, ci) or [in][out] with j = in);
                // blob index c*fan_in + j (OHWI / [out][in]).
                let w = kernel[j * out + c] as f64;
                let qv = weights[c * fan_in + j] as f64;
                assert!(
                    (qv * ws - w).abs() <= ws / 2.0 + 1e-7,
                    "layer {i} channel {c} weight {j}: {qv} * {ws} vs {w}"
                );
                max_q = max_q.max(qv.abs() as i32);
            }
            assert_eq!(
                max_q, 127,
                "layer {i} channel {c}: the largest weight maps to ±127"
            );
            let bs = in_q.scale as f64 * ws;
            assert!(
                (biases[c] as f64 * bs - bias[c] as f64).abs() <= bs / 2.0 + 1e-9,
                "layer {i} channel {c}: bias"
            );
            let real = in_q.scale as f64 * ws / out_q.scale as f64;
            let shift = q.shifts[c] as i8 as i32;
            assert!(
                (1 << 30..=i32::MAX).contains(&mults[c]),
                "layer {i} channel {c}"
            );
            let encoded = mults[c] as f64 * 2f64.powi(shift - 31);
            assert!(
                (encoded - real).abs() <= real * 2f64.powi(-30),
                "layer {i} channel {c}: {encoded} vs {real}"
            );
        }
        if let LayerKind::Conv2d { kernel: k, .. } = record.desc.kind {
            assert_eq!(fan_in, (k * k * record.desc.input.c) as usize);
        }
        in_q = out_q;
    }
}

#[test]
fn float_blobs_hold_the_model_weights() {
    let model = model();
    let exports = export(
        &model,
        &[ExportFormat::F32, ExportFormat::F16],
        &[],
        RangeMethod::MinMax,
    )
    .unwrap();
    for e in &exports {
        let blob = Blob::decode(&e.blob).unwrap();
        for (i, record) in blob.layers().enumerate() {
            let params = &model.params()[i];
            if params.is_empty() {
                assert!(record.weights.is_empty() && record.bias.is_empty());
                continue;
            }
            let decode = |bytes: &[u8]| -> Vec<f32> {
                match e.format {
                    ExportFormat::F32 => f32s(bytes),
                    _ => bytes
                        .chunks_exact(2)
                        .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                        .collect(),
                }
            };
            for (stored, p) in [(record.weights, &params[0]), (record.bias, &params[1])] {
                let got = decode(stored);
                assert_eq!(got.len(), p.values.len());
                for (g, w) in got.iter().zip(&p.values) {
                    if e.format == ExportFormat::F32 {
                        assert_eq!(g.to_bits(), w.to_bits());
                    } else {
                        // binary16: 11 significant bits; relative error at most 2^-11 for
                        // normal values, absolute 2^-25 near zero.
                        assert!((g - w).abs() <= w.abs() * 2f32.powi(-11) + 2f32.powi(-25));
                    }
                }
            }
        }
    }
}

#[test]
fn dropout_is_left_out_of_the_blob() {
    use host::layers::Activation::{Relu, Softmax};
    use host::layers::{Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Shape};
    let plain = model();
    let mut with_dropout = host::sequential::Sequential::new(Shape::image(28, 28, 1))
        .add(Conv2D::new(32, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(64, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(128, 3).activation(Relu))
        .add(Flatten)
        .add(Dropout::new(0.5))
        .add(Dense::new(10).activation(Softmax))
        .build(0)
        .unwrap();
    let mut params = plain.params().to_vec();
    params.insert(6, Vec::new());
    with_dropout.set_params(params).unwrap();
    let calibration = host::quantize::calibrate::sample(&mnist().train.images, 784, 16);
    let blobs = |m: &Model| -> Vec<Vec<u8>> {
        export(m, &ExportFormat::ALL, &calibration, RangeMethod::MinMax)
            .unwrap()
            .into_iter()
            .map(|e| e.blob)
            .collect()
    };
    assert_eq!(blobs(&with_dropout), blobs(&plain));
}
