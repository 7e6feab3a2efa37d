//! Direct convolution, forward and kernel gradient, for layers with few input channels (a
//! network's first layer: 1 channel for MNIST, 3 for photos).
//!
//! There the im2col matrix has `K = kh·kw·in_c` = 9 or 27 columns: the GEMM's register tile
//! spends more time loading and storing its output than multiplying, and forming the matrix
//! copies 3-float rows. The MNIST first layer took 1.0-1.3 ms forward and 0.7-0.8 ms for the
//! kernel gradient per 32 images on one thread (`host bench`), for 6.2 M multiply-adds. Here
//! output channels are accumulated in registers, 8 at a time for 8 pixels of a row, over the
//! taps of their windows, with the kernel (`kh·kw·in_c·out_c` floats, 1 KiB for MNIST's
//! first layer) in cache.
//!
//! On x86-64 the loops are compiled a second time with AVX2 + FMA, chosen at run time as in
//! [`super::panel`].

use rayon::prelude::*;

use super::panel::madd;
use super::recycle;
use crate::geometry::Conv2dGeom;

/// Input channels up to which the direct convolution is used.
pub(crate) const MAX_IN_C: usize = 4;

/// Output channels accumulated together: one AVX2 register.
const OB: usize = 8;

/// Whether [`conv2d`] and [`conv2d_backward_weight`] take this layer.
pub(crate) fn applies(g: &Conv2dGeom) -> bool {
    (1..=MAX_IN_C).contains(&g.in_c) && g.kh > 0 && g.kw > 0
}

/// The in-bounds taps of output position `o` along one axis: `(first tap, last tap + 1,
/// input position of the first tap)`.
#[inline(always)]
fn taps(o: usize, stride: usize, pad: usize, k: usize, len: usize) -> (usize, usize, usize) {
    let start = (o * stride) as isize - pad as isize;
    let t0 = (-start).max(0) as usize;
    let t1 = ((len as isize - start).max(0) as usize).min(k);
    let t0 = t0.min(t1);
    (t0, t1, (start + t0 as isize) as usize)
}

/// One tap's weights for a block of [`OB`] output channels (zero beyond the last channel).
type Row = [f32; OB];

/// `w` (HWIO, `K = kh·kw·in_c` rows of `out_c`) as `⌈out_c / OB⌉` blocks of `K` rows of
/// [`OB`] channels, so that a run of taps reads consecutive rows.
fn pack_kernel(w: &[f32], k: usize, oc: usize) -> Vec<Row> {
    let blocks = oc.div_ceil(OB);
    let mut p = vec![[0.0; OB]; blocks * k];
    for (blk, rows) in p.chunks_exact_mut(k.max(1)).enumerate().take(blocks) {
        let o0 = blk * OB;
        let ob = OB.min(oc - o0);
        for (t, r) in rows.iter_mut().enumerate() {
            r[..ob].copy_from_slice(&w[t * oc + o0..t * oc + o0 + ob]);
        }
    }
    p
}

/// `y = conv2d(x, w) + bias`, NHWC × HWIO, one image per task.
pub(crate) fn conv2d(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Conv2dGeom) -> Vec<f32> {
    assert_eq!(x.len(), g.input_len(), "conv2d: input length");
    assert_eq!(w.len(), g.weight_len(), "conv2d: kernel length");
    let oc = g.out_c;
    if let Some(b) = bias {
        assert_eq!(b.len(), oc, "conv2d: bias length");
    }
    // Every output element is written below.
    let mut y = recycle::dirty(g.output_len());
    let img_out = g.out_h() * g.out_w() * oc;
    if img_out == 0 {
        return y;
    }
    let k = g.kh * g.kw * g.in_c;
    let wp = pack_kernel(w, k, oc);
    let bp = match bias {
        Some(b) => pack_kernel(b, 1, oc),
        None => vec![[0.0; OB]; oc.div_ceil(OB)],
    };
    let img_in = g.in_h * g.in_w * g.in_c;
    y.par_chunks_mut(img_out).enumerate().for_each(|(b, yi)| {
        forward_image(&x[b * img_in..(b + 1) * img_in], &wp, &bp, g, yi);
    });
    y
}

