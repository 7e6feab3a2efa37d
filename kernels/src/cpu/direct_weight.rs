//! Convolution weight gradient as an implicit GEMM: `dW = Cᵀ · dY` with the patch values of
//! `Cᵀ` read straight from the input image and the rows of `dY` read where they lie, so that
//! nothing is copied or packed.
//!
//! The im2col path copies every patch (`K` floats per output pixel) into a block, packs the
//! block's transpose and packs the block of `dY`: for the first convolution of cats vs dogs
//! (3 input channels, `K` = 27, a million output pixels per batch) that copying and packing
//! took 37 % of the weight gradient's time and the multiply 29 % (`perf`, one thread).
//!
//! A tile here is 6 rows of `dW` (6 consecutive patch elements `kk`) × 16 output channels,
//! summed over a chunk of output pixels: for pixel `p`, row `kk` of `Cᵀ` is the image value
//! at the window's start plus a fixed offset ([`tap_offsets`]), and the 16 columns are 16
//! contiguous floats of `dY`'s row `p`. Valid padding only (every tap inside the image), and
//! output channels in whole 16-float panels.

use rayon::prelude::*;

use super::direct::window_starts;
use super::panel::{madd, store, Isa, MR, NR};
use super::recycle;
use crate::geometry::{Conv2dGeom, Padding};

/// Output pixels per chunk times the output channels: the chunk's rows of `dY` (64 KiB) stay
/// in L2 while every tile of `dW` passes over them.
const CHUNK_DY_FLOATS: usize = 16 * 1024;

/// Whether [`conv2d_backward_weight`] can compute this gradient: valid padding, a non-empty
/// output, output channels in whole 16-float panels, and patches of at most [`MAX_PATCH`]
/// floats. `conv` then computes it here, but with the AVX-512 multiply only where it times
/// faster than im2col (`tune.rs`; on Zen 4 it did: 27.3 vs 41.2 ms for cats vs dogs' first layer).
pub(crate) fn applies(g: &Conv2dGeom) -> bool {
    let k = g.kh * g.kw * g.in_c;
    g.padding == Padding::Valid
        && g.output_len() > 0
        && k > 0
        && k <= MAX_PATCH
        && g.out_c.is_multiple_of(NR)
}

/// The longest patch (`K`) taken here. Measured against im2col + GEMM on one thread, batch
/// 32, 3×3 kernels, best of 15-20 calls, 2026-12-03 (Zen 3, AVX2): faster up to `K` = 144,
/// even at `K` = 288, slower beyond (every `dW` tile then rereads the chunk's `dY` rows from
/// L2 and its patch values one cache line per pixel, where the packed GEMM streams from L1):
///
/// | input → output | `K` | im2col + GEMM | here |
/// |---|---|---|---|
/// | 180×180×3 → 32 (cats vs dogs' first) | 27 | 48.4-49.0 ms | 32.3-33.6 ms |
/// | 28×28×1 → 32 (MNIST's first) | 9 | 1.21 ms | 0.68 ms |
/// | 40×40×8 → 32 | 72 | 4.3-4.4 ms | 2.6 ms |
/// | 40×40×8 → 64 | 72 | 7.2-7.5 ms | 5.9-6.1 ms |
/// | 40×40×16 → 32 | 144 | 7.4-7.7 ms | 5.1 ms |
/// | 40×40×32 → 64 | 288 | 20.0-20.5 ms | 19.7-19.9 ms |
/// | 13×13×32 → 64 (MNIST's second) | 288 | 1.96-1.99 ms | 2.25-2.30 ms |
/// | 9×9×256 → 256 (cats vs dogs' last) | 2304 | 31.8-32.3 ms | 34.3-34.9 ms |
pub(crate) const MAX_PATCH: usize = 144;

