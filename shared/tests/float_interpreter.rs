//! The float interpreter ([`shared::float::interpreter`]) against the plain-f64 reference
//! layers, on an architecture unlike MNIST's (a 'same' stride-2 convolution on RGB input with a
//! folded `Rescaling`, overlapping 'valid' max pooling, 'same' average pooling, a ReLU layer,
//! flatten, a linear dense layer, a second flatten, a one-unit sigmoid dense layer), with f32
//! and f16 weights; and
//! typed errors for bad blobs, inputs and arenas.

mod common;

use common::reference::{conv2d, dense, pool, to_f64};
use common::rng::Rng;
use shared::blob::{
    encode_into, encoded_len, Activation, BlobError, BlobSpec, LayerDesc, LayerKind, LayerRecord,
    Shape, WeightFormat,
};
use shared::float::interpreter::{FloatInterpreter, InterpreterF16, InterpreterF32};
use shared::int8::interpreter::RunError;
use shared::padding::Padding;
use shared::quant::PixelScaling;
use shared::weights::{f16_bits_to_f32, FromBlobBytes};

/// Weights of one layer as the reference sees them (f64) and as the blob stores them.
struct Weights {
    kernel: Vec<f64>,
    bias: Vec<f64>,
    kernel_bytes: Vec<u8>,
    bias_bytes: Vec<u8>,
}

/// Random weights in `[-0.5, 0.5)`; with `f16`, rounded to binary16 (the reference then uses
/// exactly the stored values).
fn weights(rng: &mut Rng, n_kernel: usize, n_bias: usize, f16: bool) -> Weights {
    let mut enc = |n: usize| -> (Vec<f64>, Vec<u8>) {
        let v = rng.vec(n, -0.5, 0.5);
        if f16 {
            let bits: Vec<u16> = v
                .iter()
                .map(|&x| half::f16::from_f32(x).to_bits())
                .collect();
            let vals = bits.iter().map(|&b| f16_bits_to_f32(b) as f64).collect();
            (vals, bits.iter().flat_map(|b| b.to_le_bytes()).collect())
        } else {
            (to_f64(&v), v.iter().flat_map(|x| x.to_le_bytes()).collect())
        }
    };
    let (kernel, kernel_bytes) = enc(n_kernel);
    let (bias, bias_bytes) = enc(n_bias);
    Weights {
        kernel,
        bias,
        kernel_bytes,
        bias_bytes,
    }
}

fn rec<'a>(
    kind: LayerKind,
    input: Shape,
    output: Shape,
    w: Option<&'a Weights>,
) -> LayerRecord<'a> {
    LayerRecord {
        desc: LayerDesc {
            kind,
            input,
            output,
        },
        weights: w.map_or(&[][..], |w| &w.kernel_bytes),
        bias: w.map_or(&[][..], |w| &w.bias_bytes),
        quant: None,
    }
}

