//! Post-training calibration: the range of every device layer's output activation over a
//! sample of training images, measured on the host's float network (the model as trained, on
//! the CPU backend) at the points the int8 kernels quantize: after the fused ReLU, before a
//! final softmax or sigmoid. The images are the board's 8-bit pixels, fed to the float model
//! as they were in training ([`crate::quantize::convert::host_input_scale`]).

use kernels::{Backend, CpuBackend};

use crate::model::Model;
use crate::network::Network;
use crate::quantize::convert::{host_input_scale, FloatNetwork};
use crate::quantize::QuantizeError;

/// A real-valued range.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    /// Lower bound.
    pub min: f32,
    /// Upper bound.
    pub max: f32,
}

impl Range {
    const EMPTY: Range = Range {
        min: f32::INFINITY,
        max: f32::NEG_INFINITY,
    };

    fn add(&mut self, v: f32) {
        if v.is_nan() {
            // Sticky: comparisons with NaN are false, so it is never replaced, and the
            // finiteness check afterwards reports it.
            self.min = f32::NAN;
            self.max = f32::NAN;
        } else {
            if v < self.min {
                self.min = v;
            }
            if v > self.max {
                self.max = v;
            }
        }
    }
}

/// How an activation range is chosen from the calibration outputs.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RangeMethod {
    /// The smallest and largest value seen (TFLite's default calibration).
    MinMax,
    /// The given percentile of each tail (e.g. `99.99`): the upper bound is the value below
    /// which that share of the outputs lies, the lower bound likewise from below, so rare
    /// outliers are clipped for finer steps everywhere else. Resolution: 1/4096 of the range.
    Percentile(f64),
}

impl std::fmt::Display for RangeMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RangeMethod::MinMax => f.write_str("min/max"),
            RangeMethod::Percentile(p) => write!(f, "percentile {p}"),
        }
    }
}

/// The measured activation ranges.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// Number of calibration images.
    pub images: usize,
    /// How [`Calibration::ranges`] were chosen.
    pub method: RangeMethod,
    /// Smallest and largest output of each layer over all calibration images.
    pub observed: Vec<Range>,
    /// The range used for each layer's output quantization.
    pub ranges: Vec<Range>,
}

const BINS: usize = 4096;
/// Images per forward pass.
const BATCH: usize = 64;

fn images_of(pixels: &[u8], per: usize) -> Result<usize, QuantizeError> {
    if pixels.is_empty() {
        return Err(QuantizeError::EmptyCalibration);
    }
    if per == 0 || !pixels.len().is_multiple_of(per) {
        return Err(QuantizeError::ImageBytes {
            what: "calibration images",
            len: pixels.len(),
            per,
        });
    }
    Ok(pixels.len() / per)
}

/// Runs the float `model` on every calibration image and calls `visit(device_layer, values)`
/// with each device layer's output values.
fn observe(model: &Model, net: &FloatNetwork, pixels: &[u8], mut visit: impl FnMut(usize, &[f32])) {
    let backend = CpuBackend::new();
    let network = Network::new(&backend, model);
    let mut device_layer = vec![None; model.layers().len()];
    for (d, l) in net.layers.iter().enumerate() {
        device_layer[l.source] = Some(d);
    }
    let per = net.input.len();
    let scale = host_input_scale(net);
    for chunk in pixels.chunks(per * BATCH) {
        let x: Vec<f32> = chunk.iter().map(|&p| p as f32 * scale).collect();
        let batch = chunk.len() / per;
        let tensor = backend.from_slice(&x);
        network.forward_observed(tensor, batch, &mut |i, y| {
            if let Some(d) = device_layer[i] {
                visit(d, &backend.to_vec(y));
            }
        });
    }
}

fn min_max(model: &Model, net: &FloatNetwork, pixels: &[u8]) -> Vec<Range> {
    let mut r = vec![Range::EMPTY; net.layers.len()];
    observe(model, net, pixels, |d, values| {
        for &v in values {
            r[d].add(v);
        }
    });
    r
}

fn bin(v: f32, r: Range) -> usize {
    let span = r.max - r.min;
    if span <= 0.0 {
        return 0;
    }
    (((v - r.min) / span * BINS as f32) as usize).min(BINS - 1)
}

