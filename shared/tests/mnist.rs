//! The MNIST network views against independent references: the f32/f16 networks against an
//! f64 composition of the reference layers, the int8 network layer by layer against the
//! integer reference (bit-exact) and against the f32 network.

mod common;

use common::blobs::{
    calibrate, float_blob, input_quant, int8_blob, layer_quant, random_images, random_weights,
    MnistWeights,
};
use common::reference::{self as reference, conv_ref_i8, mbqm, to_f64};
use shared::blob::{Blob, LayerKind};
use shared::mnist::{
    MnistF16, MnistF32, MnistInt8, MnistScratchF32, MnistScratchI8, ARENA_A, ARENA_B, MNIST_ARCH,
    MNIST_F32_RAM_BYTES, MNIST_F32_SCRATCH_BYTES, MNIST_INT8_RAM_BYTES, MNIST_INT8_SCRATCH_BYTES,
};

/// The f64 reference network on Keras-layout weights.
fn reference_logits(w: &MnistWeights, image: &[u8; 784], round_f16: bool) -> Vec<f64> {
    let cvt = |v: &[f32]| -> Vec<f64> {
        v.iter()
            .map(|&x| {
                if round_f16 {
                    half::f16::from_f32(x).to_f64()
                } else {
                    x as f64
                }
            })
            .collect()
    };
    let l = &w.layers;
    let x: Vec<f64> = image.iter().map(|&p| p as f64 / 255.0).collect();
    let (_, _, x) = reference::conv2d(
        &x,
        (28, 28, 1),
        &cvt(&l[0].0),
        &cvt(&l[0].1),
        3,
        1,
        false,
        true,
    );
    let (_, _, x) = reference::pool(&x, (26, 26, 32), 2, 2, false, true);
    let (_, _, x) = reference::conv2d(
        &x,
        (13, 13, 32),
        &cvt(&l[1].0),
        &cvt(&l[1].1),
        3,
        1,
        false,
        true,
    );
    let (_, _, x) = reference::pool(&x, (11, 11, 64), 2, 2, false, true);
    let (_, _, x) = reference::conv2d(
        &x,
        (5, 5, 64),
        &cvt(&l[2].0),
        &cvt(&l[2].1),
        3,
        1,
        false,
        true,
    );
    reference::dense(&x, &cvt(&l[3].0), &cvt(&l[3].1), false)
}

#[test]
fn ram_constants() {
    assert_eq!((ARENA_A, ARENA_B), (5408, 21632));
    assert_eq!(MNIST_INT8_SCRATCH_BYTES, 27_040);
    assert_eq!(MNIST_F32_SCRATCH_BYTES, 108_160);
    // Arena plus the network view (slices into the blob; int8 adds a 256-byte input table).
    let view8 = std::mem::size_of::<MnistInt8<'static>>();
    let view32 = std::mem::size_of::<MnistF32<'static>>();
    eprintln!("int8 RAM {MNIST_INT8_RAM_BYTES} (view {view8}), f32 RAM {MNIST_F32_RAM_BYTES} (view {view32})");
    assert_eq!(MNIST_INT8_RAM_BYTES, MNIST_INT8_SCRATCH_BYTES + view8);
    assert_eq!(MNIST_F32_RAM_BYTES, MNIST_F32_SCRATCH_BYTES + view32);
    assert!((256..1024).contains(&view8), "{view8}");
    // The float interpreter's plan of seven layers (window geometry and weight views each).
    assert!(view32 < 1024, "{view32}");
}

#[test]
fn float_networks_match_the_f64_reference() {
    let w = random_weights(7);
    let images = random_images(8, 3);
    let b32 = float_blob(&w, false);
    let b16 = float_blob(&w, true);
    let n32 = MnistF32::from_blob(&b32).unwrap();
    let n16 = MnistF16::from_blob(&b16).unwrap();
    let mut scratch = Box::new(MnistScratchF32::new());
    for img in &images {
        for (f16, net_probs) in [
            (false, n32.predict(img, &mut scratch)),
            (true, n16.predict(img, &mut scratch)),
        ] {
            let logits = reference_logits(&w, img, f16);
            let probs = reference::softmax(&logits);
            reference::assert_close(&net_probs.probabilities, &probs, 1e-4, "probabilities");
            let best = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            assert_eq!(net_probs.digit as usize, best);
        }
        // Observed logits equal the reference's too.
        let logits = reference_logits(&w, img, false);
        let mut seen = Vec::new();
        n32.predict_observed(img, &mut scratch, |out| {
            assert_eq!(out.data.len(), MNIST_ARCH[out.index].output.len());
            seen.push(out.index);
            if out.index == 6 {
                reference::assert_close(out.data, &logits, 1e-4, "logits");
            }
        });
        assert_eq!(seen, [0, 1, 2, 3, 4, 5, 6]);
    }
}