/// dL/dw (HWIO, `K × N`), and with `bias` also dL/dbias (the column sums of `dY`) as a last
/// row, for a gradient that [`applies`]; lengths checked by `conv`'s callers.
pub(crate) fn conv2d_backward_weight(
    x: &[f32],
    dy: &[f32],
    g: &Conv2dGeom,
    bias: bool,
) -> Vec<f32> {
    assert!(applies(g), "direct_weight: geometry not supported: {g:?}");
    let (k, n) = (g.kh * g.kw * g.in_c, g.out_c);
    let ld = k + usize::from(bias);
    let m = g.batch * g.out_h() * g.out_w();
    let rows = (CHUNK_DY_FLOATS / n).clamp(1, m);
    let offsets = tap_offsets(g);
    (0..m.div_ceil(rows))
        .into_par_iter()
        .fold(
            || recycle::zeros(ld * n),
            |mut acc, ci| {
                let r0 = ci * rows;
                let nr = rows.min(m - r0);
                let chunk = Chunk {
                    x,
                    starts: &window_starts(g, r0, nr)[..nr],
                    offsets: &offsets,
                    dy: &dy[r0 * n..(r0 + nr) * n],
                    n,
                };
                run_on(&chunk, &mut acc[..k * n]);
                if bias {
                    for row in chunk.dy.chunks_exact(n) {
                        for (s, d) in acc[k * n..].iter_mut().zip(row) {
                            *s += d;
                        }
                    }
                }
                acc
            },
        )
        .reduce(|| recycle::zeros(ld * n), recycle::add_into)
}

/// Where patch element `kk = (ky, kx, c)` lies from its window's start:
/// `(ky · in_w + kx) · in_c + c`.
fn tap_offsets(g: &Conv2dGeom) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(g.kh * g.kw * g.in_c);
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            offsets.extend((0..g.in_c).map(|c| (ky * g.in_w + kx) * g.in_c + c));
        }
    }
    offsets
}

/// One chunk of output pixels and what its tiles read.
struct Chunk<'a> {
    x: &'a [f32],
    /// Where each pixel's window starts in `x`.
    starts: &'a [usize],
    /// [`tap_offsets`].
    offsets: &'a [usize],
    /// The chunk's rows of `dY` (`n` floats each).
    dy: &'a [f32],
    n: usize,
}

/// [`body`] with AVX2 + FMA where the CPU has them, else with the baseline SIMD.
fn run_on(chunk: &Chunk<'_>, dw: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if Isa::detect() != Isa::Baseline {
        // SAFETY: `body_avx2_fma` only differs from `body` in being compiled with AVX2 and
        // FMA enabled; `Isa::detect` returns Avx2 or Avx512 only when the CPU has both.
        unsafe { body_avx2_fma(chunk, dw) };
        return;
    }
    body::<{ cfg!(target_arch = "aarch64") }>(chunk, dw);
}

/// [`body`] with AVX2 and FMA enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn body_avx2_fma(chunk: &Chunk<'_>, dw: &mut [f32]) {
    body::<true>(chunk, dw);
}

/// `dw += Cᵀ · dY` over the chunk's pixels: for each block of [`MR`] patch elements, every
/// panel of [`NR`] output channels.
#[inline(always)]
fn body<const FMA: bool>(chunk: &Chunk<'_>, dw: &mut [f32]) {
    let k = chunk.offsets.len();
    let n = chunk.n;
    for kk0 in (0..k).step_by(MR) {
        // Rows past the last patch element read the first one; `store` adds only real rows.
        let offsets: [usize; MR] =
            std::array::from_fn(|i| chunk.offsets.get(kk0 + i).copied().unwrap_or(0));
        for q in 0..n / NR {
            let acc = tile::<FMA>(chunk, &offsets, q * NR);
            store(&acc, dw, (kk0, q * NR, NR), (k, n), 1.0, false);
        }
    }
}