fn encode(format: WeightFormat, pixels: PixelScaling, layers: &[LayerRecord<'_>]) -> Vec<u8> {
    let spec = BlobSpec {
        format,
        input: Shape::new(9, 9, 3),
        input_quant: None,
        pixels,
        layers,
    };
    let mut bytes = vec![0u8; encoded_len(&spec).unwrap()];
    encode_into(&spec, &mut bytes).unwrap();
    bytes
}

const PIXELS: PixelScaling = PixelScaling::Rescale {
    scale: 1.0 / 127.5,
    offset: -1.0,
};

/// The test network's layers and weights.
struct Net {
    conv0: Weights,
    dense5: Weights,
    dense7: Weights,
}

impl Net {
    fn new(seed: u64, f16: bool) -> Self {
        let mut rng = Rng::new(seed);
        Self {
            conv0: weights(&mut rng, 3 * 3 * 3 * 6, 6, f16),
            dense5: weights(&mut rng, 2 * 2 * 6 * 4, 4, f16),
            dense7: weights(&mut rng, 4, 1, f16),
        }
    }

    fn layers(&self) -> Vec<LayerRecord<'_>> {
        let s = Shape::new;
        let conv = |kernel, stride, padding, filters, activation| LayerKind::Conv2d {
            kernel,
            stride,
            padding,
            filters,
            activation,
        };
        vec![
            rec(
                conv(3, 2, Padding::Same, 6, Activation::Relu),
                s(9, 9, 3),
                s(5, 5, 6),
                Some(&self.conv0),
            ),
            rec(
                LayerKind::MaxPool2d {
                    pool: 3,
                    stride: 1,
                    padding: Padding::Valid,
                },
                s(5, 5, 6),
                s(3, 3, 6),
                None,
            ),
            rec(
                LayerKind::AvgPool2d {
                    pool: 2,
                    stride: 2,
                    padding: Padding::Same,
                },
                s(3, 3, 6),
                s(2, 2, 6),
                None,
            ),
            rec(LayerKind::Relu, s(2, 2, 6), s(2, 2, 6), None),
            rec(LayerKind::Flatten, s(2, 2, 6), s(1, 1, 24), None),
            rec(
                LayerKind::Dense {
                    units: 4,
                    activation: Activation::None,
                },
                s(1, 1, 24),
                s(1, 1, 4),
                Some(&self.dense5),
            ),
            rec(LayerKind::Flatten, s(1, 1, 4), s(1, 1, 4), None),
            rec(
                LayerKind::Dense {
                    units: 1,
                    activation: Activation::Sigmoid,
                },
                s(1, 1, 4),
                s(1, 1, 1),
                Some(&self.dense7),
            ),
        ]
    }

    /// Every layer's output by the f64 reference.
    fn reference(&self, pixels: &[u8]) -> Vec<Vec<f64>> {
        let x: Vec<f64> = pixels.iter().map(|&p| p as f64 / 127.5 - 1.0).collect();
        let (_, _, a0) = conv2d(
            &x,
            (9, 9, 3),
            &self.conv0.kernel,
            &self.conv0.bias,
            3,
            2,
            true,
            true,
        );
        let (_, _, a1) = pool(&a0, (5, 5, 6), 3, 1, false, true);
        let (_, _, a2) = pool(&a1, (3, 3, 6), 2, 2, true, false);
        let a3: Vec<f64> = a2.iter().map(|v| v.max(0.0)).collect();
        let a5 = dense(&a3, &self.dense5.kernel, &self.dense5.bias, false);
        let a7 = dense(&a5, &self.dense7.kernel, &self.dense7.bias, false);
        vec![a0, a1, a2, a3.clone(), a3, a5.clone(), a5, a7]
    }
}

/// Checks the bound network's plan, runs it on `pixels` with every layer's output pushed to
/// `got`, and returns its class and logit.
fn run<'a, S: FromBlobBytes<'a>>(
    interp: &FloatInterpreter<'a, S>,
    pixels: &[u8],
    got: &mut Vec<Vec<f32>>,
) -> (usize, f32) {
    assert_eq!(interp.output_activation(), Activation::Sigmoid);
    assert_eq!((interp.input_len(), interp.output_len()), (243, 1));
    // The largest input + output: the 243-value input and conv0's 150 outputs.
    assert_eq!(interp.arena_len(), 243 + 150);
    let mut arena = vec![0f32; interp.arena_len()];
    let out = interp
        .run_observed(pixels, &mut arena, |_, o| got.push(o.to_vec()))
        .unwrap();
    (interp.class_of(out), out[0])
}

#[test]
fn a_second_architecture_matches_the_f64_reference() {
    for f16 in [false, true] {
        let net = Net::new(11, f16);
        let layers = net.layers();
        let format = if f16 {
            WeightFormat::F16
        } else {
            WeightFormat::F32
        };
        let blob = encode(format, PIXELS, &layers);
        let mut rng = Rng::new(12);
        let mut outputs = Vec::new();
        let mut classes = [0usize; 2];
        for _ in 0..20 {
            let pixels: Vec<u8> = (0..9 * 9 * 3).map(|_| rng.next_u64() as u8).collect();
            let want = net.reference(&pixels);
            let mut got = Vec::new();
            let (class, logit) = if f16 {
                run(
                    &InterpreterF16::from_blob(&blob).unwrap(),
                    &pixels,
                    &mut got,
                )
            } else {
                run(
                    &InterpreterF32::from_blob(&blob).unwrap(),
                    &pixels,
                    &mut got,
                )
            };
            assert_eq!(got.len(), want.len());
            for (layer, (g, w)) in got.iter().zip(&want).enumerate() {
                common::reference::assert_close(g, w, 1e-5, &format!("f16={f16} layer {layer}"));
            }
            assert_eq!(class, usize::from(logit > 0.0));
            classes[class] += 1;
            outputs.push(logit);
        }
        // Both answers occur: the sigmoid class is not a constant.
        assert!(classes[0] > 0 && classes[1] > 0, "{classes:?} {outputs:?}");
    }
}

