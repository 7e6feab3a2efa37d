//! Convolution forward as an implicit GEMM: the register tile of [`super::panel`] with its A
//! operand read straight from the input image instead of from an im2col block.
//!
//! For a valid convolution every output pixel's window lies inside the image, and element
//! `kk = (ky, kx, c)` of its patch is at a fixed offset `(ky · in_w + kx) · in_c + c` from the
//! window's first element; each window row (`kw · in_c` floats) is contiguous. So a tile of
//! [`MR`] output pixels (any pixels, across rows and images) broadcasts its A values from `MR`
//! places in the image, and no patch is copied or packed: im2col and the packing of its blocks
//! took a third of the im2col path's forward time (cats vs dogs, one thread, `perf`). The
//! kernel matrix is packed once per op, as there.
//!
//! The products are summed in the same order as the im2col GEMM (patch order, then the bias
//! as a last row multiplied by 1), so the results are the same to the bit.

use rayon::prelude::*;

use super::panel::{madd, pack_kernel, store, BPanelRow, Isa, MR, NR};
use super::recycle;
use crate::geometry::{Conv2dGeom, Padding};

/// Output pixels per task times `K`: about as many floats as the im2col path's blocks hold
/// (here they are read from the image, not copied).
const CHUNK_FLOATS: usize = 64 * 1024;

/// Whether [`conv2d_on`] can compute this convolution: valid padding (every window inside
/// the image) and a non-empty output. It then does, but with the AVX-512 multiply (whose
/// two-panel tile this does not have) only where it times faster than im2col (`tune.rs`).
pub(crate) fn applies(g: &Conv2dGeom) -> bool {
    g.padding == Padding::Valid && g.output_len() > 0 && g.kh * g.kw * g.in_c > 0
}

/// `y = conv2d(x, w) + bias`, then with `relu` `y = max(y, 0)`, for a convolution that
/// [`applies`], with the multiply for `isa` (one this CPU lacks falls back to the baseline);
/// lengths checked by `conv::conv2d`.
pub(crate) fn conv2d_on(
    isa: Isa,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &Conv2dGeom,
    relu: bool,
) -> Vec<f32> {
    assert!(
        g.padding == Padding::Valid,
        "direct::conv2d: valid padding only"
    );
    let (k, n) = (g.kh * g.kw * g.in_c, g.out_c);
    let mut y = recycle::dirty(g.output_len());
    if y.is_empty() {
        return y;
    }
    let wp = pack_kernel(w, bias, (k, n));
    let m = g.batch * g.out_h() * g.out_w();
    let balanced = m.div_ceil(4 * rayon::current_num_threads());
    let rows = (CHUNK_FLOATS / k.max(1))
        .min(balanced)
        .clamp(MR, 8192)
        .next_multiple_of(MR);
    let with_bias = bias.is_some();
    y.par_chunks_mut(rows * n).enumerate().for_each(|(ci, yc)| {
        let task = Task {
            x,
            g,
            b: &wp,
            with_bias,
            relu,
            r0: ci * rows,
        };
        run_on(isa, &task, yc);
    });
    y
}

/// The output pixels `r0..` of one task (as many as `y` has rows) and what computes them.
struct Task<'a> {
    x: &'a [f32],
    g: &'a Conv2dGeom,
    /// The packed kernel matrix, with the bias as a last row when `with_bias`.
    b: &'a [BPanelRow],
    with_bias: bool,
    relu: bool,
    r0: usize,
}

/// [`body`] with the multiply for `isa` (as `panel::gemm_on` chooses).
fn run_on(isa: Isa, task: &Task<'_>, y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Baseline && Isa::detect() != Isa::Baseline {
        // SAFETY: `body_avx2_fma` only differs from `body` in being compiled with AVX2 and
        // FMA enabled; `Isa::detect` (checked just now, whatever `isa` the caller asked for)
        // returns Avx2 or Avx512 only when the CPU has both.
        unsafe { body_avx2_fma(task, y) };
        return;
    }
    let _ = isa;
    body::<{ cfg!(target_arch = "aarch64") }>(task, y);
}

