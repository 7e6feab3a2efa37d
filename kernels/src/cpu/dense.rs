//! Dense (fully connected) layers, forward and backward, as GEMMs split over row blocks.

use rayon::prelude::*;

use super::gemm::{gemm, MatRef};
use super::recycle;
use crate::geometry::DenseGeom;

/// Output rows per parallel task: enough work per task to amortise the split.
fn block_rows(inner: usize, cols: usize) -> usize {
    (32 * 1024 / (inner * cols).max(1)).clamp(8, 4096)
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
    let rows = block_rows(i, o);
    let wm = MatRef::row_major(w, i, o);
    y.par_chunks_mut(rows * o).enumerate().for_each(|(ci, yc)| {
        let nr = yc.len() / o;
        let r0 = ci * rows;
        let beta = match bias {
            Some(bias) => {
                for row in yc.chunks_exact_mut(o) {
                    row.copy_from_slice(bias);
                }
                1.0
            }
            None => 0.0,
        };
        gemm(
            MatRef::row_major(&x[r0 * i..(r0 + nr) * i], nr, i),
            wm,
            beta,
            yc,
        );
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
    let rows = block_rows(o, i);
    let wt = MatRef::row_major(w, i, o).t();
    dx.par_chunks_mut(rows * i)
        .enumerate()
        .for_each(|(ci, dc)| {
            let nr = dc.len() / i;
            let r0 = ci * rows;
            gemm(
                MatRef::row_major(&dy[r0 * o..(r0 + nr) * o], nr, o),
                wt,
                0.0,
                dc,
            );
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
    let rows = block_rows(b, o);
    let dym = MatRef::row_major(dy, b, o);
    dw.par_chunks_mut(rows * o)
        .enumerate()
        .for_each(|(ci, dc)| {
            let nr = dc.len() / o;
            let i0 = ci * rows;
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