/// Runs one int8 layer of the reference on the previous observed output.
fn reference_layer_i8(blob: &Blob<'_>, index: usize, input: &[i8], input_zp: i32) -> Vec<i8> {
    let record = blob.layers().nth(index).unwrap();
    let desc = record.desc;
    let i32s = |b: &[u8]| -> Vec<i32> {
        b.chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    match desc.kind {
        LayerKind::Conv2d {
            kernel, filters, ..
        } => {
            let q = record.quant.unwrap();
            let (k, co, ci) = (kernel as usize, filters as usize, desc.input.c as usize);
            // Blob kernels are OHWI; the reference takes HWIO.
            let mut hwio = vec![0i8; record.weights.len()];
            for o in 0..co {
                for y in 0..k {
                    for x in 0..k {
                        for i in 0..ci {
                            hwio[((y * k + x) * ci + i) * co + o] =
                                record.weights[((o * k + y) * k + x) * ci + i] as i8;
                        }
                    }
                }
            }
            let shifts: Vec<i32> = q.shifts.iter().map(|&s| s as i8 as i32).collect();
            conv_ref_i8(
                input,
                (desc.input.h as usize, desc.input.w as usize, ci),
                &hwio,
                &i32s(record.bias),
                &i32s(q.multipliers),
                &shifts,
                (input_zp, q.output.zero_point),
                k,
                1,
                false,
                true,
            )
        }
        LayerKind::MaxPool2d { .. } => {
            let xd: Vec<f64> = input.iter().map(|&v| v as f64).collect();
            let (h, w, c) = (
                desc.input.h as usize,
                desc.input.w as usize,
                desc.input.c as usize,
            );
            let (_, _, out) = reference::pool(&xd, (h, w, c), 2, 2, false, true);
            out.iter().map(|&v| v as i8).collect()
        }
        LayerKind::Flatten => input.to_vec(),
        LayerKind::Dense { units, .. } => {
            let q = record.quant.unwrap();
            let n_in = input.len();
            let (bias, mults) = (i32s(record.bias), i32s(q.multipliers));
            (0..units as usize)
                .map(|o| {
                    let acc: i64 = bias[o] as i64
                        + (0..n_in)
                            .map(|i| {
                                (input[i] as i64 - input_zp as i64)
                                    * record.weights[o * n_in + i] as i8 as i64
                            })
                            .sum::<i64>();
                    let v = mbqm(acc as i32, mults[o], q.shifts[o] as i8 as i32) as i64
                        + q.output.zero_point as i64;
                    v.clamp(-128, 127) as i8
                })
                .collect()
        }
        other => panic!("unexpected layer {other:?}"),
    }
}

#[test]
fn int8_network_is_bit_exact_with_the_integer_reference_layer_by_layer() {
    let w = random_weights(11);
    let images = random_images(12, 16);
    let bytes = int8_blob(&w, &images[..8]);
    let blob = Blob::decode(&bytes).unwrap();
    let net = MnistInt8::from_decoded(&blob).unwrap();
    let mut scratch = Box::new(MnistScratchI8::new());
    for img in &images[8..12] {
        let mut q = [0i8; 784];
        net.quantize_image(img, &mut q);
        let mut prev = q.to_vec();
        let mut prev_zp = net.input_quant().zero_point;
        let p = net.predict_observed(img, &mut scratch, |out| {
            let want = reference_layer_i8(&blob, out.index, &prev, prev_zp);
            assert_eq!(out.data, &want[..], "layer {}", out.index);
            prev = out.data.to_vec();
            prev_zp = out.quant.unwrap().zero_point;
        });
        assert_eq!(&p.scores[..], &prev[..]);
        // The already-quantized entry point gives the same result.
        assert_eq!(net.predict_quantized(&q, &mut scratch, |_| {}), p);
    }
}

#[test]
fn int8_network_tracks_the_f32_network() {
    let w = random_weights(21);
    let images = random_images(22, 48);
    // Calibrate on every image so that no activation saturates: what remains is rounding error.
    let (calib, test) = (&images[..], &images[16..]);
    let quants = layer_quant(&calibrate(&w, calib));
    let bytes = int8_blob(&w, calib);
    let net8 = MnistInt8::from_blob(&bytes).unwrap();
    assert_eq!(net8.input_quant(), input_quant());
    assert_eq!(*net8.layer_quant(), quants);
    let b32 = float_blob(&w, false);
    let net32 = MnistF32::from_blob(&b32).unwrap();
    let mut s8 = Box::new(MnistScratchI8::new());
    let mut s32 = Box::new(MnistScratchF32::new());
    let mut agree = 0;
    let out_scale = net8.output_quant().scale;
    for img in test {
        let p8 = net8.predict(img, &mut s8);
        let mut logits32 = Vec::new();
        let p32 = net32.predict_observed(img, &mut s32, |o| {
            if o.index == 6 {
                logits32 = o.data.to_vec();
            }
        });
        let deq: Vec<f32> = p8
            .scores
            .iter()
            .map(|&q| net8.output_quant().dequantize(q))
            .collect();
        // Rounding errors of five quantized tensors accumulate: 3.5 steps at most here (fixed
        // seeds), asserted with margin.
        for (a, b) in deq.iter().zip(&logits32) {
            assert!(
                (a - b).abs() <= 6.0 * out_scale,
                "int8 {a} vs f32 {b} (step {out_scale})"
            );
        }
        let probs = net8.probabilities(&p8.scores);
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        agree += usize::from(p8.digit == p32.digit);
    }
    assert!(
        agree * 10 >= test.len() * 9,
        "agreement {agree}/{}",
        test.len()
    );
    let _ = to_f64(&[0.0]);
}
