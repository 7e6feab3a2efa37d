//! The kernel and bias gradients of a 3×3 stride-1 convolution by the transpose of
//! Winograd's F(2×2, 3×3) (see the module above).

use rayon::prelude::*;

use super::{input_patch, supported, tile_slices, Frame, Scratch, SCRATCH};
use crate::cpu::gemm::MatRef;
use crate::cpu::panel::{gemm_once_b, pack_a, widest};
use crate::cpu::recycle;
use crate::geometry::Conv2dGeom;

/// Floats of both transforms per task in the kernel gradient (4 MiB: a chunk of tiles stays
/// in L3; smaller chunks cost more than they save there, as each chunk's 16 GEMMs read and
/// write the `16 × in_c × out_c` sums: 20×20×128→256 39 ms at this size vs 44-50 at a
/// quarter or an eighth of it).
const CHUNK_FLOATS: usize = 1024 * 1024;

/// `G`, the kernel transform of F(2×2, 3×3).
const G: [[f32; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0.0, 0.0, 1.0],
];

/// `d = a - b`, element-wise (a loop LLVM vectorises).
#[inline(always)]
fn sub(d: &mut [f32], a: &[f32], b: &[f32]) {
    for ((d, a), b) in d.iter_mut().zip(a).zip(b) {
        *d = a - b;
    }
}

/// `d = a + b`, element-wise.
#[inline(always)]
fn add(d: &mut [f32], a: &[f32], b: &[f32]) {
    for ((d, a), b) in d.iter_mut().zip(a).zip(b) {
        *d = a + b;
    }
}

/// The input transform `Bᵀ d B` of one tile, for every channel: `p[dy][dx]` is the patch's
/// pixel (`ic` channels, zeros outside the image), `v[e]` receives element `e` (row-major 4×4)
/// of the transform; `t` (16 × `ic`) holds `Bᵀ d`. Each step is a pass over the channels.
#[inline(always)]
fn input_channels(p: &[[&[f32]; 4]; 4], v: [&mut [f32]; 16], t: &mut [f32], ic: usize) {
    let mut rows = t.chunks_exact_mut(ic);
    let mut t: [&mut [f32]; 16] = std::array::from_fn(|_| rows.next().expect("16 rows"));
    for s in 0..4 {
        sub(t[s], p[0][s], p[2][s]);
        add(t[4 + s], p[1][s], p[2][s]);
        sub(t[8 + s], p[2][s], p[1][s]);
        sub(t[12 + s], p[1][s], p[3][s]);
    }
    let [v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15] = v;
    for (r, [a, b, c, d]) in [
        [v0, v1, v2, v3],
        [v4, v5, v6, v7],
        [v8, v9, v10, v11],
        [v12, v13, v14, v15],
    ]
    .into_iter()
    .enumerate()
    {
        let tr = &mut t[4 * r..4 * r + 4];
        sub(a, tr[0], tr[2]);
        add(b, tr[1], tr[2]);
        sub(c, tr[2], tr[1]);
        sub(d, tr[1], tr[3]);
    }
}

/// Arguments of [`gradient_tile_rows`].
type GradientArgs<'a> = (&'a [f32], &'a [f32], &'a Frame, &'a [f32]);