fn forward_image(x: &[f32], wp: &[Row], bp: &[Row], g: &Conv2dGeom, y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: `forward_avx2_fma` only differs from `forward_body` in being compiled with
        // AVX2 and FMA enabled; the CPU was just checked to support both.
        unsafe { forward_avx2_fma(x, wp, bp, g, y) };
        return;
    }
    forward_body::<false>(x, wp, bp, g, y);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn forward_avx2_fma(x: &[f32], wp: &[Row], bp: &[Row], g: &Conv2dGeom, y: &mut [f32]) {
    forward_body::<true>(x, wp, bp, g, y);
}

/// The first [`OB`] floats of `src` (fewer: zero-filled) as a register block. A copy of a
/// run-time length is a `memmove` call, which kept the block out of registers.
#[inline(always)]
fn load(src: &[f32]) -> Row {
    match src.first_chunk::<OB>() {
        Some(r) => *r,
        None => {
            let mut r = [0.0; OB];
            r[..src.len()].copy_from_slice(src);
            r
        }
    }
}

/// Stores a register block into the first [`OB`] floats of `dst` (fewer: as many as fit).
#[inline(always)]
fn store(dst: &mut [f32], r: &Row) {
    match dst.first_chunk_mut::<OB>() {
        Some(d) => *d = *r,
        None => {
            let n = dst.len();
            dst.copy_from_slice(&r[..n]);
        }
    }
}

/// `acc + Σ_t xs[t] · ws[t]`.
#[inline(always)]
fn dot_rows<const FMA: bool>(xs: &[f32], ws: &[Row], mut acc: Row) -> Row {
    for (&xv, wr) in xs.iter().zip(ws) {
        for (a, &w) in acc.iter_mut().zip(wr) {
            *a = madd::<FMA>(xv, w, *a);
        }
    }
    acc
}

/// `ds[t] += xs[t] · e` for every `t`.
#[inline(always)]
fn outer_rows<const FMA: bool>(xs: &[f32], e: &Row, ds: &mut [Row]) {
    for (&xv, d) in xs.iter().zip(ds) {
        for j in 0..OB {
            d[j] = madd::<FMA>(xv, e[j], d[j]);
        }
    }
}

/// Output pixels of a row done together: independent accumulators, one per pixel, hide the
/// multiply-add latency (one pixel's chain of `kh·kw·in_c` dependent multiply-adds was
/// latency-bound).
const PX: usize = 8;

