//! 3×3 stride-1 convolution and its gradients by Winograd's minimal filtering (Lavin & Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2015).
//!
//! The forward pass and the input gradient go by F(4×4, 3×3) (`forward.rs`): each 4×4 block
//! of output pixels ("tile") is computed from its 6×6 input patch `d` and the transformed
//! kernel `U = G g Gᵀ` as `Y = Aᵀ [U ⊙ (Bᵀ d B)] A`: per tile and channel pair 36 multiplies
//! instead of 144. Over channels the element-wise products become 36 independent GEMMs
//! `M_e[tiles × out_c] = V_e[tiles × in_c] · U_e[in_c × out_c]`, run by `panel.rs`. The input
//! gradient is the same algorithm on `dy`, padded by `2 - pad`, with the kernel turned by 180°
//! and its channels swapped.
//!
//! The kernel gradient (`weight_gradient.rs`) is the transpose of the same algorithm: per
//! tile the input transform of its 6×6 patch and a transform of its 4×4 `dy`, then 36 GEMMs
//! whose reduction runs over the tiles. Each path is taken only where it measured faster than
//! the GEMMs (`applies*`). Results differ from the direct sums by rounding only (the
//! constants are small integers and 1/4, 1/6, 1/12 and 1/24); F(4×4)'s rounding is about ten
//! times F(2×2, 3×3)'s, which these files used before (as published: Barabasz et al., "Error
//! analysis and improving the accuracy of Winograd convolution for deep neural networks",
//! 2020; in f32, 128 channels, random inputs in [-1, 1], max error 3e-4 vs 2e-5 on sums of
//! norm ~11).

mod forward;
mod weight_gradient;

pub(crate) use forward::{conv2d, conv2d_backward_input};
pub(crate) use weight_gradient::conv2d_backward_weight_bias;

use crate::cpu::panel::{APanelRow, BPanelRow};
use crate::geometry::Conv2dGeom;

/// Input channels from which the transforms pay for themselves, with the AVX2 and the AVX-512
/// multiply alike. Measured on the Zen 3 VM (AVX2 + FMA), after `panel::pack_a` stopped
/// costing as much as the products it feeds, against the implicit GEMM (valid padding) and
/// im2col (same padding): cats vs dogs (one thread, batch 32, `host bench --backend cpu
/// --model catsdogs`, two runs each alternating) 41×41×128 from 43×43×64 61-69 ms vs 85,
/// 87×87×64 from 89×89×32 116 vs 111 (so not from 32); the VGG16 base (two threads, `host
/// bench --vgg16`) 180×180×64→64 991-999 ms vs 1,166-1,207, 90×90×64→128 252-265 vs 318-328,
/// the whole forward 12.5-12.8 images/s vs 11.3-11.9. Before that change, the AVX2 multiply
/// needed 128 channels (90×90×64→128 0.38 s vs 0.34 im2col) and the AVX-512 one 64 (Xeon VM:
/// 43×43×64→128 77 ms im2col vs 52-55; 89×89×32→64 108 vs 96-100, not worth the transforms'
/// memory). (The gradients have thresholds of their own, [`MIN_INPUT_GRADIENT_OUT_C`] and
/// [`MIN_WEIGHT_GRADIENT_IN_C`]: their alternatives are im2col GEMMs.) All of these were
/// measured with the forward by F(2×2, 3×3); F(4×4, 3×3) has since cut its cost per output
/// pixel (below), so with the AVX2 multiply 32 channels may pay too: not measured (no AVX2
/// machine since).
const MIN_IN_C: usize = 64;

/// Output pixels per image from which the transform pays. With F(2×2, 3×3), a 3×3 output was
/// four 2×2 tiles of which 7 of 16 pixels are real (MNIST conv3 took 3.7 ms vs 1.5). With
/// F(4×4, 3×3) (Zen 4, AVX-512, 2026-12-04, one thread, batch 32, two runs alternating)
/// cats vs dogs' 7×7×256 from 9×9×256 at 16 pixels took 12.5-15.2 ms against the GEMM's 17,
/// but the training step did not get faster (611-629 ms vs 597-604), so it stays at 64.
const MIN_OUT_PIXELS: usize = 64;

/// Input channels from which the kernel gradient by Winograd pays. Measured (one thread,
/// batch 32, `host bench --backend cpu --model catsdogs`, two runs each alternating, Zen 3 VM
/// with AVX2 + FMA, against the im2col GEMM, 2026-12-03): 87×87×64 from 89×89×32 108 ms vs
/// 133; 41×41×128 from 43×43×64 66-67 vs 107; 18×18×256 from 20×20×128 43-45 vs 88; and on
/// 2026-12-02 178×178×32 from 180×180×3 131 vs 51.
const MIN_WEIGHT_GRADIENT_IN_C: usize = 32;