/// dL/dw (HWIO) and dL/dbias of a [`supported`] convolution by the transpose of the forward
/// algorithm (lengths checked by `conv`). The forward tile is the trilinear form
/// `Σ dY ⊙ Y = Σ (A dY Aᵀ) ⊙ (G g Gᵀ) ⊙ (Bᵀ d B)`, so its kernel gradient is
/// `Gᵀ [Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)] G`: per tile, the forward's input transform of the 4×4
/// input patch and a 2×2 → 4×4 transform of the tile's `dY`; over tiles, 16 GEMMs
/// `M_e[in_c × out_c] += (Bᵀ d B)_eᵀ · (A dY Aᵀ)_e` whose reduction runs over the tiles (long,
/// unlike the forward's over the channels); one 4×4 → 3×3 transform at the end. Every `dY`
/// pixel is in one tile, so the same pass sums the bias gradient.
pub(crate) fn conv2d_backward_weight_bias(
    x: &[f32],
    dy: &[f32],
    g: &Conv2dGeom,
) -> (Vec<f32>, Vec<f32>) {
    assert!(
        supported(g),
        "winograd::conv2d_backward_weight_bias: unsupported geometry"
    );
    let f = Frame::forward(g);
    let (ic, oc) = (f.in_c, f.out_c);
    let (th, tw) = (f.out_h.div_ceil(2), f.out_w.div_ceil(2));
    let rows = f.batch * th;
    // Tasks of about `CHUNK_FLOATS` of both transforms, and at least four per thread.
    let balanced = rows.div_ceil(4 * rayon::current_num_threads());
    let per_task = (CHUNK_FLOATS / (16 * tw * (ic + oc))).min(balanced).max(1);
    let zero = vec![0.0f32; ic.max(oc)];
    let len = 16 * ic * oc + oc;
    let sums = (0..rows.div_ceil(per_task))
        .into_par_iter()
        .fold(
            || recycle::zeros(len),
            |mut acc, task| {
                let span = task * per_task..((task + 1) * per_task).min(rows);
                let args = (x, dy, &f, &zero[..]);
                SCRATCH.with(|cell| match cell.try_borrow_mut() {
                    Ok(mut s) => gradient_tile_rows(args, span, &mut acc, &mut s),
                    // Re-entered from inside an op's task: buffers of its own.
                    Err(_) => gradient_tile_rows(args, span, &mut acc, &mut Scratch::default()),
                });
                acc
            },
        )
        .reduce(|| recycle::zeros(len), recycle::add_into);
    // dW[ky][kx] = Σ_ij G[i][ky] M[i][j] G[j][kx].
    let mut dw = vec![0.0f32; 9 * ic * oc];
    for co in 0..ic * oc {
        let m = |e: usize| sums[e * ic * oc + co];
        let mut t = [[0.0f32; 4]; 3];
        for (ky, row) in t.iter_mut().enumerate() {
            for (j, tv) in row.iter_mut().enumerate() {
                *tv = (0..4).map(|i| G[i][ky] * m(4 * i + j)).sum();
            }
        }
        for (ky, row) in t.iter().enumerate() {
            for kx in 0..3 {
                dw[(ky * 3 + kx) * ic * oc + co] = (0..4).map(|j| row[j] * G[j][kx]).sum();
            }
        }
    }
    let db = sums[16 * ic * oc..].to_vec();
    recycle::F32.give(sums);
    (dw, db)
}

/// `(o0, o1, o2, o3) = (p, p + q, p - q, -q)`, element-wise: one row (or column) of the
/// 2 → 4 transform `A ·` of the kernel gradient.
#[inline(always)]
fn spread(p: &[f32], q: &[f32], [o0, o1, o2, o3]: [&mut [f32]; 4]) {
    let outs = o0
        .iter_mut()
        .zip(o1.iter_mut())
        .zip(o2.iter_mut())
        .zip(o3.iter_mut());
    for ((((o0, o1), o2), o3), (p, q)) in outs.zip(p.iter().zip(q)) {
        *o0 = *p;
        *o1 = p + q;
        *o2 = p - q;
        *o3 = -q;
    }
}

