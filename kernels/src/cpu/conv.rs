//! 2-D convolution (NHWC × HWIO) forward and backward: the passes that neither Winograd
//! (`winograd.rs`: 3×3 stride-1 layers large enough, forward and both gradients) nor the
//! implicit GEMM (`direct.rs`: other valid-padding forwards) takes, as im2col + GEMM, in row
//! chunks that fit in cache and run in parallel on rayon. The GEMMs are
//! [`super::panel`]'s: the kernel matrix is packed once per op, each block once per use.
//!
//! The convolution is the matrix product `Y[M×N] = C[M×K] · W[K×N]` with `M = batch·oh·ow`
//! output pixels, `K = kh·kw·in_c` and `N = out_c`; row `r` of the im2col matrix `C` holds the
//! input patch of output pixel `r` in HWIO order `(ky, kx, ic)`, so the HWIO kernel is already
//! the row-major `K×N` matrix.

use std::cell::RefCell;

use rayon::prelude::*;

use super::gemm::MatRef;
use super::panel::{
    gemm_once_b, gemm_packed, gemm_packed_relu, pack_a, pack_b, pack_kernel, APanelRow, BPanelRow,
    Isa,
};
use super::recycle;
use super::tune::{self, Op};
use crate::geometry::Conv2dGeom;

/// Target number of floats in one im2col chunk (256 KiB: well inside a 1-2 MiB L2).
const CHUNK_FLOATS: usize = 64 * 1024;

