//! Blob builders for the MNIST network: float (f32 / f16) blobs from Keras-layout weights and
//! int8 blobs quantized with the crate's `quant` functions after calibrating on images, the way
//! the host's quantizer does it.

use shared::blob::{encode_into, encoded_len, BlobSpec, LayerQuant, LayerRecord, WeightFormat};
use shared::layout::{hwio_to_ohwi, io_to_oi};
use shared::mnist::{MnistF32, MnistScratchF32, MNIST_ARCH, MNIST_INPUT};
use shared::quant::{
    choose_quant_params, quantize_bias, quantize_multiplier, quantize_symmetric, real_multiplier,
    symmetric_scale, QuantParams,
};

use super::rng::Rng;

/// Keras-layout weights of the four weighted layers: conv kernels HWIO, dense `[in][out]`.
#[derive(Clone)]
pub struct MnistWeights {
    /// (kernel, bias) of conv1, conv2, conv3, dense.
    pub layers: [(Vec<f32>, Vec<f32>); 4],
}

/// Layer indices of the weighted layers in `MNIST_ARCH`.
pub const WEIGHTED: [usize; 4] = [0, 2, 4, 6];

/// (kernel length, output channels, fan-in) of the weighted layers.
pub const SHAPES: [(usize, usize, usize); 4] = [
    (3 * 3 * 32, 32, 9),
    (3 * 3 * 32 * 64, 64, 9 * 32),
    (3 * 3 * 64 * 128, 128, 9 * 64),
    (1152 * 10, 10, 1152),
];

/// He-uniform random weights and small random biases, deterministic in `seed`.
pub fn random_weights(seed: u64) -> MnistWeights {
    let mut rng = Rng::new(seed);
    let mut make = |(len, co, fan_in): (usize, usize, usize)| {
        let limit = (6.0 / fan_in as f32).sqrt();
        (rng.vec(len, -limit, limit), rng.vec(co, -0.1, 0.1))
    };
    MnistWeights {
        layers: SHAPES.map(&mut make),
    }
}

/// Random 28×28 "images": blobs of ink on a dark background, deterministic in `seed`.
pub fn random_images(seed: u64, n: usize) -> Vec<[u8; 784]> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let mut img = [0u8; 784];
            for _ in 0..4 {
                let cy = rng.uniform(6.0, 22.0);
                let cx = rng.uniform(6.0, 22.0);
                let r = rng.uniform(2.0, 6.0);
                for y in 0..28 {
                    for x in 0..28 {
                        let d = ((y as f32 - cy).powi(2) + (x as f32 - cx).powi(2)).sqrt();
                        if d < r {
                            img[y * 28 + x] = img[y * 28 + x].max((255.0 * (1.0 - d / r)) as u8);
                        }
                    }
                }
            }
            img
        })
        .collect()
}

fn le_bytes<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