/// The output columns `ox` whose windows lie wholly inside the input row (no padding taps):
/// `lo..hi`.
fn interior(g: &Conv2dGeom) -> (usize, usize) {
    let (pl, sw) = (g.pad_left(), g.stride_w);
    let lo = pl.div_ceil(sw);
    // ox * sw - pl + kw <= in_w
    let hi = if g.in_w + pl >= g.kw {
        ((g.in_w + pl - g.kw) / sw + 1).min(g.out_w())
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Where the windows of a tile of [`PX`] pixels lie in the input: `rows` kernel rows `stride`
/// floats apart, each `run` consecutive floats, the pixels `step` floats apart.
#[derive(Clone, Copy)]
struct Window {
    rows: usize,
    stride: usize,
    run: usize,
    step: usize,
}

impl Window {
    /// The input of pixel `p` at tap `t` of kernel row `r`.
    #[inline(always)]
    fn at(&self, xs: &[f32], r: usize, t: usize, p: usize) -> f32 {
        xs[r * self.stride + p * self.step + t]
    }
}

/// A [`PX`] × [`OB`] output tile: `acc[p] += Σ_{r,t} xs(r, t, p) · ws[r·run + t]`.
#[inline(always)]
fn tile<const FMA: bool>(xs: &[f32], win: Window, ws: &[Row], acc: &mut [Row; PX]) {
    #[cfg(target_arch = "x86_64")]
    if FMA {
        // SAFETY: `FMA` is true only in the bodies compiled for AVX2 + FMA, which run after
        // the CPU was checked to have both (`forward_image`, `weight_image`).
        unsafe { tile_avx2(xs, win, ws, acc) };
        return;
    }
    for r in 0..win.rows {
        for (t, w) in ws[r * win.run..(r + 1) * win.run].iter().enumerate() {
            for (p, a) in acc.iter_mut().enumerate() {
                let xv = win.at(xs, r, t, p);
                for (av, &wv) in a.iter_mut().zip(w) {
                    *av = madd::<FMA>(xv, wv, *av);
                }
            }
        }
    }
}

/// [`tile`] in AVX2 registers. Written with intrinsics: LLVM scalarised every plain form of
/// this tile (one pixel's 8 channels as a lane vector, [`PX`] pixels in flight) and left the
/// direct convolution slower than im2col + GEMM.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tile_avx2(xs: &[f32], win: Window, ws: &[Row], acc: &mut [Row; PX]) {
    use std::arch::x86_64::{__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_setzero_ps};
    let mut a: [__m256; PX] = [_mm256_setzero_ps(); PX];
    for (v, r) in a.iter_mut().zip(acc.iter()) {
        *v = bytemuck::cast(*r);
    }
    for r in 0..win.rows {
        for (t, w) in ws[r * win.run..(r + 1) * win.run].iter().enumerate() {
            let wv: __m256 = bytemuck::cast(*w);
            for (p, v) in a.iter_mut().enumerate() {
                *v = _mm256_fmadd_ps(_mm256_set1_ps(win.at(xs, r, t, p)), wv, *v);
            }
        }
    }
    for (r, v) in acc.iter_mut().zip(a) {
        *r = bytemuck::cast(v);
    }
}

/// The kernel gradient of a tile of [`PX`] pixels: `ds[r·run + t] += Σ_p xs(r, t, p) · e[p]`.
#[inline(always)]
fn weight_tile<const FMA: bool>(xs: &[f32], win: Window, e: &[Row; PX], ds: &mut [Row]) {
    #[cfg(target_arch = "x86_64")]
    if FMA {
        // SAFETY: as in `tile`.
        unsafe { weight_tile_avx2(xs, win, e, ds) };
        return;
    }
    for r in 0..win.rows {
        for (t, d) in ds[r * win.run..(r + 1) * win.run].iter_mut().enumerate() {
            for (p, ep) in e.iter().enumerate() {
                let xv = win.at(xs, r, t, p);
                for (dv, &ev) in d.iter_mut().zip(ep) {
                    *dv = madd::<FMA>(xv, ev, *dv);
                }
            }
        }
    }
}

/// [`weight_tile`] in AVX2 registers, each kernel row's sum over the pixels in two chains.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn weight_tile_avx2(xs: &[f32], win: Window, e: &[Row; PX], ds: &mut [Row]) {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_setzero_ps,
    };
    let mut ev: [__m256; PX] = [_mm256_setzero_ps(); PX];
    for (v, r) in ev.iter_mut().zip(e) {
        *v = bytemuck::cast(*r);
    }
    for r in 0..win.rows {
        for (t, d) in ds[r * win.run..(r + 1) * win.run].iter_mut().enumerate() {
            let (mut s0, mut s1): (__m256, __m256) = (bytemuck::cast(*d), _mm256_setzero_ps());
            for p in (0..PX).step_by(2) {
                s0 = _mm256_fmadd_ps(_mm256_set1_ps(win.at(xs, r, t, p)), ev[p], s0);
                s1 = _mm256_fmadd_ps(_mm256_set1_ps(win.at(xs, r, t, p + 1)), ev[p + 1], s1);
            }
            *d = bytemuck::cast(_mm256_add_ps(s0, s1));
        }
    }
}