#[test]
fn run_real_takes_the_real_input() {
    let net = Net::new(3, false);
    let blob = encode(WeightFormat::F32, PIXELS, &net.layers());
    let interp = InterpreterF32::from_blob(&blob).unwrap();
    let pixels: Vec<u8> = (0..243).map(|i| (i * 7) as u8).collect();
    let real: Vec<f32> = pixels.iter().map(|&p| PIXELS.real(p)).collect();
    let mut a = vec![0f32; interp.arena_len()];
    let mut b = vec![0f32; interp.arena_len()];
    let from_pixels = interp.run(&pixels, &mut a).unwrap().to_vec();
    let from_real = interp.run_real(&real, &mut b, |_, _| {}).unwrap();
    assert_eq!(from_pixels, from_real);
}

#[test]
fn bad_blobs_inputs_and_arenas_are_typed_errors() {
    let net = Net::new(5, false);
    let layers = net.layers();
    let blob = encode(WeightFormat::F32, PIXELS, &layers);
    // An f32 blob is not an f16 one.
    assert!(matches!(
        InterpreterF16::from_blob(&blob),
        Err(BlobError::WrongFormat {
            expected: WeightFormat::F16,
            found: WeightFormat::F32
        })
    ));
    // A kernel one value short names the layer and the array.
    let mut short = layers.clone();
    short[5].weights = &net.dense5.kernel_bytes[4..];
    let err = InterpreterF32::from_blob(&encode(WeightFormat::F32, PIXELS, &short)).unwrap_err();
    assert_eq!(err.layer(), Some(5), "{err}");
    assert!(err.to_string().contains("kernel"), "{err}");
    // A bias that is not a whole number of f32 values.
    let mut odd = layers.clone();
    odd[0].bias = &net.conv0.bias_bytes[1..];
    assert!(matches!(
        InterpreterF32::from_blob(&encode(WeightFormat::F32, PIXELS, &odd)),
        Err(BlobError::ByteLength {
            layer: 0,
            tensor: "bias",
            ..
        })
    ));
    // Weights on a pooling layer.
    let mut pool_weights = layers.clone();
    pool_weights[1].weights = &net.conv0.kernel_bytes;
    assert_eq!(
        InterpreterF32::from_blob(&encode(WeightFormat::F32, PIXELS, &pool_weights))
            .unwrap_err()
            .layer(),
        Some(1)
    );
    // A shape that does not follow (the plan both interpreters share).
    let mut wrong_shape = layers.clone();
    wrong_shape[1].desc.output = Shape::new(4, 4, 6);
    assert_eq!(
        InterpreterF32::from_blob(&encode(WeightFormat::F32, PIXELS, &wrong_shape))
            .unwrap_err()
            .layer(),
        Some(1)
    );
    // Sigmoid before the last layer.
    let mut early = layers.clone();
    early[5].desc.kind = LayerKind::Dense {
        units: 4,
        activation: Activation::Sigmoid,
    };
    assert_eq!(
        InterpreterF32::from_blob(&encode(WeightFormat::F32, PIXELS, &early))
            .unwrap_err()
            .layer(),
        Some(5)
    );
    // More layers than the capacity.
    assert!(matches!(
        InterpreterF32::<4>::bind(&blob),
        Err(BlobError::TooManyLayers { found: 8, max: 4 })
    ));
    let interp = InterpreterF32::from_blob(&blob).unwrap();
    let mut arena = vec![0f32; interp.arena_len()];
    assert_eq!(
        interp.run(&[0; 242], &mut arena).unwrap_err(),
        RunError::InputLength {
            expected: 243,
            found: 242
        }
    );
    assert_eq!(
        interp.run(&[0; 243], &mut arena[1..]).unwrap_err(),
        RunError::Arena {
            needed: 393,
            found: 392
        }
    );
}