/// Output channels (of `dy`, which the input gradient convolves) from which the input gradient
/// by Winograd pays. Measured as [`MIN_WEIGHT_GRADIENT_IN_C`], against im2col + col2im:
/// 89×89×32 from 87×87×64 118-120 ms vs 125; 43×43×64 from 41×41×128 77 vs 100-101;
/// 20×20×128 from 18×18×256 49 vs 72 (before the cheaper `panel::pack_a`, which took the
/// first to 99-106 ms).
const MIN_INPUT_GRADIENT_OUT_C: usize = 64;

/// Pixels per image (of dx) from which the input gradient by Winograd pays: partial edge
/// tiles and the fixed costs weigh more on small images. Measured as
/// [`MIN_WEIGHT_GRADIENT_IN_C`], 2026-12-02: cats vs dogs' 9×9×256 dx from 7×7×256 25 ms vs
/// 24 (F(2×2, 3×3)); again by F(4×4, 3×3) on Zen 4, 2026-12-04 (one thread, batch 32, two
/// runs alternating) with a bound of 64: 21.0 ms vs 17.7-18.0, and MNIST's 13×13×32 dx from
/// 11×11×64 1.77-1.80 vs 1.64.
const MIN_INPUT_GRADIENT_PIXELS: usize = 256;

/// Pixels per image (of dy) from which the kernel gradient by Winograd pays. By F(2×2, 3×3)
/// it was [`MIN_INPUT_GRADIENT_PIXELS`] (2026-12-02: MNIST, batch 64, 11×11×64 dw from 13×13×32
/// 4.4 ms vs 4.2); by F(4×4, 3×3) (Zen 4, 2026-12-04, one thread, batch 32, two runs
/// alternating) the same layer took 1.18-1.19 ms against the GEMM's 1.67-1.72, the MNIST
/// step 7.8-9.1 -> 7.4-8.1 ms; at 16 pixels cats vs dogs' 7×7×256 from 9×9×256 gained
/// little (19.8-20.1 ms vs 20.7-22.3, the step unchanged), so it stays at 64.
const MIN_WEIGHT_GRADIENT_PIXELS: usize = 64;

/// Whether the CPU backend computes this convolution here: [`supported`], with enough input
/// channels and output pixels for the transforms to pay.
pub(crate) fn applies(g: &Conv2dGeom) -> bool {
    supported(g) && g.in_c >= MIN_IN_C && g.out_h() * g.out_w() >= MIN_OUT_PIXELS
}

/// Input channels from which Winograd's forward may pay where [`MIN_IN_C`] was not measured
/// to: with the AVX-512 multiply the backend times it against the GEMM on the first call
/// (`tune.rs`). On Zen 4 (one thread, batch 32) 87×87×64 from 89×89×32 took 74-75 ms by
/// F(2×2, 3×3) against the implicit GEMM's 83-87 in a build that forced it (best of 7, three
/// runs); by F(4×4, 3×3) 56-58 ms (`host bench`, 2026-12-04).
const MIN_TIMED_IN_C: usize = 32;

/// Whether this convolution's forward pass may be faster here than by a GEMM although it does
/// not [`applies`]: [`supported`], with at least [`MIN_TIMED_IN_C`] input channels and
/// enough output pixels.
pub(crate) fn may_pay(g: &Conv2dGeom) -> bool {
    supported(g)
        && !applies(g)
        && g.in_c >= MIN_TIMED_IN_C
        && g.out_h() * g.out_w() >= MIN_OUT_PIXELS
}

/// Whether the CPU backend computes this convolution's input gradient here
/// ([`conv2d_backward_input`]): [`supported`], with at least [`MIN_INPUT_GRADIENT_OUT_C`]
/// output channels (the channels of `dy` it convolves) and [`MIN_INPUT_GRADIENT_PIXELS`] input
/// pixels per image (the pixels it computes).
pub(crate) fn applies_to_input_gradient(g: &Conv2dGeom) -> bool {
    supported(g)
        && g.out_c >= MIN_INPUT_GRADIENT_OUT_C
        && g.in_h * g.in_w >= MIN_INPUT_GRADIENT_PIXELS
}

