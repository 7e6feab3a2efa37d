//! Post-training calibration: the range of every layer's output activation over a sample of
//! training images, measured on `shared`'s f32 network — the same layers, in the same order,
//! at the same points (after the fused ReLU, before softmax) that the int8 kernels quantize.

use rayon::prelude::*;
use shared::mnist::{MnistF32, MnistScratchF32, MNIST_ARCH, MNIST_PIXELS};

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

    fn merge(self, o: Range) -> Range {
        let mut r = self;
        r.add(o.min);
        r.add(o.max);
        r
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
/// Images per parallel work item.
const CHUNK: usize = 16;

fn images_of(pixels: &[u8]) -> Result<std::slice::ChunksExact<'_, u8>, QuantizeError> {
    if pixels.is_empty() {
        return Err(QuantizeError::EmptyCalibration);
    }
    if !pixels.len().is_multiple_of(MNIST_PIXELS) {
        return Err(QuantizeError::ImageBytes {
            what: "calibration images",
            len: pixels.len(),
            per: MNIST_PIXELS,
        });
    }
    Ok(pixels.chunks_exact(MNIST_PIXELS))
}

fn image(chunk: &[u8]) -> &[u8; MNIST_PIXELS] {
    chunk.try_into().expect("chunks are MNIST_PIXELS long")
}

fn min_max(net: &MnistF32<'_>, pixels: &[u8]) -> Vec<Range> {
    pixels
        .par_chunks(MNIST_PIXELS * CHUNK)
        .map(|chunk| {
            let mut scratch = Box::new(MnistScratchF32::new());
            let mut r = vec![Range::EMPTY; MNIST_ARCH.len()];
            for img in chunk.chunks_exact(MNIST_PIXELS) {
                net.predict_observed(image(img), &mut scratch, |o| {
                    let range = &mut r[o.index];
                    for &v in o.data {
                        range.add(v);
                    }
                });
            }
            r
        })
        .reduce(
            || vec![Range::EMPTY; MNIST_ARCH.len()],
            |a, b| a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect(),
        )
}

fn bin(v: f32, r: Range) -> usize {
    let span = r.max - r.min;
    if span <= 0.0 {
        return 0;
    }
    (((v - r.min) / span * BINS as f32) as usize).min(BINS - 1)
}

fn histograms(net: &MnistF32<'_>, pixels: &[u8], observed: &[Range]) -> Vec<Vec<u64>> {
    let empty = || vec![vec![0u64; BINS]; observed.len()];
    pixels
        .par_chunks(MNIST_PIXELS * CHUNK)
        .map(|chunk| {
            let mut scratch = Box::new(MnistScratchF32::new());
            let mut h = empty();
            for img in chunk.chunks_exact(MNIST_PIXELS) {
                net.predict_observed(image(img), &mut scratch, |o| {
                    let (hist, r) = (&mut h[o.index], observed[o.index]);
                    for &v in o.data {
                        hist[bin(v, r)] += 1;
                    }
                });
            }
            h
        })
        .reduce(empty, |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                for (p, q) in x.iter_mut().zip(y) {
                    *p += q;
                }
            }
            a
        })
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

/// Runs the f32 blob `f32_blob` (from [`crate::quantize::f32_blob`]) on every calibration
/// image (`n * 784` pixels, `pixel / 255` as input) and measures each layer's output range.
pub fn calibrate(
    f32_blob: &[u8],
    pixels: &[u8],
    method: RangeMethod,
) -> Result<Calibration, QuantizeError> {
    let images = images_of(pixels)?.len();
    if let RangeMethod::Percentile(p) = method {
        if !(p > 50.0 && p <= 100.0) {
            return Err(QuantizeError::Percentile(p));
        }
    }
    let net = MnistF32::from_blob(f32_blob)?;
    let observed = min_max(&net, pixels);
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
        RangeMethod::Percentile(p) => histograms(&net, pixels, &observed)
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

/// `n` images spread evenly over `pixels` (image `i * count / n` for `i < n`), or all of
/// them when `n` exceeds their count.
pub fn sample(pixels: &[u8], n: usize) -> Vec<u8> {
    let count = pixels.len() / MNIST_PIXELS;
    if n >= count {
        return pixels[..count * MNIST_PIXELS].to_vec();
    }
    (0..n)
        .flat_map(|i| {
            let j = i * count / n;
            pixels[j * MNIST_PIXELS..(j + 1) * MNIST_PIXELS]
                .iter()
                .copied()
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
        let pixels: Vec<u8> = (0..10u8)
            .flat_map(|i| std::iter::repeat_n(i, MNIST_PIXELS))
            .collect();
        let s = sample(&pixels, 5);
        let firsts: Vec<u8> = s.chunks(MNIST_PIXELS).map(|c| c[0]).collect();
        assert_eq!(firsts, vec![0, 2, 4, 6, 8]);
        assert_eq!(sample(&pixels, 50).len(), pixels.len());
    }
}