/// One image's output: for each pixel and block of [`OB`] output channels, the bias plus the
/// sum over the window's in-bounds taps; along one kernel row those are consecutive in both
/// the input (NHWC) and the packed kernel. Interior pixels go [`PX`] at a time.
#[inline(always)]
fn forward_body<const FMA: bool>(x: &[f32], wp: &[Row], bp: &[Row], g: &Conv2dGeom, y: &mut [f32]) {
    let (oc, ic) = (g.out_c, g.in_c);
    let k = g.kh * g.kw * ic;
    let (pt, pl, sw) = (g.pad_top(), g.pad_left(), g.stride_w);
    let (lo, hi) = interior(g);
    let run_full = g.kw * ic;
    for (oy, yrow) in y.chunks_exact_mut(g.out_w() * oc).enumerate() {
        let (ky0, ky1, iy0) = taps(oy, g.stride_h, pt, g.kh, g.in_h);
        let win = Window {
            rows: ky1 - ky0,
            stride: g.in_w * ic,
            run: run_full,
            step: sw * ic,
        };
        let mut ox = 0;
        while ox < g.out_w() {
            if ox >= lo && ox + PX <= hi {
                // PX interior pixels: full kernel rows, input starts `sw · ic` apart.
                let ix0 = ox * sw - pl;
                let xs = &x[(iy0 * g.in_w + ix0) * ic..];
                for (blk, (ws, b)) in wp.chunks_exact(k).zip(bp).enumerate() {
                    let mut acc = [*b; PX];
                    tile::<FMA>(xs, win, &ws[ky0 * run_full..ky1 * run_full], &mut acc);
                    for (p, a) in acc.iter().enumerate() {
                        store(&mut yrow[(ox + p) * oc + blk * OB..(ox + p + 1) * oc], a);
                    }
                }
                ox += PX;
                continue;
            }
            let yp = &mut yrow[ox * oc..(ox + 1) * oc];
            let (kx0, kx1, ix0) = taps(ox, sw, pl, g.kw, g.in_w);
            let run = (kx1 - kx0) * ic;
            for (blk, (ws, b)) in wp.chunks_exact(k).zip(bp).enumerate() {
                let mut acc = *b;
                for (ky, iy) in (ky0..ky1).zip(iy0..) {
                    let xs = &x[(iy * g.in_w + ix0) * ic..][..run];
                    acc = dot_rows::<FMA>(xs, &ws[(ky * g.kw + kx0) * ic..][..run], acc);
                }
                store(&mut yp[blk * OB..], &acc);
            }
            ox += 1;
        }
    }
}

/// dL/dw (HWIO): for every output pixel, each in-bounds tap's input times the pixel's `dy`,
/// summed per task over whole images (in packed blocks, as the forward kernel), then over
/// tasks.
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
    let oc = g.out_c;
    let img_in = g.in_h * g.in_w * g.in_c;
    let img_out = g.out_h() * g.out_w() * oc;
    let mut dw = recycle::zeros(g.weight_len());
    if img_out == 0 || img_in == 0 {
        return dw;
    }
    let k = g.kh * g.kw * g.in_c;
    let rows = oc.div_ceil(OB) * k;
    let packed = (0..g.batch)
        .into_par_iter()
        .fold(
            || vec![[0.0; OB]; rows],
            |mut acc, b| {
                weight_image(
                    &x[b * img_in..(b + 1) * img_in],
                    &dy[b * img_out..(b + 1) * img_out],
                    g,
                    &mut acc,
                );
                acc
            },
        )
        .reduce(
            || vec![[0.0; OB]; rows],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    for j in 0..OB {
                        x[j] += y[j];
                    }
                }
                a
            },
        );
    for (blk, ps) in packed.chunks_exact(k).enumerate() {
        let o0 = blk * OB;
        let ob = OB.min(oc - o0);
        for (t, r) in ps.iter().enumerate() {
            dw[t * oc + o0..t * oc + o0 + ob].copy_from_slice(&r[..ob]);
        }
    }
    dw
}

fn weight_image(x: &[f32], dy: &[f32], g: &Conv2dGeom, dwp: &mut [Row]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: as in `forward_image`: the same code compiled with AVX2 and FMA, which the
        // CPU was just checked to support.
        unsafe { weight_avx2_fma(x, dy, g, dwp) };
        return;
    }
    weight_body::<false>(x, dy, g, dwp);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn weight_avx2_fma(x: &[f32], dy: &[f32], g: &Conv2dGeom, dwp: &mut [Row]) {
    weight_body::<true>(x, dy, g, dwp);
}