thread_local! {
    /// Per-thread im2col block, kept across calls (rayon's workers live as long as the pool).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Per-thread packed panels of a block (A) and, in the kernel gradient, of `dY` (B).
    static PANELS: RefCell<(Vec<APanelRow>, Vec<BPanelRow>)> =
        const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` on this thread's panel buffers (contents unspecified).
fn with_panels<R>(f: impl FnOnce(&mut Vec<APanelRow>, &mut Vec<BPanelRow>) -> R) -> R {
    PANELS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => {
            let (a, b) = &mut *bufs;
            f(a, b)
        }
        Err(_) => f(&mut Vec::new(), &mut Vec::new()),
    })
}

/// Runs `f` on this thread's scratch buffer resized to `len` (contents unspecified).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        // Re-entered (an op called from inside an op's task): use a buffer of its own.
        Err(_) => f(&mut recycle::dirty(len)),
    })
}

/// Rows of the im2col matrix handled per task.
/// Rows of the im2col matrix handled per task, out of `m`: a block that fits in cache, and
/// small enough that every thread gets several blocks (for balance), but not below 16 rows.
fn chunk_rows(k: usize, m: usize) -> usize {
    let balanced = m.div_ceil(TASKS_PER_THREAD * rayon::current_num_threads());
    (CHUNK_FLOATS / k.max(1)).min(balanced).clamp(16, 8192)
}

/// Output pixels per chunk of the im2col gradients ([`chunk_rows`] with at least
/// [`MIN_GRADIENT_ROWS`] where the thread count leaves that many).
fn gradient_chunk_rows(k: usize, m: usize) -> usize {
    let balanced = m.div_ceil(TASKS_PER_THREAD * rayon::current_num_threads());
    (CHUNK_FLOATS / k.max(1))
        .max(MIN_GRADIENT_ROWS)
        .min(balanced)
        .clamp(16, 8192)
}

/// The fewest output pixels per chunk of the im2col gradients, whatever the patch length
/// `K` ([`CHUNK_FLOATS`] alone gives 28 at `K` = 2,305). The weight gradient's chunk GEMM adds
/// its `K × N` product into the accumulator tile by tile, so few pixels per chunk spent the
/// time reading and writing the accumulator; the input gradient's chunk GEMM (`dY · Wᵀ`)
/// streams all of the packed `Wᵀ` (2.4 MB at `K` = 2,304, `N` = 256) for its few rows.
/// Measured (batch 32, 3×3 valid, best of 6-10 calls, 2026-12-03, Zen 3 AVX2), before → after:
///
/// | input → output | `K` | threads | d weight (with bias) | d input |
/// |---|---|---|---|---|
/// | 9×9×256 → 256 (cats vs dogs' last conv) | 2,304 | 1 | 29.0-29.7 → 24.3-24.4 ms | 22.8-23.0 → 20.7-20.8 ms |
/// | | | 2 | 17.1-21.8 → 15.2 ms | 11.8 → 10.5-10.9 ms |
/// | 11×11×512 → 512 (as VGG16's top block) | 4,608 | 1 | 436-542 → 179-200 ms | 156 → 135 ms |
/// | | | 2 | 374-408 → 116-123 ms | 79.5-80.3 → 73.4-74.1 ms |
/// | 13×13×32 → 64 (MNIST's second; 226 pixels before) | 288 | 1 | 2.0 ms either way | 1.87-1.93 → 1.83 ms |
///
/// A chunk's im2col block grows to `256 × K` floats (4.7 MB at `K` = 4,608; 512 pixels were
/// 5-8 % faster again in the weight gradient at twice the scratch memory).
const MIN_GRADIENT_ROWS: usize = 256;

/// Minimum tasks per thread that a parallel op aims for.
const TASKS_PER_THREAD: usize = 4;

/// The lengths up to which [`copy`] and [`copy_run`] move a kernel row as a fixed-size
/// array instead of calling `memmove`: 16 covers a 3×3 kernel row of up to 5 channels (the
/// 9-float row of an RGB image's first layer went through `memmove`, 3 calls per pixel: 9 %
/// of the cats-vs-dogs training step's samples were `memmove`).
macro_rules! by_length {
    ($len:expr, $fixed:ident, $general:expr, ($($arg:expr),*)) => {
        match $len {
            1 => $fixed::<1>($($arg),*),
            2 => $fixed::<2>($($arg),*),
            3 => $fixed::<3>($($arg),*),
            4 => $fixed::<4>($($arg),*),
            5 => $fixed::<5>($($arg),*),
            6 => $fixed::<6>($($arg),*),
            7 => $fixed::<7>($($arg),*),
            8 => $fixed::<8>($($arg),*),
            9 => $fixed::<9>($($arg),*),
            10 => $fixed::<10>($($arg),*),
            11 => $fixed::<11>($($arg),*),
            12 => $fixed::<12>($($arg),*),
            13 => $fixed::<13>($($arg),*),
            14 => $fixed::<14>($($arg),*),
            15 => $fixed::<15>($($arg),*),
            16 => $fixed::<16>($($arg),*),
            _ => $general,
        }
    };
}

/// `dst.copy_from_slice(src)`, with short copies (a 3×3 kernel row of one channel is 3
/// floats) done inline: `copy_from_slice` calls `memmove`, whose call overhead made the im2col
/// of the first MNIST layer (43264 rows × 3 copies of 3 floats) slower than its GEMM.
#[inline(always)]
fn copy(dst: &mut [f32], src: &[f32]) {
    #[inline(always)]
    fn fixed<const N: usize>(dst: &mut [f32], src: &[f32]) {
        let d: &mut [f32; N] = dst.try_into().expect("length checked by the caller");
        *d = src.try_into().expect("length checked by the caller");
    }
    by_length!(dst.len(), fixed, dst.copy_from_slice(src), (dst, src))
}

/// For `t in 0..run`: `dst[t * ld..][..len] = src[t * step..][..len]`, the kernel rows of a
/// run of pixels along an output row. Lengths up to 16 are monomorphised into fixed-size
/// moves.
fn copy_run(dst: &mut [f32], ld: usize, src: &[f32], step: usize, len: usize, run: usize) {
    #[inline(always)]
    fn fixed<const N: usize>(dst: &mut [f32], ld: usize, src: &[f32], step: usize, run: usize) {
        for t in 0..run {
            let d: &mut [f32; N] = (&mut dst[t * ld..t * ld + N])
                .try_into()
                .expect("N elements");
            *d = src[t * step..t * step + N].try_into().expect("N elements");
        }
    }
    by_length!(
        len,
        fixed,
        {
            for t in 0..run {
                dst[t * ld..t * ld + len].copy_from_slice(&src[t * step..t * step + len]);
            }
        },
        (dst, ld, src, step, run)
    )
}

/// An output pixel `(image, row, column)`, stepped through in row-major order without a
/// division per step (three divisions per im2col row were a visible cost at K = 9).
#[derive(Clone, Copy)]
struct Pixel {
    b: usize,
    oy: usize,
    ox: usize,
}

impl Pixel {
    /// The pixel of flat output row `r`.
    fn at(r: usize, oh: usize, ow: usize) -> Self {
        Pixel {
            b: r / (oh * ow),
            oy: (r / ow) % oh,
            ox: r % ow,
        }
    }

    /// The next pixel.
    #[inline]
    fn advance(&mut self, oh: usize, ow: usize) {
        self.ox += 1;
        if self.ox == ow {
            self.ox = 0;
            self.oy += 1;
            if self.oy == oh {
                self.oy = 0;
                self.b += 1;
            }
        }
    }
}

/// The input patch of output pixels `r0..r0 + rows` into `cols` (`rows` rows of `ld` floats,
/// row-major). With `ld == K + 1`, each row ends with a 1, which multiplies the bias row of an
/// augmented kernel matrix.
fn im2col(x: &[f32], g: &Conv2dGeom, r0: usize, rows: usize, cols: &mut [f32], ld: usize) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (pt, pl) = (g.pad_top() as isize, g.pad_left() as isize);
    let ic = g.in_c;
    let k = g.kh * g.kw * ic;
    let row_len = g.kw * ic;
    let img_len = g.in_h * g.in_w * ic;
    let mut px = Pixel::at(r0, oh, ow);
    let mut r = 0;
    // One run of pixels along an output row at a time, so that per kernel row the source row
    // is found once per run.
    while r < rows {
        let run = (ow - px.ox).min(rows - r);
        let img = &x[px.b * img_len..(px.b + 1) * img_len];
        for ky in 0..g.kh {
            let iy = (px.oy * g.stride_h + ky) as isize - pt;
            let src_row = (iy >= 0 && iy < g.in_h as isize)
                .then(|| &img[iy as usize * g.in_w * ic..(iy as usize + 1) * g.in_w * ic]);
            // The whole run inside the image horizontally (always, with valid padding): one
            // fixed-length copy per pixel.
            let first_ix = (px.ox * g.stride_w) as isize - pl;
            let last_ix = ((px.ox + run - 1) * g.stride_w) as isize - pl;
            if let Some(src_row) =
                src_row.filter(|_| first_ix >= 0 && last_ix + g.kw as isize <= g.in_w as isize)
            {
                let run_src = &src_row[first_ix as usize * ic..];
                let run_dst = &mut cols[r * ld + ky * row_len..];
                copy_run(run_dst, ld, run_src, g.stride_w * ic, row_len, run);
                continue;
            }
            for t in 0..run {
                let d0 = (r + t) * ld + ky * row_len;
                let dst_row = &mut cols[d0..d0 + row_len];
                let Some(src_row) = src_row else {
                    dst_row.fill(0.0);
                    continue;
                };
                let ix0 = ((px.ox + t) * g.stride_w) as isize - pl;
                if ix0 >= 0 && ix0 + g.kw as isize <= g.in_w as isize {
                    // The whole kernel row is inside the image: one contiguous copy.
                    let s = ix0 as usize * ic;
                    copy(dst_row, &src_row[s..s + row_len]);
                } else {
                    for kx in 0..g.kw {
                        let ix = ix0 + kx as isize;
                        let dst = &mut dst_row[kx * ic..(kx + 1) * ic];
                        if ix < 0 || ix >= g.in_w as isize {
                            dst.fill(0.0);
                        } else {
                            let s = ix as usize * ic;
                            copy(dst, &src_row[s..s + ic]);
                        }
                    }
                }
            }
        }
        if ld > k {
            for t in 0..run {
                cols[(r + t) * ld + k..(r + t + 1) * ld].fill(1.0);
            }
        }
        r += run;
        for _ in 0..run {
            px.advance(oh, ow);
        }
    }
}

/// Adds the patch gradients of output pixels `r0..r0 + rows` (`cols`, `rows × K`) into the
/// input gradient of image `b` (`dx_img`, `in_h × in_w × in_c`). All rows belong to image `b`.
fn col2im_add(cols: &[f32], g: &Conv2dGeom, r0: usize, rows: usize, dx_img: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (pt, pl) = (g.pad_top() as isize, g.pad_left() as isize);
    let ic = g.in_c;
    let k = g.kh * g.kw * ic;
    let mut px = Pixel::at(r0, oh, ow);
    for col in cols.chunks_exact(k).take(rows) {
        let (oy, ox) = (px.oy, px.ox);
        px.advance(oh, ow);
        for ky in 0..g.kh {
            let iy = (oy * g.stride_h + ky) as isize - pt;
            if iy < 0 || iy >= g.in_h as isize {
                continue;
            }
            let dst_row = &mut dx_img[iy as usize * g.in_w * ic..(iy as usize + 1) * g.in_w * ic];
            let src_row = &col[ky * g.kw * ic..(ky + 1) * g.kw * ic];
            let ix0 = (ox * g.stride_w) as isize - pl;
            if ix0 >= 0 && ix0 + g.kw as isize <= g.in_w as isize {
                let s = ix0 as usize * ic;
                for (d, v) in dst_row[s..s + g.kw * ic].iter_mut().zip(src_row) {
                    *d += v;
                }
            } else {
                for kx in 0..g.kw {
                    let ix = ix0 + kx as isize;
                    if ix < 0 || ix >= g.in_w as isize {
                        continue;
                    }
                    let s = ix as usize * ic;
                    for (d, v) in dst_row[s..s + ic].iter_mut().zip(&src_row[kx * ic..]) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// `y = conv2d(x, w) + bias`, then with `relu` `y = max(y, 0)` as each result is stored: by
/// Winograd's F(2×2, 3×3) where it applies (3×3, stride 1, 64 or more input channels and
/// output pixels; see `winograd.rs`; with the AVX-512 multiply also from 32 input channels
/// where it times faster than the GEMM below: `winograd::may_pay`, `tune.rs`), else as an
/// implicit GEMM where that applies (valid padding; see `direct.rs`; with the AVX-512
/// multiply, where it times faster than im2col), else as im2col + GEMM.
pub(crate) fn conv2d(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &Conv2dGeom,
    relu: bool,
) -> Vec<f32> {
    assert_eq!(x.len(), g.input_len(), "conv2d: input length");
    assert_eq!(w.len(), g.weight_len(), "conv2d: kernel length");
    if let Some(b) = bias {
        assert_eq!(b.len(), g.out_c, "conv2d: bias length");
    }
    if super::winograd::applies(g) {
        return super::winograd::conv2d(x, w, bias, g, relu);
    }
    let gemm = || {
        if super::direct::applies(g) {
            return tune::prefer(
                Op::Conv2d,
                g,
                || super::direct::conv2d_on(Isa::detect(), x, w, bias, g, relu),
                || conv2d_im2col(x, w, bias, g, relu),
            );
        }
        conv2d_im2col(x, w, bias, g, relu)
    };
    if super::winograd::may_pay(g) {
        return tune::prefer(Op::Conv2dWinograd, g, gemm, || {
            super::winograd::conv2d(x, w, bias, g, relu)
        });
    }
    gemm()
}

/// [`conv2d`] as im2col + GEMM (lengths checked by [`conv2d`]).
fn conv2d_im2col(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &Conv2dGeom,
    relu: bool,
) -> Vec<f32> {
    let (k, n) = (g.kh * g.kw * g.in_c, g.out_c);
    // Fully overwritten below by a GEMM with beta 0.
    let mut y = recycle::dirty(g.output_len());
    if y.is_empty() {
        return y;
    }
    let rows = chunk_rows(k, g.batch * g.out_h() * g.out_w());
    // With a bias, the kernel matrix gets the bias as an extra row K and each im2col row an
    // extra 1: the GEMM adds the bias, with no pass over the output.
    let ld = k + usize::from(bias.is_some());
    let wp = pack_kernel(w, bias, (k, n));
    y.par_chunks_mut(rows * n).enumerate().for_each(|(ci, yc)| {
        let nr = yc.len() / n;
        with_scratch(nr * ld, |cols| {
            im2col(x, g, ci * rows, nr, cols, ld);
            with_panels(|pa, _| {
                pack_a(MatRef::row_major(cols, nr, ld), pa);
                if relu {
                    gemm_packed_relu(pa, &wp, (nr, ld, n), yc);
                } else {
                    gemm_packed(pa, &wp, (nr, ld, n), 0.0, yc);
                }
            });
        })
    });
    y
}

/// dL/dx: by Winograd where it pays (see `winograd::applies_to_input_gradient`), else
/// `col2im(dY · Wᵀ)`, whole images per task.
pub(crate) fn conv2d_backward_input(dy: &[f32], w: &[f32], g: &Conv2dGeom) -> Vec<f32> {
    assert_eq!(dy.len(), g.output_len(), "conv2d_backward_input: dy length");
    assert_eq!(
        w.len(),
        g.weight_len(),
        "conv2d_backward_input: kernel length"
    );
    if super::winograd::applies_to_input_gradient(g) {
        return super::winograd::conv2d_backward_input(dy, w, g);
    }
    let (k, n) = (g.kh * g.kw * g.in_c, g.out_c);
    let img_in = g.in_h * g.in_w * g.in_c;
    let img_rows = g.out_h() * g.out_w();
    if img_rows == 0 || img_in == 0 {
        return recycle::zeros(g.input_len());
    }
    // Each task zeroes its images first.
    let mut dx = recycle::dirty(g.input_len());
    let rows = gradient_chunk_rows(k, g.batch * img_rows);
    let mut wt = Vec::new();
    pack_b(MatRef::row_major(w, k, n).t(), &mut wt);
    // As many whole images per task as fill a block (the col2im of different images never
    // overlaps); an image larger than a block is done in several GEMMs.
    let imgs = (rows / img_rows).max(1);
    dx.par_chunks_mut(imgs * img_in)
        .enumerate()
        .for_each(|(ci, dx_imgs)| {
            dx_imgs.fill(0.0);
            let b0 = ci * imgs;
            let total = dx_imgs.len() / img_in * img_rows;
            let mut r = 0;
            while r < total {
                let nr = rows.min(total - r);
                let r0 = b0 * img_rows + r;
                with_scratch(nr * k, |cols| {
                    let dy_rows = MatRef::row_major(&dy[r0 * n..(r0 + nr) * n], nr, n);
                    with_panels(|pa, _| {
                        pack_a(dy_rows, pa);
                        gemm_packed(pa, &wt, (nr, n, k), 0.0, cols);
                    });
                    // Split the block's rows at image boundaries.
                    let mut i = 0;
                    while i < nr {
                        let b = (r0 + i) / img_rows;
                        let end = ((b + 1) * img_rows - r0).min(nr);
                        let dx_img = &mut dx_imgs[(b - b0) * img_in..(b - b0 + 1) * img_in];
                        col2im_add(&cols[i * k..end * k], g, r0 + i, end - i, dx_img);
                        i = end;
                    }
                });
                r += nr;
            }
        });
    dx
}

/// dL/dw (HWIO): `Cᵀ · dY`, as an implicit GEMM for short patches (`direct_weight.rs`), else
/// by im2col, summed over row chunks in parallel.
pub(crate) fn conv2d_backward_weight(x: &[f32], dy: &[f32], g: &Conv2dGeom) -> Vec<f32> {
    check_weight_gradient_lengths(x, dy, g);
    backward_weight_with(x, dy, g, false)
}

/// dL/dw (HWIO) and dL/dbias: by Winograd where it pays (see
/// `winograd::applies_to_weight_gradient`), else the im2col rows get a 1 appended (as in the
/// forward pass with a bias), so row `K` of `Cᵀ · dY` is the column sums of `dY`, the bias
/// gradient, from the same GEMM instead of another pass over `dY`.
pub(crate) fn conv2d_backward_weight_bias(
    x: &[f32],
    dy: &[f32],
    g: &Conv2dGeom,
) -> (Vec<f32>, Vec<f32>) {
    check_weight_gradient_lengths(x, dy, g);
    if super::winograd::applies_to_weight_gradient(g) {
        return super::winograd::conv2d_backward_weight_bias(x, dy, g);
    }
    let (k, n) = (g.kh * g.kw * g.in_c, g.out_c);
    let mut dw = backward_weight_with(x, dy, g, true);
    let db = dw[k * n..].to_vec();
    dw.truncate(k * n);
    (dw, db)
}

/// Panics unless `x` and `dy` have the lengths `g` gives them (a caller's bug).
fn check_weight_gradient_lengths(x: &[f32], dy: &[f32], g: &Conv2dGeom) {
    assert_eq!(
        x.len(),
        g.input_len(),
        "conv2d_backward_weight: input length"
    );
    assert_eq!(
        dy.len(),
        g.output_len(),
        "conv2d_backward_weight: dy length"
    );
}

/// [`backward_weight`] as an implicit GEMM where that applies (short patches, valid padding;
/// see `direct_weight.rs`), else by im2col.
fn backward_weight_with(x: &[f32], dy: &[f32], g: &Conv2dGeom, ones: bool) -> Vec<f32> {
    if super::direct_weight::applies(g) {
        return tune::prefer(
            Op::Conv2dBackwardWeight,
            g,
            || super::direct_weight::conv2d_backward_weight(x, dy, g, ones),
            || backward_weight(x, dy, g, ones),
        );
    }
    backward_weight(x, dy, g, ones)
}

/// `Cᵀ · dY` (`K × N`, or with `ones` `(K + 1) × N` whose last row sums `dY`'s columns) by
/// im2col + GEMM; lengths checked by the callers.
fn backward_weight(x: &[f32], dy: &[f32], g: &Conv2dGeom, ones: bool) -> Vec<f32> {
    let (k, n) = (g.kh * g.kw * g.in_c, g.out_c);
    let ld = k + usize::from(ones);
    let m = g.batch * g.out_h() * g.out_w();
    let rows = gradient_chunk_rows(ld, m);
    let chunks = m.div_ceil(rows);
    let per_split = (chunks / (TASKS_PER_THREAD * rayon::current_num_threads())).max(1);
    (0..chunks)
        .into_par_iter()
        .with_min_len(per_split)
        .fold(
            || recycle::zeros(ld * n),
            |mut acc, ci| {
                let r0 = ci * rows;
                let nr = rows.min(m - r0);
                with_scratch(nr * ld, |cols| {
                    im2col(x, g, r0, nr, cols, ld);
                    let dy_rows = MatRef::row_major(&dy[r0 * n..(r0 + nr) * n], nr, n);
                    with_panels(|pa, pb| {
                        pack_a(MatRef::row_major(cols, nr, ld).t(), pa);
                        gemm_once_b(pa, dy_rows, (ld, nr, n), 1.0, &mut acc, pb);
                    });
                });
                acc
            },
        )
        .reduce(|| recycle::zeros(ld * n), recycle::add_into)
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, Rng, SeedableRng};

    use super::*;
    use crate::geometry::Padding;

    #[test]
    fn the_implicit_gemm_equals_the_im2col_gemm_to_the_bit() {
        let mut rng = StdRng::seed_from_u64(3);
        for (batch, (h, w, ic, oc), (kh, kw), (sh, sw)) in [
            (2, (13, 13, 32, 64), (3, 3), (1, 1)),
            (3, (9, 12, 16, 20), (3, 2), (2, 3)),
            (1, (7, 7, 17, 33), (1, 1), (1, 1)),
            (2, (6, 5, 24, 5), (5, 4), (1, 1)),
            (2, (20, 19, 3, 32), (3, 3), (1, 1)),
            (3, (9, 10, 1, 16), (3, 3), (2, 1)),
        ] {
            let g = Conv2dGeom::of(batch, (h, w, ic, oc), (kh, kw), (sh, sw), Padding::Valid);
            let x: Vec<f32> = (0..g.input_len())
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let wt: Vec<f32> = (0..g.weight_len())
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let bias: Vec<f32> = (0..oc).map(|_| rng.gen_range(-1.0..1.0)).collect();
            for (b, relu) in [
                (Some(&bias[..]), false),
                (Some(&bias[..]), true),
                (None, false),
            ] {
                // The im2col path runs the best multiply this CPU has: the same one gives the
                // same bits; the baseline one (unfused multiply-adds) the same within rounding.
                let want = conv2d_im2col(&x, &wt, b, &g, relu);
                let got = super::super::direct::conv2d_on(Isa::detect(), &x, &wt, b, &g, relu);
                assert_eq!(got.len(), want.len());
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{g:?} bias {} relu {relu}",
                    b.is_some()
                );
                let base = super::super::direct::conv2d_on(Isa::Baseline, &x, &wt, b, &g, relu);
                for (a, b) in base.iter().zip(&want) {
                    assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{g:?} baseline");
                }
            }
        }
    }
}
