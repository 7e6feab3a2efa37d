//! Dense (fully connected) layers, forward and backward, as GEMMs split over row blocks.

use rayon::prelude::*;

use super::gemm::{gemm, MatRef};
use super::recycle;
use crate::geometry::DenseGeom;

/// Multiply-accumulates up to which a dense op runs as one GEMM on the calling thread (the
/// MNIST head, 64 × 1152 × 10, takes about 10 µs: less than a hand-off to the pool).
const SMALL_MACS: usize = 64 * super::SMALL_WORK;

/// Runs `f(first row, block)` over blocks of whole rows of a `rows_total × cols` output (each
/// row an `inner`-long dot product per column): in parallel, or as one block on the calling
/// thread when the work is small.
fn for_each_block(
    out: &mut [f32],
    rows_total: usize,
    cols: usize,
    inner: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    let macs = rows_total * cols * inner;
    if macs <= SMALL_MACS {
        f(0, out);
        return;
    }
    // Enough work per task to amortise the split.
    let rows = (32 * 1024 / (inner * cols).max(1)).clamp(8, 4096);
    out.par_chunks_mut(rows * cols)
        .enumerate()
        .for_each(|(ci, c)| f(ci * rows, c));
}

/// `y = x w + bias`.
pub(crate) fn dense(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &DenseGeom) -> Vec<f32> {
    let (b, i, o) = (g.batch, g.inputs, g.outputs);
    assert_eq!(x.len(), b * i, "dense: input length");
    assert_eq!(w.len(), i * o, "dense: kernel length");
    // Overwritten by the bias and a GEMM with beta 1, or a GEMM with beta 0.
    let mut y = recycle::dirty(b * o);
    if y.is_empty() {
        return y;
    }
    if let Some(bias) = bias {
        assert_eq!(bias.len(), o, "dense: bias length");
    }
    let wm = MatRef::row_major(w, i, o);
    for_each_block(&mut y, b, o, i, |r0, yc| {
        let nr = yc.len() / o;
        let beta = match bias {
            Some(bias) => {
                for row in yc.chunks_exact_mut(o) {
                    row.copy_from_slice(bias);
                }
                1.0
            }
            None => 0.0,
        };
        let xr = MatRef::row_major(&x[r0 * i..(r0 + nr) * i], nr, i);
        gemm(xr, wm, beta, yc);
    });
    y
}

/// dL/dx = dy wᵀ.
pub(crate) fn dense_backward_input(dy: &[f32], w: &[f32], g: &DenseGeom) -> Vec<f32> {
    let (b, i, o) = (g.batch, g.inputs, g.outputs);
    assert_eq!(dy.len(), b * o, "dense_backward_input: dy length");
    assert_eq!(w.len(), i * o, "dense_backward_input: kernel length");
    let mut dx = recycle::dirty(b * i); // GEMM with beta 0 overwrites
    if dx.is_empty() {
        return dx;
    }
    let wt = MatRef::row_major(w, i, o).t();
    for_each_block(&mut dx, b, i, o, |r0, dc| {
        let nr = dc.len() / i;
        let dyr = MatRef::row_major(&dy[r0 * o..(r0 + nr) * o], nr, o);
        gemm(dyr, wt, 0.0, dc);
    });
    dx
}

/// dL/dw = xᵀ dy.
pub(crate) fn dense_backward_weight(x: &[f32], dy: &[f32], g: &DenseGeom) -> Vec<f32> {
    let (b, i, o) = (g.batch, g.inputs, g.outputs);
    assert_eq!(x.len(), b * i, "dense_backward_weight: input length");
    assert_eq!(dy.len(), b * o, "dense_backward_weight: dy length");
    let mut dw = recycle::dirty(i * o); // GEMM with beta 0 overwrites
    if dw.is_empty() {
        return dw;
    }
    let dym = MatRef::row_major(dy, b, o);
    for_each_block(&mut dw, i, o, b, |i0, dc| {
        let nr = dc.len() / o;
        // Rows i0..i0 + nr of xᵀ: columns of x, starting at element i0.
        let xt = MatRef {
            data: &x[i0.min(x.len())..],
            rows: nr,
            cols: b,
            row_stride: 1,
            col_stride: i,
        };
        gemm(xt, dym, 0.0, dc);
    });
    dw
}