/// Whether the CPU backend computes this convolution's kernel and bias gradients here
/// ([`conv2d_backward_weight_bias`]): [`supported`], with at least
/// [`MIN_WEIGHT_GRADIENT_IN_C`] input channels and [`MIN_WEIGHT_GRADIENT_PIXELS`] output
/// pixels per image.
pub(crate) fn applies_to_weight_gradient(g: &Conv2dGeom) -> bool {
    supported(g)
        && g.in_c >= MIN_WEIGHT_GRADIENT_IN_C
        && g.out_h() * g.out_w() >= MIN_WEIGHT_GRADIENT_PIXELS
}

/// Whether [`conv2d`], [`conv2d_backward_input`] and [`conv2d_backward_weight_bias`] can
/// compute this convolution: 3×3, stride 1, a non-empty output.
pub(crate) fn supported(g: &Conv2dGeom) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride_h == 1
        && g.stride_w == 1
        && g.out_h() > 0
        && g.out_w() > 0
        && g.batch > 0
        && g.out_c > 0
        && g.in_c > 0
}

/// Per-task buffers: transformed input (36 or 16 × tiles × in_c), its packed A panels, packed
/// B panels (the kernel gradient's transformed `dy`), the 36 products of the forward (36 ×
/// tiles × out_c; in the kernel gradient the transformed `dy`, `A dY Aᵀ`), one row of a
/// partial output tile, and one tile's intermediate transform (`Bᵀ d`, `Aᵀ m` or `A dY`).
#[derive(Default)]
struct Scratch {
    v: Vec<f32>,
    panels: Vec<APanelRow>,
    bpanels: Vec<BPanelRow>,
    m: Vec<f32>,
    out: Vec<f32>,
    t: Vec<f32>,
}

thread_local! {
    /// Per-thread buffers, kept across calls (fresh megabytes per task cost page faults).
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// The shape of one Winograd convolution, with its padding explicit: a layer's forward pass,
/// or its input gradient (a convolution of `dy` by the flipped kernel, padded by `2 - pad`).
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// Images.
    batch: usize,
    /// Rows of the convolved image (`x`, or `dy` for the input gradient).
    in_h: usize,
    /// Columns of the convolved image.
    in_w: usize,
    /// Channels of the convolved image.
    in_c: usize,
    /// Rows of the result.
    out_h: usize,
    /// Columns of the result.
    out_w: usize,
    /// Channels of the result.
    out_c: usize,
    /// Zero rows above the image.
    pad_top: usize,
    /// Zero columns left of the image.
    pad_left: usize,
}

impl Frame {
    /// The forward pass of `g`.
    fn forward(g: &Conv2dGeom) -> Frame {
        Frame {
            batch: g.batch,
            in_h: g.in_h,
            in_w: g.in_w,
            in_c: g.in_c,
            out_h: g.out_h(),
            out_w: g.out_w(),
            out_c: g.out_c,
            pad_top: g.pad_top(),
            pad_left: g.pad_left(),
        }
    }

    /// The input gradient of `g` (3×3, stride 1): `dx[iy] = Σ_ky dy[iy + ky - (2 - pad)] ·
    /// w[2 - ky]` along each axis, a convolution of `dy` (`out_c` channels) into `in_c`.
    fn input_gradient(g: &Conv2dGeom) -> Frame {
        Frame {
            batch: g.batch,
            in_h: g.out_h(),
            in_w: g.out_w(),
            in_c: g.out_c,
            out_h: g.in_h,
            out_w: g.in_w,
            out_c: g.in_c,
            pad_top: 2 - g.pad_top(),
            pad_left: 2 - g.pad_left(),
        }
    }
}

/// Tile `t`'s `width` values in each of the `N` blocks of `buf` (`N × nt × width`, block `e`
/// holding element `e` of every tile's transform).
#[inline(always)]
fn tile_slices<const N: usize>(
    buf: &mut [f32],
    nt: usize,
    t: usize,
    width: usize,
) -> [&mut [f32]; N] {
    let mut blocks = buf.chunks_exact_mut(nt * width);
    std::array::from_fn(|_| {
        let block = blocks.next().expect("N blocks");
        &mut block[t * width..(t + 1) * width]
    })
}

