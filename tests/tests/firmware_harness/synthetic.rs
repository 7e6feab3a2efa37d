//! Deterministic stand-ins for the exported model and the MNIST digits: an int8 MNIST blob with
//! pseudo-random weights (encoded with `shared`'s blob encoder) and pseudo-random stroke images.
//! They exercise every layer of the firmware's int8 path without training or data files.

use shared::blob::{
    encode_into, encoded_len, BlobSpec, LayerKind, LayerQuant, LayerRecord, WeightFormat,
};
use shared::mnist::{MNIST_ARCH, MNIST_INPUT};
use shared::quant::{quantize_multiplier, real_multiplier, QuantParams};

use super::PIXELS;

/// SplitMix64: a tiny deterministic generator (no dependency, same sequence everywhere).
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    /// Uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Per-layer byte arrays of one weighted layer (kept alive while the blob is encoded).
struct Weighted {
    kernel: Vec<u8>,
    bias: Vec<u8>,
    weight_scales: Vec<u8>,
    multipliers: Vec<u8>,
    shifts: Vec<u8>,
    output: QuantParams,
}

/// Random int8 weights for a layer with `fan_in` inputs per output and `co` outputs, scaled so
/// that the output codes spread over the int8 range instead of saturating.
fn weighted(
    rng: &mut SplitMix64,
    fan_in: usize,
    co: usize,
    input: QuantParams,
    relu: bool,
) -> Weighted {
    let kernel: Vec<u8> = (0..fan_in * co)
        .map(|_| rng.range(-127, 127) as i8 as u8)
        .collect();
    // Accumulator spread: sqrt(fan_in) * rms(x - zp) (~60 codes) * rms(w) (~73 codes).
    let acc_std = (fan_in as f64).sqrt() * 60.0 * 73.0;
    let bias: Vec<u8> = (0..co)
        .flat_map(|_| (((rng.unit() - 0.4) * acc_std) as i32).to_le_bytes())
        .collect();
    let scales: Vec<f32> = (0..co)
        .map(|_| (0.005 + 0.01 * rng.unit()) as f32)
        .collect();
    let mean_scale = scales.iter().map(|&s| s as f64).sum::<f64>() / co as f64;
    // About 50 output codes per accumulator standard deviation.
    let output = QuantParams {
        scale: (input.scale as f64 * mean_scale * acc_std / 50.0) as f32,
        zero_point: if relu { -128 } else { 0 },
    };
    let mut multipliers = Vec::new();
    let mut shifts = Vec::new();
    for &s in &scales {
        let (m, shift) = quantize_multiplier(real_multiplier(input.scale, s, output.scale));
        multipliers.extend_from_slice(&m.to_le_bytes());
        shifts.push(shift as i8 as u8);
    }
    Weighted {
        kernel,
        bias,
        weight_scales: scales.iter().flat_map(|s| s.to_le_bytes()).collect(),
        multipliers,
        shifts,
        output,
    }
}

/// An int8 blob of the MNIST architecture with pseudo-random weights from `seed`.
pub fn int8_blob(seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let input_quant = QuantParams {
        scale: 1.0 / 255.0,
        zero_point: -128,
    };
    // First pass: weights and the quantization chain.
    let mut weighted_layers: Vec<Option<Weighted>> = Vec::new();
    let mut outputs = Vec::new();
    let mut current = input_quant;
    for desc in MNIST_ARCH {
        let layer = match desc.kind {
            LayerKind::Conv2d {
                kernel,
                filters,
                activation,
                ..
            } => {
                let fan_in = (kernel * kernel * desc.input.c) as usize;
                let relu = activation == shared::blob::Activation::Relu;
                Some(weighted(&mut rng, fan_in, filters as usize, current, relu))
            }
            LayerKind::Dense { units, .. } => Some(weighted(
                &mut rng,
                desc.input.len(),
                units as usize,
                current,
                false,
            )),
            _ => None,
        };
        if let Some(w) = &layer {
            current = w.output;
        }
        outputs.push(current);
        weighted_layers.push(layer);
    }
    // Second pass: records borrowing the arrays.
    let records: Vec<LayerRecord<'_>> = MNIST_ARCH
        .iter()
        .zip(&weighted_layers)
        .zip(&outputs)
        .map(|((desc, layer), &output)| match layer {
            Some(w) => LayerRecord {
                desc: *desc,
                weights: &w.kernel,
                bias: &w.bias,
                quant: Some(LayerQuant {
                    output,
                    weight_scales: &w.weight_scales,
                    multipliers: &w.multipliers,
                    shifts: &w.shifts,
                }),
            },
            None => LayerRecord {
                desc: *desc,
                weights: &[],
                bias: &[],
                quant: Some(LayerQuant {
                    output,
                    weight_scales: &[],
                    multipliers: &[],
                    shifts: &[],
                }),
            },
        })
        .collect();
    let spec = BlobSpec {
        format: WeightFormat::Int8,
        input: MNIST_INPUT,
        input_quant: Some(input_quant),
        pixels: shared::blob::PixelScaling::Unit,
        layers: &records,
    };
    let mut blob = vec![0u8; encoded_len(&spec).expect("synthetic blob spec is encodable")];
    let n = encode_into(&spec, &mut blob).expect("buffer sized by encoded_len");
    blob.truncate(n);
    blob
}

/// `count` pseudo-random 28 x 28 "digits" from `seed`: the first is blank, the second all white,
/// the rest are a few thick random strokes on a black background, like MNIST's ink.
pub fn digits(seed: u64, count: usize) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(count * PIXELS);
    for i in 0..count {
        let mut img = [0u8; PIXELS];
        match i {
            0 => {}
            1 => img = [255; PIXELS],
            _ => {
                let strokes = rng.range(1, 3);
                for _ in 0..strokes {
                    let (mut x, mut y) = (rng.range(6, 21) as f64, rng.range(6, 21) as f64);
                    let angle = rng.unit() * std::f64::consts::TAU;
                    let (dx, dy) = (angle.cos(), angle.sin());
                    let length = rng.range(6, 16);
                    let bend = (rng.unit() - 0.5) * 0.3;
                    let (mut dx, mut dy) = (dx, dy);
                    for _ in 0..length {
                        for oy in -1i64..=1 {
                            for ox in -1i64..=1 {
                                let px = x.round() as i64 + ox;
                                let py = y.round() as i64 + oy;
                                if (0..28).contains(&px) && (0..28).contains(&py) {
                                    let ink = if ox == 0 && oy == 0 { 255 } else { 160 };
                                    let p = &mut img[(py * 28 + px) as usize];
                                    *p = (*p).max(ink);
                                }
                            }
                        }
                        x += dx;
                        y += dy;
                        (dx, dy) = (dx - bend * dy, dy + bend * dx);
                    }
                }
            }
        }
        out.extend_from_slice(&img);
    }
    out
}
