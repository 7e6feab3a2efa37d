//! Run-time-shaped f32 kernels for the float interpreter ([`crate::float::interpreter`]): the
//! same loops, in the same order, as the const-generic layers' f32 forward passes (so both give
//! bit-identical results), with the shapes taken from a validated plan instead of type
//! parameters. Weights are any [`WeightStore`] (f32 or f16 in the blob), Keras layouts: conv
//! HWIO, dense `[in][out]`.

use crate::weights::WeightStore;
use crate::window::Window2d;

/// Conv2D: `x` is `h x w x c`, `out` is `oh x ow x filters`, both channels-last; `kernel`
/// `k x k x c x filters`, `bias` `filters` values (lengths checked when the blob was bound).
pub fn conv2d<S: WeightStore>(
    g: &Window2d,
    filters: usize,
    kernel: S,
    bias: S,
    relu: bool,
    x: &[f32],
    out: &mut [f32],
) {
    let c = g.c;
    for oy in 0..g.oh {
        let (y0, y1) = g.rows(oy);
        for ox in 0..g.ow {
            let (x0, x1) = g.cols(ox);
            let o = (oy * g.ow + ox) * filters;
            let acc = &mut out[o..o + filters];
            for (co, a) in acc.iter_mut().enumerate() {
                *a = bias.get(co);
            }
            for iy in y0..y1 {
                let ky = iy + g.pad_top - oy * g.stride;
                for ix in x0..x1 {
                    let kx = ix + g.pad_left - ox * g.stride;
                    let xs = &x[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c];
                    let wbase = (ky * g.k + kx) * c * filters;
                    for (ci, &xv) in xs.iter().enumerate() {
                        kernel.axpy(wbase + ci * filters, xv, acc);
                    }
                }
            }
            if relu {
                super::relu(acc);
            }
        }
    }
}

/// Dense: `out[o] = bias[o] + Σ_i x[i] · kernel[i][o]`, then ReLU if asked.
pub fn dense<S: WeightStore>(
    units: usize,
    kernel: S,
    bias: S,
    relu: bool,
    x: &[f32],
    out: &mut [f32],
) {
    let out = &mut out[..units];
    for (o, v) in out.iter_mut().enumerate() {
        *v = bias.get(o);
    }
    for (i, &xv) in x.iter().enumerate() {
        kernel.axpy(i * units, xv, out);
    }
    if relu {
        super::relu(out);
    }
}

/// Average pooling over the window's valid positions (padding is not counted, as Keras).
pub fn avg_pool(g: &Window2d, x: &[f32], out: &mut [f32]) {
    let c = g.c;
    for oy in 0..g.oh {
        let (y0, y1) = g.rows(oy);
        for ox in 0..g.ow {
            let (x0, x1) = g.cols(ox);
            let o = &mut out[(oy * g.ow + ox) * c..(oy * g.ow + ox + 1) * c];
            o.fill(0.0);
            for iy in y0..y1 {
                for ix in x0..x1 {
                    let xs = &x[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c];
                    for (m, &v) in o.iter_mut().zip(xs) {
                        *m += v;
                    }
                }
            }
            let count = ((y1 - y0) * (x1 - x0)) as f32;
            for m in o.iter_mut() {
                *m /= count;
            }
        }
    }
}