/// One image's contribution to the packed kernel gradient `dwp`, which stays in L1 (at most
/// `kh·kw·4` rows per block of [`OB`] channels). Interior pixels go [`PX`] at a time, each
/// kernel row's update summed over them in two independent chains.
#[inline(always)]
fn weight_body<const FMA: bool>(x: &[f32], dy: &[f32], g: &Conv2dGeom, dwp: &mut [Row]) {
    let (oc, ic) = (g.out_c, g.in_c);
    let k = g.kh * g.kw * ic;
    let (pt, pl, sw) = (g.pad_top(), g.pad_left(), g.stride_w);
    let (lo, hi) = interior(g);
    let run_full = g.kw * ic;
    for (oy, dyrow) in dy.chunks_exact(g.out_w() * oc).enumerate() {
        let (ky0, ky1, iy0) = taps(oy, g.stride_h, pt, g.kh, g.in_h);
        let win = Window {
            rows: ky1 - ky0,
            stride: g.in_w * ic,
            run: run_full,
            step: sw * ic,
        };
        let mut ox = 0;
        while ox < g.out_w() {
            if ox >= lo && ox + PX <= hi {
                let ix0 = ox * sw - pl;
                for (blk, ds) in dwp.chunks_exact_mut(k).enumerate() {
                    let e: [Row; PX] = std::array::from_fn(|p| {
                        load(&dyrow[(ox + p) * oc + blk * OB..(ox + p + 1) * oc])
                    });
                    let xs = &x[(iy0 * g.in_w + ix0) * ic..];
                    weight_tile::<FMA>(xs, win, &e, &mut ds[ky0 * run_full..ky1 * run_full]);
                }
                ox += PX;
                continue;
            }
            let dyp = &dyrow[ox * oc..(ox + 1) * oc];
            let (kx0, kx1, ix0) = taps(ox, sw, pl, g.kw, g.in_w);
            let run = (kx1 - kx0) * ic;
            for (blk, ds) in dwp.chunks_exact_mut(k).enumerate() {
                let e = load(&dyp[blk * OB..]);
                for (ky, iy) in (ky0..ky1).zip(iy0..) {
                    let xs = &x[(iy * g.in_w + ix0) * ic..][..run];
                    outer_rows::<FMA>(xs, &e, &mut ds[(ky * g.kw + kx0) * ic..][..run]);
                }
            }
            ox += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, Rng, SeedableRng};

    use super::*;
    use crate::geometry::Padding;

    /// f64 direct sums: the output and the kernel gradient for `dy`.
    fn reference(
        x: &[f32],
        w: &[f32],
        bias: &[f32],
        dy: &[f32],
        g: &Conv2dGeom,
    ) -> (Vec<f64>, Vec<f64>) {
        let (oh, ow) = (g.out_h(), g.out_w());
        let (pt, pl) = (g.pad_top() as isize, g.pad_left() as isize);
        let mut y = vec![0f64; g.output_len()];
        let mut dw = vec![0f64; g.weight_len()];
        for b in 0..g.batch {
            for oy in 0..oh {
                for ox in 0..ow {
                    for (o, &bo) in bias.iter().enumerate() {
                        let yi = ((b * oh + oy) * ow + ox) * g.out_c + o;
                        let mut s = f64::from(bo);
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let iy = (oy * g.stride_h) as isize + ky as isize - pt;
                                let ix = (ox * g.stride_w) as isize + kx as isize - pl;
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.in_h as isize
                                    || ix >= g.in_w as isize
                                {
                                    continue;
                                }
                                for c in 0..g.in_c {
                                    let xi = ((b * g.in_h + iy as usize) * g.in_w + ix as usize)
                                        * g.in_c
                                        + c;
                                    let wi = ((ky * g.kw + kx) * g.in_c + c) * g.out_c + o;
                                    s += f64::from(x[xi]) * f64::from(w[wi]);
                                    dw[wi] += f64::from(x[xi]) * f64::from(dy[yi]);
                                }
                            }
                        }
                        y[yi] = s;
                    }
                }
            }
        }
        (y, dw)
    }

    #[test]
    fn matches_f64_direct_sums() {
        let mut rng = StdRng::seed_from_u64(77);
        for &(in_h, in_w, in_c, out_c, [kh, kw], [sh, sw], padding) in &[
            (28, 28, 1, 32, [3, 3], [1, 1], Padding::Valid),
            (9, 11, 3, 20, [3, 3], [2, 2], Padding::Same),
            (8, 7, 4, 16, [5, 5], [1, 1], Padding::Same),
            (6, 6, 2, 5, [2, 2], [2, 2], Padding::Valid),
            (5, 5, 3, 33, [1, 1], [1, 1], Padding::Valid),
            (12, 21, 3, 20, [3, 3], [2, 2], Padding::Same),
            (10, 30, 2, 9, [5, 5], [1, 1], Padding::Same),
            (7, 40, 1, 16, [3, 3], [3, 3], Padding::Valid),
            (11, 13, 3, 12, [3, 5], [1, 2], Padding::Same),
            (9, 30, 1, 8, [5, 3], [2, 1], Padding::Valid),
        ] {
            let g = Conv2dGeom {
                batch: 3,
                in_h,
                in_w,
                in_c,
                out_c,
                kh,
                kw,
                stride_h: sh,
                stride_w: sw,
                padding,
            };
            assert!(applies(&g));
            let k = kh * kw;
            let mut v =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect() };
            let (x, w, bias, dy) = (
                v(g.input_len()),
                v(g.weight_len()),
                v(out_c),
                v(g.output_len()),
            );
            let (want_y, want_dw) = reference(&x, &w, &bias, &dy, &g);
            let y = conv2d(&x, &w, Some(&bias), &g);
            let dw = conv2d_backward_weight(&x, &dy, &g);
            // The portable bodies too (the dispatch above takes AVX2 where the CPU has it).
            let (ki, img_in, img_out) = (
                kh * kw * in_c,
                in_h * in_w * in_c,
                g.out_h() * g.out_w() * out_c,
            );
            let (wp, bp) = (pack_kernel(&w, ki, out_c), pack_kernel(&bias, 1, out_c));
            let mut y_portable = vec![0.0; g.output_len()];
            let mut dwp = vec![[0.0; OB]; out_c.div_ceil(OB) * ki];
            for b in 0..g.batch {
                let xi = &x[b * img_in..(b + 1) * img_in];
                let yi = &mut y_portable[b * img_out..(b + 1) * img_out];
                forward_body::<false>(xi, &wp, &bp, &g, yi);
                weight_body::<false>(xi, &dy[b * img_out..(b + 1) * img_out], &g, &mut dwp);
            }
            let mut dw_portable = vec![0.0; g.weight_len()];
            for (blk, ps) in dwp.chunks_exact(ki).enumerate() {
                for (t, r) in ps.iter().enumerate() {
                    for (j, &v) in r.iter().enumerate().take(out_c.saturating_sub(blk * OB)) {
                        dw_portable[t * out_c + blk * OB + j] = v;
                    }
                }
            }
            let y_tol = 1e-5 * (1 + k * in_c) as f64;
            for (name, got, want, tol) in [
                ("y", &y, &want_y, y_tol),
                ("y portable", &y_portable, &want_y, y_tol),
                (
                    "dw portable",
                    &dw_portable,
                    &want_dw,
                    1e-5 * (g.batch * g.out_h() * g.out_w()) as f64,
                ),
                (
                    "dw",
                    &dw,
                    &want_dw,
                    1e-5 * (g.batch * g.out_h() * g.out_w()) as f64,
                ),
            ] {
                assert_eq!(got.len(), want.len());
                for (i, (a, b)) in got.iter().zip(want.iter()).enumerate() {
                    assert!(
                        (f64::from(*a) - b).abs() <= tol,
                        "{g:?} {name}[{i}]: {a} vs {b}"
                    );
                }
            }
        }
    }
}