fn encode(spec: &BlobSpec<'_, '_>) -> Vec<u8> {
    let mut out = vec![0u8; encoded_len(spec).unwrap()];
    let n = encode_into(spec, &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

/// An f32 (`f16 == false`) or f16 blob of `w`.
pub fn float_blob(w: &MnistWeights, f16: bool) -> Vec<u8> {
    let bytes: Vec<(Vec<u8>, Vec<u8>)> = w
        .layers
        .iter()
        .map(|(k, b)| {
            if f16 {
                (
                    le_bytes(k, |x| half::f16::from_f32(x).to_le_bytes()),
                    le_bytes(b, |x| half::f16::from_f32(x).to_le_bytes()),
                )
            } else {
                (le_bytes(k, f32::to_le_bytes), le_bytes(b, f32::to_le_bytes))
            }
        })
        .collect();
    let records: Vec<LayerRecord<'_>> = MNIST_ARCH
        .iter()
        .enumerate()
        .map(|(i, desc)| {
            let (weights, bias) = match WEIGHTED.iter().position(|&l| l == i) {
                Some(j) => (&bytes[j].0[..], &bytes[j].1[..]),
                None => (&[][..], &[][..]),
            };
            LayerRecord {
                desc: *desc,
                weights,
                bias,
                quant: None,
            }
        })
        .collect();
    encode(&BlobSpec {
        format: if f16 {
            WeightFormat::F16
        } else {
            WeightFormat::F32
        },
        input: MNIST_INPUT,
        input_quant: None,
        pixels: shared::blob::PixelScaling::Unit,
        layers: &records,
    })
}

/// Per-layer output ranges of the f32 network over `images` (min, max per layer).
pub fn calibrate(w: &MnistWeights, images: &[[u8; 784]]) -> [(f32, f32); 7] {
    let blob = float_blob(w, false);
    let net = MnistF32::from_blob(&blob).unwrap();
    let mut scratch = Box::new(MnistScratchF32::new());
    let mut ranges = [(0f32, 0f32); 7];
    for img in images {
        net.predict_observed(img, &mut scratch, |out| {
            let r = &mut ranges[out.index];
            for &v in out.data {
                r.0 = r.0.min(v);
                r.1 = r.1.max(v);
            }
        });
    }
    ranges
}

/// Everything an int8 weighted layer stores, as owned bytes.
pub struct Int8Layer {
    pub kernel: Vec<u8>,
    pub bias: Vec<u8>,
    pub weight_scales: Vec<u8>,
    pub multipliers: Vec<u8>,
    pub shifts: Vec<u8>,
}

/// Quantizes one weighted layer (Keras layout in) to the blob's int8 layout.
pub fn quantize_layer(
    layer: usize,
    kernel: &[f32],
    bias: &[f32],
    input: QuantParams,
    output: QuantParams,
) -> Int8Layer {
    let co = bias.len();
    let ci_total = kernel.len() / co;
    let scales: Vec<f32> = (0..co)
        .map(|o| {
            let max_abs = (0..ci_total)
                .map(|i| kernel[i * co + o].abs())
                .fold(0f32, f32::max);
            symmetric_scale(max_abs)
        })
        .collect();
    let q: Vec<i8> = kernel
        .iter()
        .enumerate()
        .map(|(i, &v)| quantize_symmetric(v, scales[i % co]))
        .collect();
    let mut reordered = vec![0i8; q.len()];
    if layer == 6 {
        io_to_oi(&q, ci_total, co, &mut reordered).unwrap();
    } else {
        let ci = ci_total / 9;
        hwio_to_ohwi(&q, 3, 3, ci, co, &mut reordered).unwrap();
    }
    let qbias: Vec<i32> = bias
        .iter()
        .zip(&scales)
        .map(|(&b, &s)| quantize_bias(b, input.scale, s))
        .collect();
    let (mults, shifts): (Vec<i32>, Vec<i32>) = scales
        .iter()
        .map(|&s| quantize_multiplier(real_multiplier(input.scale, s, output.scale)))
        .unzip();
    Int8Layer {
        kernel: reordered.iter().map(|&v| v as u8).collect(),
        bias: le_bytes(&qbias, i32::to_le_bytes),
        weight_scales: le_bytes(&scales, f32::to_le_bytes),
        multipliers: le_bytes(&mults, i32::to_le_bytes),
        shifts: shifts.iter().map(|&s| s as i8 as u8).collect(),
    }
}

/// The input quantization of the MNIST int8 models: real input in [0, 1].
pub fn input_quant() -> QuantParams {
    choose_quant_params(0.0, 1.0).unwrap()
}

/// Per-layer output quantization from calibration ranges (pool/flatten inherit their input's).
pub fn layer_quant(ranges: &[(f32, f32); 7]) -> [QuantParams; 7] {
    let conv = |i: usize| choose_quant_params(ranges[i].0, ranges[i].1).unwrap();
    let (q0, q2, q4, q6) = (conv(0), conv(2), conv(4), conv(6));
    [q0, q0, q2, q2, q4, q4, q6]
}

/// An int8 blob of `w`, calibrated on `images`.
pub fn int8_blob(w: &MnistWeights, images: &[[u8; 784]]) -> Vec<u8> {
    let quants = layer_quant(&calibrate(w, images));
    let input = input_quant();
    let layers: Vec<Int8Layer> = WEIGHTED
        .iter()
        .zip(&w.layers)
        .map(|(&l, (k, b))| {
            let in_q = if l == 0 { input } else { quants[l - 1] };
            quantize_layer(l, k, b, in_q, quants[l])
        })
        .collect();
    let records: Vec<LayerRecord<'_>> = MNIST_ARCH
        .iter()
        .enumerate()
        .map(|(i, desc)| match WEIGHTED.iter().position(|&l| l == i) {
            Some(j) => {
                let l = &layers[j];
                LayerRecord {
                    desc: *desc,
                    weights: &l.kernel,
                    bias: &l.bias,
                    quant: Some(LayerQuant {
                        output: quants[i],
                        weight_scales: &l.weight_scales,
                        multipliers: &l.multipliers,
                        shifts: &l.shifts,
                    }),
                }
            }
            None => LayerRecord {
                desc: *desc,
                weights: &[],
                bias: &[],
                quant: Some(LayerQuant {
                    output: quants[i],
                    weight_scales: &[],
                    multipliers: &[],
                    shifts: &[],
                }),
            },
        })
        .collect();
    encode(&BlobSpec {
        format: WeightFormat::Int8,
        input: MNIST_INPUT,
        input_quant: Some(input),
        pixels: shared::blob::PixelScaling::Unit,
        layers: &records,
    })
}
