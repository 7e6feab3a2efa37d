//! Softmax and the fused losses. Per-row kernels write the gradient plus a per-row loss and
//! hit flag; a one-invocation kernel then reduces those into `[loss_sum, correct]`, which the
//! host reads back with a single transfer.

use cubecl::prelude::*;

use super::elementwise::sigmoid1;

/// Row-wise softmax (max-subtracted), one invocation per row.
#[cube(launch)]
pub(crate) fn softmax<F: Float + CubeElement>(
    x: &Array<F>,
    y: &mut Array<F>,
    rows: u32,
    classes: u32,
) {
    let stride = (CUBE_COUNT * (CUBE_DIM as usize)) as u32;
    let mut row = ABSOLUTE_POS as u32;
    while row < rows {
        let base = row * classes;
        let mut mx = x[base as usize];
        for j in 1..classes {
            mx = F::max(mx, x[(base + j) as usize]);
        }
        let mut sum = F::new(0.0);
        for j in 0..classes {
            let e = F::exp(x[(base + j) as usize] - mx);
            y[(base + j) as usize] = e;
            sum += e;
        }
        for j in 0..classes {
            y[(base + j) as usize] = y[(base + j) as usize] / sum;
        }
        row += stride;
    }
}

/// Softmax + sparse categorical crossentropy per row: `grad = (softmax - onehot) / rows`,
/// `row_loss = ln Σ exp(x - max) - (x[label] - max)`, `row_hit = (first arg-max == label)`.
/// A label outside `[0, classes)` reads class `classes - 1` and never counts as a hit (the
/// host validates labels when it loads data).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn softmax_xent_rows<F: Float + CubeElement>(
    x: &Array<F>,
    labels: &Array<u32>,
    grad: &mut Array<F>,
    row_loss: &mut Array<F>,
    row_hit: &mut Array<F>,
    rows: u32,
    classes: u32,
    inv_rows: F,
) {
    let stride = (CUBE_COUNT * (CUBE_DIM as usize)) as u32;
    let mut row = ABSOLUTE_POS as u32;
    while row < rows {
        let base = row * classes;
        let label = labels[row as usize];
        let lab = select(label < classes, label, classes - 1);
        let mut mx = x[base as usize];
        let mut arg = 0u32;
        for j in 1..classes {
            let v = x[(base + j) as usize];
            if v > mx {
                mx = v;
                arg = j;
            }
        }
        let mut sum = F::new(0.0);
        for j in 0..classes {
            let e = F::exp(x[(base + j) as usize] - mx);
            grad[(base + j) as usize] = e;
            sum += e;
        }
        for j in 0..classes {
            let p = grad[(base + j) as usize] / sum;
            let t = select(j == lab, F::new(1.0), F::new(0.0));
            grad[(base + j) as usize] = (p - t) * inv_rows;
        }
        row_loss[row as usize] = F::ln(sum) - (x[(base + lab) as usize] - mx);
        row_hit[row as usize] = select(arg == label, F::new(1.0), F::new(0.0));
        row += stride;
    }
}

/// Sigmoid + binary crossentropy per element: `grad = (p - t) / rows`,
/// `row_loss = max(z, 0) - z t + ln(1 + exp(-|z|))`, `row_hit = ((p >= ½) == (t >= ½))`.
#[cube(launch)]
pub(crate) fn sigmoid_bce_rows<F: Float + CubeElement>(
    z: &Array<F>,
    t: &Array<F>,
    grad: &mut Array<F>,
    row_loss: &mut Array<F>,
    row_hit: &mut Array<F>,
    inv_rows: F,
) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let mut i = ABSOLUTE_POS;
    while i < z.len() {
        let zi = z[i];
        let ti = t[i];
        let p = sigmoid1::<F>(zi);
        grad[i] = (p - ti) * inv_rows;
        row_loss[i] = F::max(zi, F::new(0.0)) - zi * ti + F::log1p(F::exp(-F::abs(zi)));
        let hit = (p >= F::new(0.5)) == (ti >= F::new(0.5));
        row_hit[i] = select(hit, F::new(1.0), F::new(0.0));
        i += stride;
    }
}

/// One invocation: `out = [Σ row_loss, Σ row_hit]`.
#[cube(launch)]
pub(crate) fn reduce_loss<F: Float + CubeElement>(
    row_loss: &Array<F>,
    row_hit: &Array<F>,
    out: &mut Array<F>,
) {
    if ABSOLUTE_POS == 0 {
        let mut loss = F::new(0.0);
        let mut hits = F::new(0.0);
        for i in 0..row_loss.len() {
            loss += row_loss[i];
            hits += row_hit[i];
        }
        out[0] = loss;
        out[1] = hits;
    }
}
