//! The blob interpreter ([`shared::int8::interpreter`]) against independent references: on
//! MNIST blobs (the committed one and synthetic ones) layer by layer equal to the
//! hand-written `MnistInt8`, with the same arena; on a second architecture (stride-2 'same'
//! convolution, 'same' average pooling, valid convolution without activation, dense) bit-exact
//! with the integer reference layers; and typed errors for bad inputs and blobs.

mod common;

use common::blobs::{int8_blob, random_images, random_weights};
use common::reference::{conv_ref_i8, mbqm, pool};
use common::rng::Rng;
use shared::blob::{
    encode_into, encoded_len, Activation, BlobError, BlobSpec, LayerDesc, LayerKind, LayerQuant,
    LayerRecord, Shape, WeightFormat,
};
use shared::int8::interpreter::{Interpreter, RunError};
use shared::mnist::{MnistInt8, MnistScratchI8, MNIST_PIXELS};
use shared::padding::Padding;
use shared::quant::{quantize_multiplier, QuantParams};

fn committed_blob() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../firmware/model/mnist_int8.blob"
    );
    std::fs::read(path).unwrap()
}

#[test]
fn mnist_blobs_run_exactly_like_the_mnist_network() {
    let w = random_weights(21);
    let images = random_images(22, 12);
    for bytes in [committed_blob(), int8_blob(&w, &images[..6])] {
        let net = MnistInt8::from_blob(&bytes).unwrap();
        let interp = Interpreter::from_blob(&bytes).unwrap();
        assert_eq!(interp.arena_len(), 26 * 26 * 32 + 13 * 13 * 32);
        assert_eq!(
            (interp.input_len(), interp.output_len()),
            (MNIST_PIXELS, 10)
        );
        assert_eq!(interp.layer_count(), 7);
        let mut scratch = Box::new(MnistScratchI8::new());
        let mut arena = vec![0i8; interp.arena_len()];
        for img in &images[6..] {
            let mut want = Vec::new();
            let p = net.predict_observed(img, &mut scratch, |out| want.push(out.data.to_vec()));
            let mut got = Vec::new();
            let scores = interp
                .run_observed(img, &mut arena, |_, out| got.push(out.to_vec()))
                .unwrap();
            assert_eq!(scores, &p.scores[..]);
            assert_eq!(got, want);
            assert_eq!(interp.layer_quant(6), Some(net.output_quant()));
        }
    }
}

struct Weighted {
    kernel: Vec<u8>,
    bias: Vec<u8>,
    scales: Vec<u8>,
    mults: Vec<u8>,
    shifts: Vec<u8>,
}

fn weighted(rng: &mut Rng, n_kernel: usize, co: usize) -> Weighted {
    let kernel = (0..n_kernel)
        .map(|_| ((rng.next_u64() % 255) as i32 - 127) as i8 as u8)
        .collect();
    let bias = (0..co)
        .flat_map(|_| ((rng.next_u64() % 2001) as i32 - 1000).to_le_bytes())
        .collect();
    let (mut mults, mut shifts) = (Vec::new(), Vec::new());
    for _ in 0..co {
        let real = 0.0005 + (rng.next_u64() % 1000) as f64 * 0.00002;
        let (m, s) = quantize_multiplier(real);
        mults.extend(m.to_le_bytes());
        shifts.push(s as i8 as u8);
    }
    Weighted {
        kernel,
        bias,
        scales: (0..co).flat_map(|_| 0.01f32.to_le_bytes()).collect(),
        mults,
        shifts,
    }
}

fn i32s(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// OHWI blob kernel as the reference's HWIO.
fn hwio(ohwi: &[u8], k: usize, ci: usize, co: usize) -> Vec<i8> {
    let mut out = vec![0i8; ohwi.len()];
    for o in 0..co {
        for t in 0..k * k * ci {
            out[t * co + o] = ohwi[o * k * k * ci + t] as i8;
        }
    }
    out
}

fn quant(w: &Weighted, output: QuantParams) -> Option<LayerQuant<'_>> {
    Some(LayerQuant {
        output,
        weight_scales: &w.scales,
        multipliers: &w.mults,
        shifts: &w.shifts,
    })
}

fn rec<'a>(
    kind: LayerKind,
    input: Shape,
    output: Shape,
    w: Option<&'a Weighted>,
    quant: Option<LayerQuant<'a>>,
) -> LayerRecord<'a> {
    LayerRecord {
        desc: LayerDesc {
            kind,
            input,
            output,
        },
        weights: w.map_or(&[][..], |w| &w.kernel),
        bias: w.map_or(&[][..], |w| &w.bias),
        quant,
    }
}

fn encode(spec: &BlobSpec<'_, '_>) -> Vec<u8> {
    let mut bytes = vec![0u8; encoded_len(spec).unwrap()];
    encode_into(spec, &mut bytes).unwrap();
    bytes
}