/// One `MR × NR` tile: the sum over the chunk's pixels of the patch values at `offsets` from
/// each window's start times columns `j0..j0 + NR` of the pixel's row of `dY`.
#[inline(always)]
fn tile<const FMA: bool>(chunk: &Chunk<'_>, offsets: &[usize; MR], j0: usize) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    let span = offsets.iter().max().copied().unwrap_or(0) + 1;
    for (&s, row) in chunk.starts.iter().zip(chunk.dy.chunks_exact(chunk.n)) {
        let br: &[f32; NR] = row[j0..j0 + NR].try_into().expect("NR columns");
        // One bounds check per pixel: every offset is below `span`.
        let window = &chunk.x[s..s + span];
        let ar: [f32; MR] = std::array::from_fn(|i| window[offsets[i].min(span - 1)]);
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] = madd::<FMA>(ar[i], br[j], acc[i][j]);
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, Rng, SeedableRng};

    use super::*;

    /// dW (and the bias gradient as a last row) by f64 sums over pixels and taps.
    fn reference(x: &[f32], dy: &[f32], g: &Conv2dGeom) -> Vec<f64> {
        let (k, n) = (g.kh * g.kw * g.in_c, g.out_c);
        let mut dw = vec![0.0f64; (k + 1) * n];
        for b in 0..g.batch {
            for oy in 0..g.out_h() {
                for ox in 0..g.out_w() {
                    let p = (b * g.out_h() + oy) * g.out_w() + ox;
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            for c in 0..g.in_c {
                                let (iy, ix) = (oy * g.stride_h + ky, ox * g.stride_w + kx);
                                let xv =
                                    f64::from(x[((b * g.in_h + iy) * g.in_w + ix) * g.in_c + c]);
                                let kk = (ky * g.kw + kx) * g.in_c + c;
                                for o in 0..n {
                                    dw[kk * n + o] += xv * f64::from(dy[p * n + o]);
                                }
                            }
                        }
                    }
                    for o in 0..n {
                        dw[k * n + o] += f64::from(dy[p * n + o]);
                    }
                }
            }
        }
        dw
    }

    #[test]
    fn the_weight_and_bias_gradients_match_f64_sums() {
        let mut rng = StdRng::seed_from_u64(7);
        // Several chunks (16 channels: 1,024 pixels per chunk), a last partial tile of patch
        // elements (K = 27, 9, 20), strides, rectangular kernels and images.
        for (batch, (h, w, ic, oc), (kh, kw), (sh, sw)) in [
            (2, (30, 31, 3, 16), (3, 3), (1, 1)),
            (3, (12, 9, 1, 32), (3, 3), (1, 1)),
            (2, (11, 14, 5, 48), (2, 2), (2, 3)),
            (1, (8, 8, 16, 16), (3, 3), (1, 1)),
            (2, (9, 10, 2, 16), (5, 1), (1, 2)),
        ] {
            let g = Conv2dGeom::of(batch, (h, w, ic, oc), (kh, kw), (sh, sw), Padding::Valid);
            assert!(applies(&g), "{g:?}");
            let x: Vec<f32> = (0..g.input_len())
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let dy: Vec<f32> = (0..g.output_len())
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let want = reference(&x, &dy, &g);
            let k = kh * kw * ic;
            let scale = (g.batch * g.out_h() * g.out_w()) as f64;
            for bias in [false, true] {
                let got = conv2d_backward_weight(&x, &dy, &g, bias);
                assert_eq!(got.len(), (k + usize::from(bias)) * oc, "{g:?}");
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    let tol = 1e-5 * scale.sqrt() * (1.0 + b.abs());
                    assert!(
                        (f64::from(*a) - b).abs() <= tol,
                        "{g:?} bias {bias}: element {i}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_valid_padding_whole_panels_and_short_patches_fit() {
        let g = |in_c: usize, out_c: usize, padding: Padding| {
            Conv2dGeom::of(1, (8, 8, in_c, out_c), (3, 3), (1, 1), padding)
        };
        assert!(applies(&g(16, 32, Padding::Valid)));
        assert!(!applies(&g(17, 32, Padding::Valid)), "K = 153 > 144");
        assert!(
            !applies(&g(3, 20, Padding::Valid)),
            "20 channels: a partial panel"
        );
        assert!(!applies(&g(3, 32, Padding::Same)));
    }
}