/// The `N × N` input patch of tile `(b, ty, tx)` (tiles of `N - 2` output pixels a side):
/// each pixel's `in_c` channels, `zero` outside the image.
#[inline(always)]
fn input_patch<'a, const N: usize>(
    x: &'a [f32],
    g: &Frame,
    (b, ty, tx): (usize, usize, usize),
    zero: &'a [f32],
) -> [[&'a [f32]; N]; N] {
    let ic = g.in_c;
    let img = &x[b * g.in_h * g.in_w * ic..(b + 1) * g.in_h * g.in_w * ic];
    let iy0 = ((N - 2) * ty) as isize - g.pad_top as isize;
    let ix0 = ((N - 2) * tx) as isize - g.pad_left as isize;
    std::array::from_fn(|dy| {
        std::array::from_fn(|dx| {
            let (iy, ix) = (iy0 + dy as isize, ix0 + dx as isize);
            if iy < 0 || iy >= g.in_h as isize || ix < 0 || ix >= g.in_w as isize {
                &zero[..ic]
            } else {
                let p = (iy as usize * g.in_w + ix as usize) * ic;
                &img[p..p + ic]
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, Rng, SeedableRng};

    use super::*;
    use crate::geometry::Padding;

    /// Calls `f(yi, xi, wi)` for every output element `yi`, window position inside the image
    /// and input channel: the flat indices of the output, input and kernel (HWIO) elements
    /// whose product the convolution sums into `yi`.
    fn for_each_tap(g: &Conv2dGeom, mut f: impl FnMut(usize, usize, usize)) {
        let (oh, ow) = (g.out_h(), g.out_w());
        let (pt, pl) = (g.pad_top() as isize, g.pad_left() as isize);
        for b in 0..g.batch {
            for oy in 0..oh {
                for ox in 0..ow {
                    for o in 0..g.out_c {
                        let yi = ((b * oh + oy) * ow + ox) * g.out_c + o;
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let iy = oy as isize + ky as isize - pt;
                                let ix = ox as isize + kx as isize - pl;
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.in_h as isize
                                    || ix >= g.in_w as isize
                                {
                                    continue;
                                }
                                let x0 =
                                    ((b * g.in_h + iy as usize) * g.in_w + ix as usize) * g.in_c;
                                for c in 0..g.in_c {
                                    f(yi, x0 + c, ((ky * 3 + kx) * g.in_c + c) * g.out_c + o);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The convolution as a plain f64 sum over the window.
    fn direct(x: &[f32], w: &[f32], bias: &[f32], g: &Conv2dGeom) -> Vec<f64> {
        let mut y: Vec<f64> = (0..g.output_len())
            .map(|yi| f64::from(bias[yi % g.out_c]))
            .collect();
        for_each_tap(g, |yi, xi, wi| y[yi] += f64::from(x[xi]) * f64::from(w[wi]));
        y
    }

    /// A 3×3 stride-1 convolution of `batch` images `h × w × ic` into `oc` channels.
    fn geom(
        batch: usize,
        h: usize,
        w: usize,
        ic: usize,
        oc: usize,
        padding: Padding,
    ) -> Conv2dGeom {
        Conv2dGeom::of(batch, (h, w, ic, oc), (3, 3), (1, 1), padding)
    }

    #[test]
    fn matches_the_direct_sum_for_valid_and_same_odd_and_even_sizes() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut rand = || rng.gen_range(-0.5f32..0.5);
        for (batch, h, w, ic, oc, padding) in [
            (2, 13, 13, 32, 64, Padding::Valid),
            (1, 8, 6, 16, 5, Padding::Same),
            (3, 5, 7, 17, 33, Padding::Same),
            (1, 3, 3, 16, 1, Padding::Valid),
            (2, 4, 9, 20, 16, Padding::Valid),
            (1, 10, 9, 64, 8, Padding::Same),
            (2, 9, 10, 128, 19, Padding::Same),
        ] {
            let g = geom(batch, h, w, ic, oc, padding);
            assert!(supported(&g));
            let x: Vec<f32> = (0..g.input_len()).map(|_| rand()).collect();
            let wt: Vec<f32> = (0..g.weight_len()).map(|_| rand()).collect();
            let bias: Vec<f32> = (0..oc).map(|_| rand()).collect();
            let want = direct(&x, &wt, &bias, &g);
            for relu in [false, true] {
                let got = conv2d(&x, &wt, Some(&bias), &g, relu);
                assert_eq!(got.len(), want.len());
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    let b = if relu { b.max(0.0) } else { *b };
                    assert!(
                        (*a as f64 - b).abs() < 1e-4 * (1.0 + b.abs()),
                        "{g:?} relu {relu} element {i}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// dL/dx, dL/dw and dL/dbias of the convolution for output gradient `dy`, as plain f64
    /// sums over every (output element, window tap) pair.
    fn direct_gradients(
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        g: &Conv2dGeom,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut dx = vec![0.0f64; g.input_len()];
        let mut dw = vec![0.0f64; g.weight_len()];
        let mut db = vec![0.0f64; g.out_c];
        for (yi, d) in dy.iter().enumerate() {
            db[yi % g.out_c] += f64::from(*d);
        }
        for_each_tap(g, |yi, xi, wi| {
            let d = f64::from(dy[yi]);
            dx[xi] += d * f64::from(w[wi]);
            dw[wi] += d * f64::from(x[xi]);
        });
        (dx, dw, db)
    }

    /// Asserts `got` equals `want` to f32 rounding of sums of `terms` products.
    fn assert_close(got: &[f32], want: &[f64], terms: usize, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let tol = 1e-5 * (terms as f64).sqrt();
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (*a as f64 - b).abs() < tol * (1.0 + b.abs()),
                "{what} element {i}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn gradients_match_the_direct_sums_for_valid_and_same_odd_and_even_sizes() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut rand = || rng.gen_range(-0.5f32..0.5);
        for (batch, h, w, ic, oc, padding) in [
            (2, 13, 13, 32, 64, Padding::Valid),
            (1, 8, 6, 16, 5, Padding::Same),
            (3, 5, 7, 17, 33, Padding::Same),
            (1, 3, 3, 16, 1, Padding::Valid),
            (2, 4, 9, 20, 16, Padding::Valid),
            (1, 10, 9, 7, 130, Padding::Same),
            (2, 9, 10, 128, 19, Padding::Same),
        ] {
            let g = geom(batch, h, w, ic, oc, padding);
            let x: Vec<f32> = (0..g.input_len()).map(|_| rand()).collect();
            let wt: Vec<f32> = (0..g.weight_len()).map(|_| rand()).collect();
            let dy: Vec<f32> = (0..g.output_len()).map(|_| rand()).collect();
            let (want_dx, want_dw, want_db) = direct_gradients(&x, &wt, &dy, &g);
            let at = format!("{g:?}");
            let dx = conv2d_backward_input(&dy, &wt, &g);
            assert_close(&dx, &want_dx, 9 * oc, &format!("{at} dx"));
            let (dw, db) = conv2d_backward_weight_bias(&x, &dy, &g);
            let pixels = batch * g.out_h() * g.out_w();
            assert_close(&dw, &want_dw, pixels, &format!("{at} dw"));
            assert_close(&db, &want_db, pixels, &format!("{at} db"));
        }
    }

    #[test]
    fn takes_only_3x3_stride_1_convolutions_with_enough_channels_and_pixels() {
        let g = Conv2dGeom {
            batch: 1,
            in_h: 10,
            in_w: 10,
            in_c: 128,
            out_c: 8,
            kh: 3,
            kw: 3,
            stride_h: 1,
            stride_w: 1,
            padding: Padding::Valid,
        };
        assert!(applies(&g));
        assert!(!applies(&Conv2dGeom { stride_w: 2, ..g }));
        assert!(applies(&Conv2dGeom { in_c: 64, ..g }));
        assert!(!applies(&Conv2dGeom { in_c: 32, ..g }));
        // The gradients' thresholds: 16×16 = 256 input pixels and out_c 64 (input gradient),
        // 8×8 = 64 output pixels and in_c 32 (kernel gradient).
        let big = Conv2dGeom {
            in_h: 18,
            in_w: 18,
            in_c: 32,
            out_c: 64,
            ..g
        };
        assert!(applies_to_weight_gradient(&big));
        assert!(applies_to_input_gradient(&big));
        assert!(!applies_to_weight_gradient(&Conv2dGeom { in_c: 16, ..big }));
        assert!(applies_to_weight_gradient(&Conv2dGeom {
            in_h: 10,
            in_w: 10,
            ..big
        }));
        assert!(!applies_to_weight_gradient(&Conv2dGeom {
            in_h: 10,
            in_w: 9,
            ..big
        }));
        assert!(!applies_to_input_gradient(&Conv2dGeom { out_c: 32, ..big }));
        assert!(!applies_to_input_gradient(&Conv2dGeom {
            in_h: 15,
            in_w: 17,
            ..big
        }));
        assert!(!applies_to_input_gradient(&Conv2dGeom {
            stride_h: 2,
            ..big
        }));
        assert!(!applies(&Conv2dGeom {
            in_h: 5,
            in_w: 5,
            ..g
        }));
        assert!(!applies(&Conv2dGeom { kh: 5, kw: 5, ..g }));
        assert!(supported(&Conv2dGeom { in_c: 3, ..g }));
        assert!(!supported(&Conv2dGeom { in_h: 2, ..g }));
        assert!(!supported(&Conv2dGeom { kh: 1, kw: 1, ..g }));
    }
}