#[test]
fn a_second_architecture_is_bit_exact_with_the_reference_layers() {
    let mut rng = Rng::new(5);
    let q = |scale: f32, zero_point: i32| QuantParams { scale, zero_point };
    let (q_in, q0, q2, q4) = (q(1.0 / 255.0, -128), q(0.05, -128), q(0.08, 3), q(0.1, -7));
    let conv0 = weighted(&mut rng, 5 * 3 * 3 * 2, 5);
    let conv2 = weighted(&mut rng, 4 * 3 * 3 * 5, 4);
    let dense = weighted(&mut rng, 3 * 4, 3);
    let empty = |output| {
        Some(LayerQuant {
            output,
            weight_scales: &[],
            multipliers: &[],
            shifts: &[],
        })
    };
    let s = Shape::new;
    let conv = |stride, padding, filters, activation| LayerKind::Conv2d {
        kernel: 3,
        stride,
        padding,
        filters,
        activation,
    };
    let layers = [
        rec(
            conv(2, Padding::Same, 5, Activation::Relu),
            s(9, 9, 2),
            s(5, 5, 5),
            Some(&conv0),
            quant(&conv0, q0),
        ),
        rec(
            LayerKind::AvgPool2d {
                pool: 2,
                stride: 2,
                padding: Padding::Same,
            },
            s(5, 5, 5),
            s(3, 3, 5),
            None,
            empty(q0),
        ),
        rec(
            conv(1, Padding::Valid, 4, Activation::None),
            s(3, 3, 5),
            s(1, 1, 4),
            Some(&conv2),
            quant(&conv2, q2),
        ),
        rec(LayerKind::Flatten, s(1, 1, 4), s(1, 1, 4), None, empty(q2)),
        rec(
            LayerKind::Dense {
                units: 3,
                activation: Activation::None,
            },
            s(1, 1, 4),
            s(1, 1, 3),
            Some(&dense),
            quant(&dense, q4),
        ),
    ];
    let spec = BlobSpec {
        format: WeightFormat::Int8,
        input: s(9, 9, 2),
        input_quant: Some(q_in),
        pixels: shared::blob::PixelScaling::Unit,
        layers: &layers,
    };
    let bytes = encode(&spec);
    let interp = Interpreter::from_blob(&bytes).unwrap();
    // Largest input + output: the first convolution, 162 + 125.
    assert_eq!(interp.arena_len(), 9 * 9 * 2 + 5 * 5 * 5);
    let mut arena = vec![0i8; interp.arena_len()];
    for _ in 0..8 {
        let pixels: Vec<u8> = (0..162).map(|_| (rng.next_u64() % 256) as u8).collect();
        let mut x = vec![0i8; 162];
        interp.quantize_pixels(&pixels, &mut x);
        // The references, layer after layer.
        let r0 = conv_ref_i8(
            &x,
            (9, 9, 2),
            &hwio(&conv0.kernel, 3, 2, 5),
            &i32s(&conv0.bias),
            &i32s(&conv0.mults),
            &conv0
                .shifts
                .iter()
                .map(|&v| v as i8 as i32)
                .collect::<Vec<_>>(),
            (q_in.zero_point, q0.zero_point),
            3,
            2,
            true,
            true,
        );
        let xf: Vec<f64> = r0.iter().map(|&v| v as f64).collect();
        let (_, _, avg) = pool(&xf, (5, 5, 5), 2, 2, true, false);
        let r1: Vec<i8> = avg
            .iter()
            .map(|v| v.round().clamp(-128.0, 127.0) as i8)
            .collect();
        let r2 = conv_ref_i8(
            &r1,
            (3, 3, 5),
            &hwio(&conv2.kernel, 3, 5, 4),
            &i32s(&conv2.bias),
            &i32s(&conv2.mults),
            &conv2
                .shifts
                .iter()
                .map(|&v| v as i8 as i32)
                .collect::<Vec<_>>(),
            (q0.zero_point, q2.zero_point),
            3,
            1,
            false,
            false,
        );
        let (bias, mults) = (i32s(&dense.bias), i32s(&dense.mults));
        let r4: Vec<i8> = (0..3)
            .map(|o| {
                let dot: i32 = (0..4)
                    .map(|i| (r2[i] as i32 - q2.zero_point) * dense.kernel[o * 4 + i] as i8 as i32)
                    .sum();
                let v = mbqm(bias[o] + dot, mults[o], dense.shifts[o] as i8 as i32) + q4.zero_point;
                v.clamp(-128, 127) as i8
            })
            .collect();
        let want = [r0, r1, r2.clone(), r2, r4.clone()];
        let mut got = Vec::new();
        let out = interp
            .run_observed(&pixels, &mut arena, |_, o| got.push(o.to_vec()))
            .unwrap();
        assert_eq!(out, &r4[..]);
        assert_eq!(got, want);
    }
    // Bad calls are typed errors.
    assert_eq!(
        interp.run(&[0; 161], &mut arena),
        Err(RunError::InputLength {
            expected: 162,
            found: 161
        })
    );
    let mut small = vec![0i8; interp.arena_len() - 1];
    assert!(matches!(
        interp.run(&[0; 162], &mut small),
        Err(RunError::Arena { .. })
    ));

    // A blob whose shapes do not chain, or whose kernel is short, is refused.
    let mut broken = layers;
    broken[2].desc.input = s(3, 3, 4);
    let spec = BlobSpec {
        layers: &broken,
        ..spec
    };
    let bytes = encode(&spec);
    assert!(matches!(
        Interpreter::from_blob(&bytes),
        Err(BlobError::Quant { layer: Some(2), .. })
    ));
    let mut short = layers;
    short[0].weights = &conv0.kernel[1..];
    let spec = BlobSpec {
        layers: &short,
        ..spec
    };
    let bytes = encode(&spec);
    assert!(Interpreter::from_blob(&bytes).is_err());
}

#[test]
fn float_blobs_and_garbage_are_refused() {
    let w = random_weights(3);
    let f32_blob = common::blobs::float_blob(&w, false);
    assert!(matches!(
        Interpreter::from_blob(&f32_blob),
        Err(BlobError::WrongFormat { .. })
    ));
    assert!(Interpreter::from_blob(b"TCNV").is_err());
}
