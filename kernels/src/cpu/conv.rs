//! 2-D convolution (NHWC × HWIO) forward and backward as im2col + GEMM, in row chunks that fit
//! in cache and run in parallel on rayon.
//!
//! The convolution is the matrix product `Y[M×N] = C[M×K] · W[K×N]` with `M = batch·oh·ow`
//! output pixels, `K = kh·kw·in_c` and `N = out_c`; row `r` of the im2col matrix `C` holds the
//! input patch of output pixel `r` in HWIO order `(ky, kx, ic)`, so the HWIO kernel is already
//! the row-major `K×N` matrix.

use std::cell::RefCell;

use rayon::prelude::*;

use super::gemm::{gemm, MatRef};
use super::recycle;
use crate::geometry::Conv2dGeom;

/// Target number of floats in one im2col chunk (256 KiB: well inside a 1-2 MiB L2).
const CHUNK_FLOATS: usize = 64 * 1024;

thread_local! {
    /// Per-thread im2col block, kept across calls (rayon's workers live as long as the pool).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
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
fn chunk_rows(k: usize) -> usize {
    (CHUNK_FLOATS / k.max(1)).clamp(16, 8192)
}

/// The input patch of output pixels `r0..r0 + rows` into `cols` (`rows × K`, row-major).
fn im2col(x: &[f32], g: &Conv2dGeom, r0: usize, rows: usize, cols: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (pt, pl) = (g.pad_top() as isize, g.pad_left() as isize);
    let ic = g.in_c;
    let k = g.kh * g.kw * ic;
    for (i, col) in cols.chunks_exact_mut(k).take(rows).enumerate() {
        let r = r0 + i;
        let b = r / (oh * ow);
        let oy = (r / ow) % oh;
        let ox = r % ow;
        let img = &x[b * g.in_h * g.in_w * ic..(b + 1) * g.in_h * g.in_w * ic];
        for ky in 0..g.kh {
            let iy = (oy * g.stride_h + ky) as isize - pt;
            let dst_row = &mut col[ky * g.kw * ic..(ky + 1) * g.kw * ic];
            if iy < 0 || iy >= g.in_h as isize {
                dst_row.fill(0.0);
                continue;
            }
            let src_row = &img[iy as usize * g.in_w * ic..(iy as usize + 1) * g.in_w * ic];
            let ix0 = (ox * g.stride_w) as isize - pl;
            if ix0 >= 0 && ix0 + g.kw as isize <= g.in_w as isize {
                // The whole kernel row is inside the image: one contiguous copy.
                let s = ix0 as usize * ic;
                dst_row.copy_from_slice(&src_row[s..s + g.kw * ic]);
            } else {
                for kx in 0..g.kw {
                    let ix = ix0 + kx as isize;
                    let dst = &mut dst_row[kx * ic..(kx + 1) * ic];
                    if ix < 0 || ix >= g.in_w as isize {
                        dst.fill(0.0);
                    } else {
                        let s = ix as usize * ic;
                        dst.copy_from_slice(&src_row[s..s + ic]);
                    }
                }
            }
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
    for (i, col) in cols.chunks_exact(k).take(rows).enumerate() {
        let r = r0 + i;
        let oy = (r / ow) % oh;
        let ox = r % ow;
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

/// `y = conv2d(x, w) + bias`.
pub(crate) fn conv2d(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Conv2dGeom) -> Vec<f32> {
    assert_eq!(x.len(), g.input_len(), "conv2d: input length");
    assert_eq!(w.len(), g.weight_len(), "conv2d: kernel length");
    let (k, n) = (g.kh * g.kw * g.in_c, g.out_c);
    // Fully overwritten below: by the bias then a GEMM with beta 1, or a GEMM with beta 0.
    let mut y = recycle::dirty(g.output_len());
    if y.is_empty() {
        return y;
    }
    if let Some(b) = bias {
        assert_eq!(b.len(), n, "conv2d: bias length");
    }
    let rows = chunk_rows(k);
    let wm = MatRef::row_major(w, k, n);
    y.par_chunks_mut(rows * n).enumerate().for_each(|(ci, yc)| {
        let nr = yc.len() / n;
        with_scratch(nr * k, |cols| {
            im2col(x, g, ci * rows, nr, cols);
            let beta = match bias {
                Some(b) => {
                    for row in yc.chunks_exact_mut(n) {
                        row.copy_from_slice(b);
                    }
                    1.0
                }
                None => 0.0,
            };
            gemm(MatRef::row_major(cols, nr, k), wm, beta, yc);
        })
    });
    y
}

/// dL/dx: `col2im(dY · Wᵀ)`, whole images per task.
pub(crate) fn conv2d_backward_input(dy: &[f32], w: &[f32], g: &Conv2dGeom) -> Vec<f32> {
    assert_eq!(dy.len(), g.output_len(), "conv2d_backward_input: dy length");
    assert_eq!(
        w.len(),
        g.weight_len(),
        "conv2d_backward_input: kernel length"
    );
    let (k, n) = (g.kh * g.kw * g.in_c, g.out_c);
    let img_in = g.in_h * g.in_w * g.in_c;
    let img_rows = g.out_h() * g.out_w();
    if img_rows == 0 || img_in == 0 {
        return recycle::zeros(g.input_len());
    }
    // Each task zeroes its images first.
    let mut dx = recycle::dirty(g.input_len());
    let rows = chunk_rows(k);
    let wt = MatRef::row_major(w, k, n).t();
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
                    gemm(dy_rows, wt, 0.0, cols);
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

/// dL/dw (HWIO): `Cᵀ · dY`, summed over row chunks in parallel.
pub(crate) fn conv2d_backward_weight(x: &[f32], dy: &[f32], g: &Conv2dGeom) -> Vec<f32> {
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
    let (k, n) = (g.kh * g.kw * g.in_c, g.out_c);
    let m = g.batch * g.out_h() * g.out_w();
    let rows = chunk_rows(k);
    let chunks = m.div_ceil(rows);
    let per_split = (chunks / (4 * rayon::current_num_threads())).max(1);
    (0..chunks)
        .into_par_iter()
        .with_min_len(per_split)
        .fold(
            || recycle::zeros(k * n),
            |mut acc, ci| {
                let r0 = ci * rows;
                let nr = rows.min(m - r0);
                with_scratch(nr * k, |cols| {
                    im2col(x, g, r0, nr, cols);
                    let dy_rows = MatRef::row_major(&dy[r0 * n..(r0 + nr) * n], nr, n);
                    gemm(MatRef::row_major(cols, nr, k).t(), dy_rows, 1.0, &mut acc);
                });
                acc
            },
        )
        .reduce(|| recycle::zeros(k * n), add_into)
}

/// Element-wise `a += b`, returning `a` (and `b`'s buffer to the recycler).
pub(crate) fn add_into(mut a: Vec<f32>, b: Vec<f32>) -> Vec<f32> {
    for (x, y) in a.iter_mut().zip(&b) {
        *x += y;
    }
    recycle::F32.give(b);
    a
}