/// The transform `A dY Aᵀ` of one tile's 2×2 output gradient `p` (`[dy00, dy01, dy10, dy11]`,
/// zeros outside the output), for every output channel, into `v[e]` (row-major 4×4); adds the
/// four pixels to `db`. `t` (6 × `oc`) holds `A dY`'s rows. Each step is a pass over the
/// channels.
#[inline(always)]
fn gradient_channels(p: [&[f32]; 4], v: [&mut [f32]; 16], db: &mut [f32], t: &mut [f32]) {
    let oc = db.len();
    let [a, b, c, d] = p.map(|q| &q[..oc]);
    let mut rows = t.chunks_exact_mut(oc);
    let [s0, s1, d0, d1, nc, nd]: [&mut [f32]; 6] =
        std::array::from_fn(|_| rows.next().expect("6 rows"));
    // A dY: rows (a, b), (a + c, b + d), (a - c, b - d), (-c, -d).
    add(s0, a, c);
    add(s1, b, d);
    sub(d0, a, c);
    sub(d1, b, d);
    for ((nc, nd), (c, d)) in nc.iter_mut().zip(nd.iter_mut()).zip(c.iter().zip(d)) {
        *nc = -c;
        *nd = -d;
    }
    let [v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15] = v;
    spread(a, b, [v0, v1, v2, v3]);
    spread(s0, s1, [v4, v5, v6, v7]);
    spread(d0, d1, [v8, v9, v10, v11]);
    spread(nc, nd, [v12, v13, v14, v15]);
    // v5 = a + b + c + d.
    for (db, s) in db.iter_mut().zip(v5.iter()) {
        *db += s;
    }
}

/// The kernel-gradient sums of tile rows `span` (tile row `r` is row `r % th` of image
/// `r / th`) added into `acc` (`16 × in_c × out_c` products, then `out_c` bias sums).
/// `(x, dy, g, zero)`: the input, the output gradient, their frame, and a zero pixel. The
/// transforms are compiled for the widest vectors this CPU has, as in [`tile_rows`].
fn gradient_tile_rows(
    args: GradientArgs<'_>,
    span: std::ops::Range<usize>,
    acc: &mut [f32],
    s: &mut Scratch,
) {
    widest(
        #[inline(always)]
        || gradient_tile_rows_body(args, span, acc, s),
    )
}

/// [`gradient_tile_rows`], inlined into each of [`widest`]'s variants.
#[inline(always)]
fn gradient_tile_rows_body(
    (x, dy, g, zero): GradientArgs<'_>,
    span: std::ops::Range<usize>,
    acc: &mut [f32],
    s: &mut Scratch,
) {
    let (ic, oc) = (g.in_c, g.out_c);
    let (oh, ow) = (g.out_h, g.out_w);
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let nt = span.len() * tw;
    s.v.resize(16 * nt * ic, 0.0);
    s.t.resize(16 * ic.max(oc), 0.0);
    s.m.resize(16 * nt * oc, 0.0);
    let (sums, db) = acc.split_at_mut(16 * ic * oc);
    for (r, row) in span.enumerate() {
        let (b, ty) = (row / th, row % th);
        let img = &dy[b * oh * ow * oc..(b + 1) * oh * ow * oc];
        for tx in 0..tw {
            let t = r * tw + tx;
            let patch = input_patch::<4>(x, g, (b, ty, tx), zero);
            input_channels(&patch, tile_slices::<16>(&mut s.v, nt, t, ic), &mut s.t, ic);
            let pixels: [&[f32]; 4] = std::array::from_fn(|k| {
                let (oy, ox) = (2 * ty + k / 2, 2 * tx + k % 2);
                if oy < oh && ox < ow {
                    &img[(oy * ow + ox) * oc..(oy * ow + ox + 1) * oc]
                } else {
                    &zero[..oc]
                }
            });
            gradient_channels(pixels, tile_slices::<16>(&mut s.m, nt, t, oc), db, &mut s.t);
        }
    }
    for (e, m_e) in sums.chunks_exact_mut(ic * oc).enumerate() {
        pack_a(
            MatRef::row_major(&s.v[e * nt * ic..(e + 1) * nt * ic], nt, ic).t(),
            &mut s.panels,
        );
        let dy_e = MatRef::row_major(&s.m[e * nt * oc..(e + 1) * nt * oc], nt, oc);
        gemm_once_b(&s.panels, dy_e, (ic, nt, oc), 1.0, m_e, &mut s.bpanels);
    }
}