/// [`body`] with AVX2 and FMA enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn body_avx2_fma(task: &Task<'_>, y: &mut [f32]) {
    body::<true>(task, y);
}

/// Where each window of the output pixels `r0..r0 + len` starts in the image, then copies of
/// the last one up to a multiple of [`MR`] (`store` writes only real rows). Stepped pixel by
/// pixel: one division per task instead of three per pixel and panel (those divisions took a
/// quarter of the first convolution's time, 3 input channels, K = 27: `perf annotate`).
pub(crate) fn window_starts(g: &Conv2dGeom, r0: usize, len: usize) -> Vec<usize> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (mut b, mut oy, mut ox) = (r0 / (oh * ow), (r0 / ow) % oh, r0 % ow);
    let mut starts = Vec::with_capacity(len.next_multiple_of(MR));
    for _ in 0..len {
        starts.push(((b * g.in_h + oy * g.stride_h) * g.in_w + ox * g.stride_w) * g.in_c);
        ox += 1;
        if ox == ow {
            ox = 0;
            oy += 1;
            if oy == oh {
                oy = 0;
                b += 1;
            }
        }
    }
    let last = starts.last().copied().unwrap_or(0);
    starts.resize(len.next_multiple_of(MR), last);
    starts
}

/// For each B panel (`K + 1` rows of 64 bytes: in L1 up to K of about 500, in L2 beyond),
/// every tile of [`MR`] output pixels of the task.
#[inline(always)]
fn body<const FMA: bool>(task: &Task<'_>, y: &mut [f32]) {
    let g = task.g;
    let n = g.out_c;
    let k = g.kh * g.kw * g.in_c + usize::from(task.with_bias);
    let nr = y.len() / n;
    let starts = window_starts(g, task.r0, nr);
    for (q, bp) in task.b.chunks_exact(k).enumerate().take(n.div_ceil(NR)) {
        let j0 = q * NR;
        let cols = NR.min(n - j0);
        for (t, bases) in starts.chunks_exact(MR).enumerate() {
            let bases: &[usize; MR] = bases.try_into().expect("MR starts");
            let acc = tile::<FMA>(task, bases, bp);
            store(&acc, y, (t * MR, j0, cols), (nr, n), 0.0, task.relu);
        }
    }
}

/// One `MR × NR` tile: the patches of the pixels whose windows start at `bases` times the B
/// panel `b` (`K` rows, then the bias row when the task has one).
#[inline(always)]
fn tile<const FMA: bool>(task: &Task<'_>, bases: &[usize; MR], b: &[BPanelRow]) -> [[f32; NR]; MR] {
    let g = task.g;
    let ic = g.in_c;
    let mut acc = [[0.0f32; NR]; MR];
    // A window row (`kw · in_c` floats) is contiguous in the image and in patch order.
    let run = g.kw * ic;
    let mut kk = 0;
    for ky in 0..g.kh {
        let off = ky * g.in_w * ic;
        let [s0, s1, s2, s3, s4, s5]: [&[f32]; MR] =
            std::array::from_fn(|i| &task.x[bases[i] + off..][..run]);
        // Zipped iterators: no bounds check between the loads and the FMAs.
        let steps = b[kk..kk + run]
            .iter()
            .zip(s0)
            .zip(s1)
            .zip(s2)
            .zip(s3)
            .zip(s4);
        for ((((((br, a0), a1), a2), a3), a4), a5) in steps.zip(s5) {
            let ar = [*a0, *a1, *a2, *a3, *a4, *a5];
            for i in 0..MR {
                for j in 0..NR {
                    acc[i][j] = madd::<FMA>(ar[i], br[j], acc[i][j]);
                }
            }
        }
        kk += run;
    }
    if task.with_bias {
        let br = &b[kk];
        for row in &mut acc {
            for j in 0..NR {
                row[j] = madd::<FMA>(1.0, br[j], row[j]);
            }
        }
    }
    acc
}