fn histograms(
    model: &Model,
    net: &FloatNetwork,
    pixels: &[u8],
    observed: &[Range],
) -> Vec<Vec<u64>> {
    let mut h = vec![vec![0u64; BINS]; observed.len()];
    observe(model, net, pixels, |d, values| {
        for &v in values {
            h[d][bin(v, observed[d])] += 1;
        }
    });
    h
}

/// The range holding `percentile`% of each tail of a histogram over `r`.
fn percentile_range(hist: &[u64], r: Range, percentile: f64) -> Range {
    let total: u64 = hist.iter().sum();
    let tail = ((1.0 - percentile / 100.0) * total as f64).floor() as u64;
    let width = (r.max - r.min) / BINS as f32;
    let mut below = 0u64;
    let mut lo = 0;
    while lo + 1 < BINS && below + hist[lo] <= tail {
        below += hist[lo];
        lo += 1;
    }
    let mut above = 0u64;
    let mut hi = BINS - 1;
    while hi > lo && above + hist[hi] <= tail {
        above += hist[hi];
        hi -= 1;
    }
    Range {
        min: if lo == 0 {
            r.min
        } else {
            r.min + lo as f32 * width
        },
        max: if hi == BINS - 1 {
            r.max
        } else {
            r.min + (hi + 1) as f32 * width
        },
    }
}

/// Runs the float `model` (converted to `net` by [`crate::quantize::convert::from_model`]) on
/// every calibration image (`n * h * w * c` pixels) and measures each device layer's output
/// range.
pub fn calibrate(
    model: &Model,
    net: &FloatNetwork,
    pixels: &[u8],
    method: RangeMethod,
) -> Result<Calibration, QuantizeError> {
    let images = images_of(pixels, net.input.len())?;
    if let RangeMethod::Percentile(p) = method {
        if !(p > 50.0 && p <= 100.0) {
            return Err(QuantizeError::Percentile(p));
        }
    }
    let observed = min_max(model, net, pixels);
    for (layer, r) in observed.iter().enumerate() {
        if !(r.min.is_finite() && r.max.is_finite()) {
            return Err(QuantizeError::NonFiniteRange {
                layer,
                min: r.min,
                max: r.max,
            });
        }
    }
    let ranges = match method {
        RangeMethod::MinMax => observed.clone(),
        RangeMethod::Percentile(p) => histograms(model, net, pixels, &observed)
            .iter()
            .zip(&observed)
            .map(|(h, &r)| percentile_range(h, r, p))
            .collect(),
    };
    Ok(Calibration {
        images,
        method,
        observed,
        ranges,
    })
}

/// `n` images of `per` pixels spread evenly over `pixels` (image `i * count / n` for
/// `i < n`), or all of them when `n` exceeds their count.
pub fn sample(pixels: &[u8], per: usize, n: usize) -> Vec<u8> {
    let count = pixels.len().checked_div(per).unwrap_or(0);
    if n >= count {
        return pixels[..count * per].to_vec();
    }
    (0..n)
        .flat_map(|i| {
            let j = i * count / n;
            pixels[j * per..(j + 1) * per].iter().copied()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_clips_outliers_only() {
        let r = Range {
            min: 0.0,
            max: 4096.0,
        };
        let mut h = vec![0u64; BINS];
        h[0] = 9_990;
        h[10] = 9;
        h[BINS - 1] = 1;
        // 99.99 % of 10,000 values: one value may fall outside.
        let p = percentile_range(&h, r, 99.99);
        assert_eq!(p.min, 0.0);
        assert_eq!(p.max, 11.0);
        let all = percentile_range(&h, r, 100.0);
        assert_eq!(all, r);
    }

    #[test]
    fn sample_spreads_and_caps() {
        const PER: usize = 784;
        let pixels: Vec<u8> = (0..10u8)
            .flat_map(|i| std::iter::repeat_n(i, PER))
            .collect();
        let s = sample(&pixels, PER, 5);
        let firsts: Vec<u8> = s.chunks(PER).map(|c| c[0]).collect();
        assert_eq!(firsts, vec![0, 2, 4, 6, 8]);
        assert_eq!(sample(&pixels, PER, 50).len(), pixels.len());
    }
}
