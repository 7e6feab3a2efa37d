//! The op test suite every backend runs: each op against plain-Rust `f64` reference
//! implementations written here, independently of any backend (straight nested loops with
//! explicit padding logic), and the backward ops also against central finite differences.
//!
//! A backend test file instantiates it with
//! `#[macro_use] mod suite; op_suite!(name, constructor_expression);`.
//!
//! Tolerance: `|got - want| <= 1e-4 * max(1, |want|)` unless a test says otherwise.

#![allow(dead_code)]

use kernels::{Backend, Conv2dGeom, DenseGeom, ImageGeom, Padding, Pool2dGeom};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Instantiates every test of the suite for one backend: `op_suite!(module_name, backend)`.
macro_rules! op_suite {
    ($modname:ident, $make:expr) => {
        mod $modname {
            fn backend() -> impl kernels::Backend {
                $make
            }
            op_suite!(@tests
                memory_round_trip,
                conv2d_forward_matches_reference,
                conv2d_forward_large_channels,
                conv2d_relu_matches_reference,
                conv2d_backward_input_matches_reference,
                conv2d_backward_input_matches_finite_differences,
                conv2d_backward_weight_matches_reference,
                conv2d_backward_weight_matches_finite_differences,
                conv2d_backward_large_channels,
                conv2d_backward_weight_bias_matches_reference,
                bias_grad_sums_rows,
                max_pool_matches_reference,
                max_pool_backward_scatters_and_adds_overlaps,
                max_pool_backward_matches_finite_differences,
                avg_pool_matches_reference,
                avg_pool_backward_matches_finite_differences,
                dense_matches_reference,
                dense_backward_matches_finite_differences,
                relu_and_backward,
                scale_shift_mul_and_add,
                dropout_mask_statistics_and_determinism,
                dropout_mask_follows_the_shared_formula,
                softmax_rows_match_reference,
                sigmoid_matches_reference_and_is_stable,
                softmax_cross_entropy_matches_reference_and_finite_differences,
                softmax_cross_entropy_is_stable_for_large_logits,
                softmax_cross_entropy_counts_the_first_maximum_on_ties,
                sigmoid_bce_matches_reference_and_finite_differences,
                sigmoid_bce_is_stable_for_large_logits,
                affine_identity_and_flip_are_exact,
                affine_rotation_by_90_degrees_moves_known_pixels,
                affine_reflect_fill_at_the_borders,
                affine_random_transforms_match_reference,
                rmsprop_matches_reference,
                outputs_do_not_depend_on_freed_buffers,
                adam_matches_reference
            );
        }
    };
    (@tests $($t:ident),*) => {
        $(
            #[test]
            fn $t() {
                crate::suite::$t(&backend());
            }
        )*
    };
}

// ---- helpers ------------------------------------------------------------------------------

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn rand_vec(r: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| r.gen_range(-1.0f32..1.0)).collect()
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Asserts `|got - want| <= tol * max(1, |want|)` element-wise.
#[track_caller]
fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (f64::from(g) - w).abs();
        assert!(
            err <= tol * w.abs().max(1.0),
            "{what}: element {i}: got {g}, want {w} (error {err:e})"
        );
    }
}

/// Asserts `|got - want| <= tol * max(1, |want|, norm)` element-wise, where `norm` is the
/// Euclidean norm of the products summed into the element: the rounding error of a sum
/// (direct, blocked or by Winograd's transforms) grows with the size of its terms, not of
/// its result, which cancellation can make small.
#[track_caller]
fn assert_close_to_terms(what: &str, got: &[f32], want: &[f64], norm: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    assert_eq!(norm.len(), want.len(), "{what}: norms");
    for (i, ((&g, &w), &n)) in got.iter().zip(want).zip(norm).enumerate() {
        let err = (f64::from(g) - w).abs();
        assert!(
            err <= tol * w.abs().max(n).max(1.0),
            "{what}: element {i}: got {g}, want {w} (error {err:e}, terms' norm {n:e})"
        );
    }
}

/// `v` squared element-wise, in f64: a reference run on squares gives the sums of the
/// products' squares, whose roots are [`assert_close_to_terms`]'s norms.
fn squares(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x) * f64::from(x)).collect()
}

/// Element-wise square roots.
fn roots(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().map(f64::sqrt).collect()
}

/// Output length and padding before, TensorFlow rules, written out independently.
fn ref_out_pad(input: usize, k: usize, stride: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Valid => {
            if input < k {
                (0, 0)
            } else {
                ((input - k) / stride + 1, 0)
            }
        }
        Padding::Same => {
            let out = input.div_ceil(stride);
            let needed = (out - 1) * stride + k;
            let total = needed.saturating_sub(input);
            (out, total / 2)
        }
    }
}

fn conv_geom(
    batch: usize,
    (in_h, in_w, in_c, out_c): (usize, usize, usize, usize),
    (kh, kw): (usize, usize),
    (stride_h, stride_w): (usize, usize),
    padding: Padding,
) -> Conv2dGeom {
    Conv2dGeom {
        batch,
        in_h,
        in_w,
        in_c,
        out_c,
        kh,
        kw,
        stride_h,
        stride_w,
        padding,
    }
}

/// Odd-sized convolution cases: kernels 1/3/5 (and 3×5), strides 1/2/3, valid and same.
fn conv_cases() -> Vec<Conv2dGeom> {
    let mut v = Vec::new();
    for &(k, s) in &[
        ((1, 1), (1, 1)),
        ((3, 3), (1, 1)),
        ((3, 3), (2, 2)),
        ((5, 5), (1, 1)),
        ((3, 5), (3, 2)),
        ((5, 3), (2, 3)),
    ] {
        for &p in &[Padding::Valid, Padding::Same] {
            v.push(conv_geom(3, (7, 9, 5, 4), k, s, p));
        }
    }
    v
}

// ---- reference implementations (f64) --------------------------------------------------------

/// Reference convolution: for each output pixel, sum over the kernel window with an explicit
/// in-bounds test against the TF padding.
fn ref_conv(x: &[f64], w: &[f64], bias: Option<&[f64]>, g: &Conv2dGeom) -> Vec<f64> {
    let (oh, pt) = ref_out_pad(g.in_h, g.kh, g.stride_h, g.padding);
    let (ow, pl) = ref_out_pad(g.in_w, g.kw, g.stride_w, g.padding);
    let mut y = vec![0.0; g.batch * oh * ow * g.out_c];
    for b in 0..g.batch {
        for oy in 0..oh {
            for ox in 0..ow {
                for oc in 0..g.out_c {
                    let mut s = bias.map_or(0.0, |bb| bb[oc]);
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let iy = (oy * g.stride_h + ky) as i64 - pt as i64;
                            let ix = (ox * g.stride_w + kx) as i64 - pl as i64;
                            if iy < 0 || ix < 0 || iy >= g.in_h as i64 || ix >= g.in_w as i64 {
                                continue;
                            }
                            for ic in 0..g.in_c {
                                let xv = x[((b * g.in_h + iy as usize) * g.in_w + ix as usize)
                                    * g.in_c
                                    + ic];
                                let wv = w[((ky * g.kw + kx) * g.in_c + ic) * g.out_c + oc];
                                s += xv * wv;
                            }
                        }
                    }
                    y[((b * oh + oy) * ow + ox) * g.out_c + oc] = s;
                }
            }
        }
    }
    y
}

/// Reference dL/dx and dL/dw of a convolution, by scattering each output's gradient.
fn ref_conv_backward(x: &[f64], w: &[f64], dy: &[f64], g: &Conv2dGeom) -> (Vec<f64>, Vec<f64>) {
    let (oh, pt) = ref_out_pad(g.in_h, g.kh, g.stride_h, g.padding);
    let (ow, pl) = ref_out_pad(g.in_w, g.kw, g.stride_w, g.padding);
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    for b in 0..g.batch {
        for oy in 0..oh {
            for ox in 0..ow {
                for oc in 0..g.out_c {
                    let d = dy[((b * oh + oy) * ow + ox) * g.out_c + oc];
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let iy = (oy * g.stride_h + ky) as i64 - pt as i64;
                            let ix = (ox * g.stride_w + kx) as i64 - pl as i64;
                            if iy < 0 || ix < 0 || iy >= g.in_h as i64 || ix >= g.in_w as i64 {
                                continue;
                            }
                            for ic in 0..g.in_c {
                                let xi = ((b * g.in_h + iy as usize) * g.in_w + ix as usize)
                                    * g.in_c
                                    + ic;
                                let wi = ((ky * g.kw + kx) * g.in_c + ic) * g.out_c + oc;
                                dx[xi] += d * w[wi];
                                dw[wi] += d * x[xi];
                            }
                        }
                    }
                }
            }
        }
    }
    (dx, dw)
}

/// Central finite differences of `f` at `x` (f64), step `h`.
fn finite_diff(x: &[f64], h: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let x0 = x[i];
            x[i] = x0 + h;
            let fp = f(&x);
            x[i] = x0 - h;
            let fm = f(&x);
            x[i] = x0;
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// Reference pooling: (max value, flat arg-max index, mean) per output over in-bounds
/// positions, windows scanned row by row.
fn ref_pool(x: &[f64], g: &Pool2dGeom) -> (Vec<f64>, Vec<u32>, Vec<f64>) {
    let (oh, pt) = ref_out_pad(g.in_h, g.pool_h, g.stride_h, g.padding);
    let (ow, pl) = ref_out_pad(g.in_w, g.pool_w, g.stride_w, g.padding);
    let n = g.batch * oh * ow * g.c;
    let (mut mx, mut arg, mut mean) = (vec![0.0; n], vec![0u32; n], vec![0.0; n]);
    for b in 0..g.batch {
        for oy in 0..oh {
            for ox in 0..ow {
                for c in 0..g.c {
                    let (mut best, mut best_i, mut sum, mut count) =
                        (f64::NEG_INFINITY, usize::MAX, 0.0, 0);
                    for py in 0..g.pool_h {
                        for px in 0..g.pool_w {
                            let iy = (oy * g.stride_h + py) as i64 - pt as i64;
                            let ix = (ox * g.stride_w + px) as i64 - pl as i64;
                            if iy < 0 || ix < 0 || iy >= g.in_h as i64 || ix >= g.in_w as i64 {
                                continue;
                            }
                            let i = ((b * g.in_h + iy as usize) * g.in_w + ix as usize) * g.c + c;
                            if x[i] > best {
                                best = x[i];
                                best_i = i;
                            }
                            sum += x[i];
                            count += 1;
                        }
                    }
                    let o = ((b * oh + oy) * ow + ox) * g.c + c;
                    mx[o] = best;
                    arg[o] = best_i as u32;
                    mean[o] = sum / count as f64;
                }
            }
        }
    }
    (mx, arg, mean)
}

fn pool_cases() -> Vec<Pool2dGeom> {
    let mut v = Vec::new();
    for &(k, s) in &[
        ((2, 2), (2, 2)),
        ((3, 3), (2, 2)),
        ((3, 2), (1, 3)),
        ((2, 3), (3, 1)),
    ] {
        for &p in &[Padding::Valid, Padding::Same] {
            v.push(Pool2dGeom {
                batch: 3,
                in_h: 7,
                in_w: 9,
                c: 5,
                pool_h: k.0,
                pool_w: k.1,
                stride_h: s.0,
                stride_w: s.1,
                padding: p,
            });
        }
    }
    v
}

fn ref_dense(x: &[f64], w: &[f64], bias: Option<&[f64]>, g: &DenseGeom) -> Vec<f64> {
    let mut y = vec![0.0; g.batch * g.outputs];
    for b in 0..g.batch {
        for o in 0..g.outputs {
            let mut s = bias.map_or(0.0, |bb| bb[o]);
            for i in 0..g.inputs {
                s += x[b * g.inputs + i] * w[i * g.outputs + o];
            }
            y[b * g.outputs + o] = s;
        }
    }
    y
}

/// Mean sparse categorical crossentropy of softmax(logits), straightforwardly in f64.
fn ref_softmax_ce(logits: &[f64], labels: &[u32], classes: usize) -> f64 {
    let batch = labels.len();
    let mut total = 0.0;
    for (b, &l) in labels.iter().enumerate() {
        let row = &logits[b * classes..(b + 1) * classes];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
        total += -((row[l as usize] - m).exp() / z).ln();
    }
    total / batch as f64
}

fn softplus(u: f64) -> f64 {
    if u > 30.0 {
        u + (-u).exp()
    } else {
        u.exp().ln_1p()
    }
}

/// Mean binary crossentropy of sigmoid(z): t·(-ln σ(z)) + (1 - t)·(-ln(1 - σ(z))).
fn ref_bce(z: &[f64], t: &[f64]) -> f64 {
    z.iter()
        .zip(t)
        .map(|(&z, &t)| t * softplus(-z) + (1.0 - t) * softplus(z))
        .sum::<f64>()
        / z.len() as f64
}

/// Reflect about the edges with period 2·len ("d c b a | a b c d | d c b a"), then clamp.
fn ref_reflect(c: f64, len: usize) -> f64 {
    if len <= 1 {
        return 0.0;
    }
    let p = 2.0 * len as f64;
    let mut m = c.rem_euclid(p);
    if m > len as f64 - 1.0 {
        m = p - 1.0 - m;
    }
    m.clamp(0.0, len as f64 - 1.0)
}

/// Reference bilinear resample with reflect fill (fill 0 for out-of-image neighbours).
fn ref_resample(x: &[f64], g: &ImageGeom, t: &[[f32; 6]]) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for b in 0..g.batch {
        let px = |yy: i64, xx: i64, c: usize| -> f64 {
            if yy < 0 || xx < 0 || yy >= g.h as i64 || xx >= g.w as i64 {
                0.0
            } else {
                x[((b * g.h + yy as usize) * g.w + xx as usize) * g.c + c]
            }
        };
        for oy in 0..g.h {
            for ox in 0..g.w {
                let a = &t[b];
                // The input point in f32, as the op computes it.
                let fx = a[0] * ox as f32 + a[1] * oy as f32 + a[2];
                let fy = a[3] * ox as f32 + a[4] * oy as f32 + a[5];
                let sx = ref_reflect(f64::from(fx), g.w);
                let sy = ref_reflect(f64::from(fy), g.h);
                let (x0, y0) = (sx.floor(), sy.floor());
                let (wx, wy) = (sx - x0, sy - y0);
                let (x0, y0) = (x0 as i64, y0 as i64);
                for c in 0..g.c {
                    let v = (1.0 - wy) * ((1.0 - wx) * px(y0, x0, c) + wx * px(y0, x0 + 1, c))
                        + wy * ((1.0 - wx) * px(y0 + 1, x0, c) + wx * px(y0 + 1, x0 + 1, c));
                    out[((b * g.h + oy) * g.w + ox) * g.c + c] = v;
                }
            }
        }
    }
    out
}

// ---- tests ----------------------------------------------------------------------------------

pub fn memory_round_trip<B: Backend>(be: &B) {
    assert!(!be.name().is_empty());
    let v = [1.5f32, -2.0, 0.0, 3.25];
    let t = be.from_slice(&v);
    assert_eq!(be.len(&t), 4);
    assert_eq!(be.to_vec(&t), v);
    assert_eq!(be.to_vec(&be.copy(&t)), v);
    assert_eq!(be.to_vec(&be.zeros(3)), vec![0.0; 3]);
    let i = be.index_from_slice(&[7, 0, u32::MAX]);
    assert_eq!(be.index_to_vec(&i), vec![7, 0, u32::MAX]);
}

fn check_conv_forward<B: Backend>(be: &B, g: &Conv2dGeom, seed: u64, with_bias: bool) {
    check_conv_forward_act(be, g, seed, with_bias, false);
}

/// [`Backend::conv2d`], or with `relu` [`Backend::conv2d_relu`], against the f64 reference.
fn check_conv_forward_act<B: Backend>(
    be: &B,
    g: &Conv2dGeom,
    seed: u64,
    with_bias: bool,
    relu: bool,
) {
    let mut r = rng(seed);
    let x = rand_vec(&mut r, g.input_len());
    let w = rand_vec(&mut r, g.weight_len());
    let bias = rand_vec(&mut r, g.out_c);
    let (oh, _) = ref_out_pad(g.in_h, g.kh, g.stride_h, g.padding);
    let (ow, _) = ref_out_pad(g.in_w, g.kw, g.stride_w, g.padding);
    assert_eq!((g.out_h(), g.out_w()), (oh, ow), "{g:?}: output size");
    let bt = be.from_slice(&bias);
    let (xt, wt) = (be.from_slice(&x), be.from_slice(&w));
    let y = if relu {
        be.conv2d_relu(&xt, &wt, with_bias.then_some(&bt), g)
    } else {
        be.conv2d(&xt, &wt, with_bias.then_some(&bt), g)
    };
    let bias64 = to_f64(&bias);
    let mut want = ref_conv(
        &to_f64(&x),
        &to_f64(&w),
        with_bias.then_some(&bias64[..]),
        g,
    );
    if relu {
        let negative = want.iter().filter(|v| **v < 0.0).count();
        assert!(negative > 0, "{g:?}: a ReLU test needs negative outputs");
        for v in &mut want {
            *v = v.max(0.0);
        }
    }
    let what = if relu { "conv2d_relu" } else { "conv2d" };
    let norm = roots(ref_conv(&squares(&x), &squares(&w), None, g));
    assert_close_to_terms(&format!("{what} {g:?}"), &be.to_vec(&y), &want, &norm, 1e-4);
}

pub fn conv2d_relu_matches_reference<B: Backend>(be: &B) {
    // The small cases, a GEMM spanning several blocks, and shapes the CPU backend computes
    // by Winograd's transform (3×3, stride 1, many input channels).
    let mut cases = conv_cases();
    cases.push(conv_geom(
        2,
        (13, 13, 32, 64),
        (3, 3),
        (1, 1),
        Padding::Valid,
    ));
    cases.push(conv_geom(
        1,
        (10, 9, 128, 19),
        (3, 3),
        (1, 1),
        Padding::Same,
    ));
    cases.push(conv_geom(
        2,
        (11, 10, 64, 8),
        (3, 3),
        (1, 1),
        Padding::Valid,
    ));
    // Strided, with a non-square kernel: the CPU backend's implicit GEMM (valid padding).
    cases.push(conv_geom(
        2,
        (12, 11, 16, 20),
        (3, 2),
        (2, 3),
        Padding::Valid,
    ));
    for (i, g) in cases.iter().enumerate() {
        check_conv_forward_act(be, g, 700 + i as u64, i % 2 == 1, true);
        check_conv_forward_act(be, g, 750 + i as u64, i % 2 == 0, false);
    }
}

pub fn conv2d_forward_matches_reference<B: Backend>(be: &B) {
    for (i, g) in conv_cases().iter().enumerate() {
        check_conv_forward(be, g, 100 + i as u64, i % 2 == 0);
    }
}

pub fn conv2d_forward_large_channels<B: Backend>(be: &B) {
    // Shapes like the MNIST convnet's, big enough to span several GEMM blocks.
    let g2 = conv_geom(2, (13, 13, 32, 64), (3, 3), (1, 1), Padding::Valid);
    check_conv_forward(be, &g2, 1, true);
    let g1 = conv_geom(12, (28, 28, 1, 32), (3, 3), (1, 1), Padding::Valid);
    check_conv_forward(be, &g1, 2, true);
    let g3 = conv_geom(2, (5, 5, 64, 128), (3, 3), (1, 1), Padding::Same);
    check_conv_forward(be, &g3, 3, false);
}

pub fn conv2d_backward_input_matches_reference<B: Backend>(be: &B) {
    for (i, g) in conv_cases().iter().enumerate() {
        let mut r = rng(200 + i as u64);
        let x = rand_vec(&mut r, g.input_len());
        let w = rand_vec(&mut r, g.weight_len());
        let dy = rand_vec(&mut r, g.output_len());
        let dx = be.conv2d_backward_input(&be.from_slice(&dy), &be.from_slice(&w), g);
        let (want, _) = ref_conv_backward(&to_f64(&x), &to_f64(&w), &to_f64(&dy), g);
        let (norm, _) = ref_conv_backward(&squares(&x), &squares(&w), &squares(&dy), g);
        let norm = roots(norm);
        assert_close_to_terms(
            &format!("conv dx {g:?}"),
            &be.to_vec(&dx),
            &want,
            &norm,
            1e-4,
        );
    }
}

pub fn conv2d_backward_input_matches_finite_differences<B: Backend>(be: &B) {
    // L = <r, conv(x, w)>, so dL/dx = conv2d_backward_input(r).
    for (i, g) in [
        conv_geom(2, (5, 6, 3, 2), (3, 3), (2, 2), Padding::Same),
        conv_geom(1, (6, 5, 2, 3), (3, 2), (1, 3), Padding::Valid),
    ]
    .iter()
    .enumerate()
    {
        let mut r = rng(300 + i as u64);
        let x = to_f64(&rand_vec(&mut r, g.input_len()));
        let w = rand_vec(&mut r, g.weight_len());
        let dy = rand_vec(&mut r, g.output_len());
        let (w64, dy64) = (to_f64(&w), to_f64(&dy));
        let fd = finite_diff(&x, 1e-3, |x| dot(&ref_conv(x, &w64, None, g), &dy64));
        let dx = be.conv2d_backward_input(&be.from_slice(&dy), &be.from_slice(&w), g);
        assert_close(&format!("conv dx fd {g:?}"), &be.to_vec(&dx), &fd, 1e-4);
    }
}

pub fn conv2d_backward_weight_matches_reference<B: Backend>(be: &B) {
    for (i, g) in conv_cases().iter().enumerate() {
        let mut r = rng(400 + i as u64);
        let x = rand_vec(&mut r, g.input_len());
        let w = rand_vec(&mut r, g.weight_len());
        let dy = rand_vec(&mut r, g.output_len());
        let dw = be.conv2d_backward_weight(&be.from_slice(&x), &be.from_slice(&dy), g);
        let (_, want) = ref_conv_backward(&to_f64(&x), &to_f64(&w), &to_f64(&dy), g);
        let (_, norm) = ref_conv_backward(&squares(&x), &squares(&w), &squares(&dy), g);
        let norm = roots(norm);
        assert_close_to_terms(
            &format!("conv dw {g:?}"),
            &be.to_vec(&dw),
            &want,
            &norm,
            1e-4,
        );
    }
}

pub fn conv2d_backward_weight_matches_finite_differences<B: Backend>(be: &B) {
    for (i, g) in [
        conv_geom(2, (5, 6, 3, 2), (3, 3), (2, 2), Padding::Same),
        conv_geom(2, (6, 5, 2, 3), (2, 3), (3, 1), Padding::Valid),
    ]
    .iter()
    .enumerate()
    {
        let mut r = rng(500 + i as u64);
        let x = rand_vec(&mut r, g.input_len());
        let w = to_f64(&rand_vec(&mut r, g.weight_len()));
        let dy = rand_vec(&mut r, g.output_len());
        let (x64, dy64) = (to_f64(&x), to_f64(&dy));
        let fd = finite_diff(&w, 1e-3, |w| dot(&ref_conv(&x64, w, None, g), &dy64));
        let dw = be.conv2d_backward_weight(&be.from_slice(&x), &be.from_slice(&dy), g);
        assert_close(&format!("conv dw fd {g:?}"), &be.to_vec(&dw), &fd, 1e-4);
    }
}

pub fn conv2d_backward_large_channels<B: Backend>(be: &B) {
    for (i, g) in [
        conv_geom(2, (13, 13, 32, 64), (3, 3), (1, 1), Padding::Valid),
        conv_geom(12, (28, 28, 1, 32), (3, 3), (1, 1), Padding::Valid),
        conv_geom(2, (5, 5, 64, 128), (3, 3), (2, 2), Padding::Same),
        // Large enough for the CPU backend's Winograd gradients (256+ pixels, 32+ input and
        // 64+ output channels), with odd sizes: partial edge tiles.
        conv_geom(1, (18, 17, 32, 64), (3, 3), (1, 1), Padding::Same),
        conv_geom(1, (19, 18, 32, 64), (3, 3), (1, 1), Padding::Valid),
    ]
    .iter()
    .enumerate()
    {
        let mut r = rng(600 + i as u64);
        let x = rand_vec(&mut r, g.input_len());
        let w = rand_vec(&mut r, g.weight_len());
        let dy = rand_vec(&mut r, g.output_len());
        let (want_dx, want_dw) = ref_conv_backward(&to_f64(&x), &to_f64(&w), &to_f64(&dy), g);
        let (norm_dx, norm_dw) = ref_conv_backward(&squares(&x), &squares(&w), &squares(&dy), g);
        let (norm_dx, norm_dw) = (roots(norm_dx), roots(norm_dw));
        let dyt = be.from_slice(&dy);
        let dx = be.conv2d_backward_input(&dyt, &be.from_slice(&w), g);
        let what = format!("conv dx {g:?}");
        assert_close_to_terms(&what, &be.to_vec(&dx), &want_dx, &norm_dx, 1e-4);
        let dw = be.conv2d_backward_weight(&be.from_slice(&x), &dyt, g);
        let what = format!("conv dw {g:?}");
        assert_close_to_terms(&what, &be.to_vec(&dw), &want_dw, &norm_dw, 1e-4);
    }
}

pub fn conv2d_backward_weight_bias_matches_reference<B: Backend>(be: &B) {
    let mut cases = conv_cases();
    cases.push(conv_geom(
        2,
        (13, 13, 32, 64),
        (3, 3),
        (1, 1),
        Padding::Valid,
    ));
    // 3 input channels, 32 output: the CPU backend's implicit-GEMM weight gradient, over two
    // chunks of pixels.
    cases.push(conv_geom(
        3,
        (20, 19, 3, 32),
        (3, 3),
        (1, 1),
        Padding::Valid,
    ));
    // The CPU backend's Winograd kernel gradient, bias summed in the same pass.
    cases.push(conv_geom(
        2,
        (18, 17, 32, 64),
        (3, 3),
        (1, 1),
        Padding::Same,
    ));
    for (i, g) in cases.iter().enumerate() {
        let mut r = rng(800 + i as u64);
        let x = rand_vec(&mut r, g.input_len());
        let w = rand_vec(&mut r, g.weight_len());
        let dy = rand_vec(&mut r, g.output_len());
        let (dw, db) = be.conv2d_backward_weight_bias(&be.from_slice(&x), &be.from_slice(&dy), g);
        let (_, want_dw) = ref_conv_backward(&to_f64(&x), &to_f64(&w), &to_f64(&dy), g);
        assert_close(
            &format!("conv dw (with db) {g:?}"),
            &be.to_vec(&dw),
            &want_dw,
            1e-4,
        );
        let mut want_db = vec![0.0f64; g.out_c];
        for (j, v) in dy.iter().enumerate() {
            want_db[j % g.out_c] += f64::from(*v);
        }
        assert_close(&format!("conv db {g:?}"), &be.to_vec(&db), &want_db, 1e-4);
    }
}

pub fn bias_grad_sums_rows<B: Backend>(be: &B) {
    for &(rows, ch) in &[
        (1usize, 1usize),
        (3 * 7 * 9, 5),
        (64 * 26 * 26, 32),
        (5, 10),
    ] {
        let mut r = rng(rows as u64 + ch as u64);
        let dy = rand_vec(&mut r, rows * ch);
        let mut want = vec![0.0f64; ch];
        for row in 0..rows {
            for c in 0..ch {
                want[c] += f64::from(dy[row * ch + c]);
            }
        }
        let got = be.to_vec(&be.bias_grad(&be.from_slice(&dy), ch));
        // Sums of up to 43264 terms in [-1, 1]: allow for f32 accumulation.
        let tol = if rows > 1000 { 1e-3 } else { 1e-5 };
        assert_close(&format!("bias_grad {rows}x{ch}"), &got, &want, tol);
    }
}

pub fn max_pool_matches_reference<B: Backend>(be: &B) {
    for (i, g) in pool_cases().iter().enumerate() {
        let (oh, _) = ref_out_pad(g.in_h, g.pool_h, g.stride_h, g.padding);
        let (ow, _) = ref_out_pad(g.in_w, g.pool_w, g.stride_w, g.padding);
        assert_eq!((g.out_h(), g.out_w()), (oh, ow), "{g:?}: output size");
        let mut r = rng(700 + i as u64);
        let mut x = rand_vec(&mut r, g.input_len());
        // Ties: the first maximum in window order wins.
        for v in x.iter_mut().step_by(7) {
            *v = 0.75;
        }
        let (y, arg) = be.max_pool2d(&be.from_slice(&x), g);
        let (want, want_arg, _) = ref_pool(&to_f64(&x), g);
        assert_close(&format!("max_pool {g:?}"), &be.to_vec(&y), &want, 0.0);
        assert_eq!(be.index_to_vec(&arg), want_arg, "max_pool arg-max {g:?}");
    }
}

pub fn max_pool_backward_scatters_and_adds_overlaps<B: Backend>(be: &B) {
    for (i, g) in pool_cases().iter().enumerate() {
        let mut r = rng(800 + i as u64);
        let x = rand_vec(&mut r, g.input_len());
        let dy = rand_vec(&mut r, g.output_len());
        let (_, arg) = be.max_pool2d(&be.from_slice(&x), g);
        let (_, want_arg, _) = ref_pool(&to_f64(&x), g);
        let mut want = vec![0.0f64; g.input_len()];
        for (&a, &d) in want_arg.iter().zip(&dy) {
            want[a as usize] += f64::from(d);
        }
        let dx = be.max_pool2d_backward(&be.from_slice(&dy), &arg, g);
        assert_close(&format!("max_pool dx {g:?}"), &be.to_vec(&dx), &want, 1e-5);
    }
}

pub fn max_pool_backward_matches_finite_differences<B: Backend>(be: &B) {
    let g = Pool2dGeom {
        batch: 2,
        in_h: 5,
        in_w: 6,
        c: 2,
        pool_h: 3,
        pool_w: 3,
        stride_h: 2,
        stride_w: 2,
        padding: Padding::Same,
    };
    let mut r = rng(900);
    // Distinct values at least 0.01 apart, so a step of 1e-4 never changes an arg-max.
    let mut x: Vec<f32> = (0..g.input_len()).map(|i| i as f32 * 0.01).collect();
    for i in (1..x.len()).rev() {
        let j = r.gen_range(0..=i);
        x.swap(i, j);
    }
    let dy = rand_vec(&mut r, g.output_len());
    let dy64 = to_f64(&dy);
    let fd = finite_diff(&to_f64(&x), 1e-4, |x| dot(&ref_pool(x, &g).0, &dy64));
    let (_, arg) = be.max_pool2d(&be.from_slice(&x), &g);
    let dx = be.max_pool2d_backward(&be.from_slice(&dy), &arg, &g);
    assert_close("max_pool dx fd", &be.to_vec(&dx), &fd, 1e-4);
}

pub fn avg_pool_matches_reference<B: Backend>(be: &B) {
    for (i, g) in pool_cases().iter().enumerate() {
        let mut r = rng(1000 + i as u64);
        let x = rand_vec(&mut r, g.input_len());
        let y = be.avg_pool2d(&be.from_slice(&x), g);
        let (_, _, want) = ref_pool(&to_f64(&x), g);
        assert_close(&format!("avg_pool {g:?}"), &be.to_vec(&y), &want, 1e-5);
    }
}

pub fn avg_pool_backward_matches_finite_differences<B: Backend>(be: &B) {
    for (i, g) in pool_cases().iter().enumerate() {
        let mut r = rng(1100 + i as u64);
        let x = to_f64(&rand_vec(&mut r, g.input_len()));
        let dy = rand_vec(&mut r, g.output_len());
        let dy64 = to_f64(&dy);
        let fd = finite_diff(&x, 1e-3, |x| dot(&ref_pool(x, g).2, &dy64));
        let dx = be.avg_pool2d_backward(&be.from_slice(&dy), g);
        assert_close(&format!("avg_pool dx {g:?}"), &be.to_vec(&dx), &fd, 1e-5);
    }
}

pub fn dense_matches_reference<B: Backend>(be: &B) {
    for (i, &(batch, inputs, outputs)) in [(3usize, 7usize, 5usize), (64, 1152, 10), (1, 1, 1)]
        .iter()
        .enumerate()
    {
        let g = DenseGeom {
            batch,
            inputs,
            outputs,
        };
        let mut r = rng(1200 + i as u64);
        let x = rand_vec(&mut r, batch * inputs);
        let w = rand_vec(&mut r, inputs * outputs);
        let bias = rand_vec(&mut r, outputs);
        let bt = be.from_slice(&bias);
        let (xt, wt) = (be.from_slice(&x), be.from_slice(&w));
        let (x64, w64, b64) = (to_f64(&x), to_f64(&w), to_f64(&bias));
        let y = be.dense(&xt, &wt, Some(&bt), &g);
        assert_close(
            "dense",
            &be.to_vec(&y),
            &ref_dense(&x64, &w64, Some(&b64), &g),
            1e-4,
        );
        let y = be.dense(&xt, &wt, None, &g);
        assert_close(
            "dense",
            &be.to_vec(&y),
            &ref_dense(&x64, &w64, None, &g),
            1e-4,
        );
        // Backward against explicit loops.
        let dy = rand_vec(&mut r, batch * outputs);
        let dyt = be.from_slice(&dy);
        let mut want_dx = vec![0.0; batch * inputs];
        let mut want_dw = vec![0.0; inputs * outputs];
        for b in 0..batch {
            for ii in 0..inputs {
                for o in 0..outputs {
                    let d = f64::from(dy[b * outputs + o]);
                    want_dx[b * inputs + ii] += d * w64[ii * outputs + o];
                    want_dw[ii * outputs + o] += d * x64[b * inputs + ii];
                }
            }
        }
        let dx = be.dense_backward_input(&dyt, &wt, &g);
        assert_close("dense dx", &be.to_vec(&dx), &want_dx, 1e-4);
        let dw = be.dense_backward_weight(&xt, &dyt, &g);
        assert_close("dense dw", &be.to_vec(&dw), &want_dw, 1e-4);
    }
}

pub fn dense_backward_matches_finite_differences<B: Backend>(be: &B) {
    let g = DenseGeom {
        batch: 3,
        inputs: 7,
        outputs: 5,
    };
    let mut r = rng(1300);
    let x = rand_vec(&mut r, 21);
    let w = rand_vec(&mut r, 35);
    let dy = rand_vec(&mut r, 15);
    let (x64, w64, dy64) = (to_f64(&x), to_f64(&w), to_f64(&dy));
    let fdx = finite_diff(&x64, 1e-3, |x| dot(&ref_dense(x, &w64, None, &g), &dy64));
    let fdw = finite_diff(&w64, 1e-3, |w| dot(&ref_dense(&x64, w, None, &g), &dy64));
    let dyt = be.from_slice(&dy);
    let dx = be.dense_backward_input(&dyt, &be.from_slice(&w), &g);
    assert_close("dense dx fd", &be.to_vec(&dx), &fdx, 1e-4);
    let dw = be.dense_backward_weight(&be.from_slice(&x), &dyt, &g);
    assert_close("dense dw fd", &be.to_vec(&dw), &fdw, 1e-4);
}

pub fn relu_and_backward<B: Backend>(be: &B) {
    let mut r = rng(1400);
    let mut x = rand_vec(&mut r, 40_001);
    x[0] = 0.0;
    x[1] = -0.0;
    let dy = rand_vec(&mut r, x.len());
    let y = be.relu(&be.from_slice(&x));
    let want: Vec<f64> = x.iter().map(|&v| f64::from(v).max(0.0)).collect();
    assert_close("relu", &be.to_vec(&y), &want, 0.0);
    let dx = be.relu_backward(&y, &be.from_slice(&dy));
    let want: Vec<f64> = x
        .iter()
        .zip(&dy)
        .map(|(&v, &d)| if v > 0.0 { f64::from(d) } else { 0.0 })
        .collect();
    assert_close("relu dx", &be.to_vec(&dx), &want, 0.0);
    // The forms that may reuse their operand's buffer give the same values.
    let y2 = be.relu_owned(be.from_slice(&x));
    assert_eq!(be.to_vec(&y2), be.to_vec(&y), "relu_owned");
    let dx2 = be.relu_backward_owned(&y, be.from_slice(&dy));
    assert_eq!(be.to_vec(&dx2), be.to_vec(&dx), "relu_backward_owned");
}

pub fn scale_shift_mul_and_add<B: Backend>(be: &B) {
    let mut r = rng(1500);
    let a = rand_vec(&mut r, 30_011);
    let b = rand_vec(&mut r, a.len());
    let at = be.from_slice(&a);
    let y = be.scale_shift(&at, 1.0 / 255.0, -0.5);
    let want: Vec<f64> = a.iter().map(|&v| f64::from(v) / 255.0 - 0.5).collect();
    assert_close("scale_shift", &be.to_vec(&y), &want, 1e-6);
    let y = be.mul(&at, &be.from_slice(&b));
    let want: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .collect();
    assert_close("mul", &be.to_vec(&y), &want, 1e-6);
    let y = be.add(&at, &be.from_slice(&b));
    let want: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(&a, &b)| f64::from(a) + f64::from(b))
        .collect();
    assert_close("add", &be.to_vec(&y), &want, 1e-6);
}

pub fn dropout_mask_statistics_and_determinism<B: Backend>(be: &B) {
    let n = 100_003;
    for &rate in &[0.1f32, 0.5, 0.75] {
        let m = be.to_vec(&be.dropout_mask(n, rate, 42));
        let scale = 1.0 / (1.0 - f64::from(rate));
        let mut kept = 0usize;
        for &v in &m {
            if v != 0.0 {
                assert!(
                    (f64::from(v) - scale).abs() <= 1e-6 * scale,
                    "kept value {v}"
                );
                kept += 1;
            }
        }
        let p = 1.0 - f64::from(rate);
        let sigma = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (kept as f64 - n as f64 * p).abs() <= 4.0 * sigma,
            "rate {rate}: kept {kept} of {n}"
        );
        assert_eq!(
            m,
            be.to_vec(&be.dropout_mask(n, rate, 42)),
            "same seed, same mask"
        );
        let other = be.to_vec(&be.dropout_mask(n, rate, 43));
        let differing = m.iter().zip(&other).filter(|(a, b)| a != b).count();
        // Independent masks differ in a fraction 2p(1 - p) of the elements.
        assert!(
            differing as f64 > n as f64 * p * (1.0 - p),
            "different seeds: only {differing} elements differ"
        );
    }
    assert!(be
        .to_vec(&be.dropout_mask(1000, 0.0, 1))
        .iter()
        .all(|&v| v == 1.0));
}

pub fn dropout_mask_follows_the_shared_formula<B: Backend>(be: &B) {
    // Every backend must produce exactly the mask of kernels::dropout_keep.
    for &(seed, rate) in &[
        (0u64, 0.5f32),
        (0xDEAD_BEEF_1234_5678, 0.3),
        (u64::MAX, 0.9),
    ] {
        let m = be.to_vec(&be.dropout_mask(5000, rate, seed));
        for (i, &v) in m.iter().enumerate() {
            assert_eq!(
                v != 0.0,
                kernels::dropout_keep(seed, i as u32, rate),
                "seed {seed} rate {rate} element {i}"
            );
        }
    }
}

pub fn softmax_rows_match_reference<B: Backend>(be: &B) {
    let (batch, classes) = (5, 7);
    let mut r = rng(1600);
    let mut x = rand_vec(&mut r, batch * classes);
    for v in &mut x[..classes] {
        *v *= 100.0; // large logits must not overflow
    }
    let y = be.to_vec(&be.softmax(&be.from_slice(&x), batch, classes));
    let mut want = Vec::new();
    for row in x.chunks(classes) {
        let m = row
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| a.max(f64::from(b)));
        let e: Vec<f64> = row.iter().map(|&v| (f64::from(v) - m).exp()).collect();
        let s: f64 = e.iter().sum();
        want.extend(e.iter().map(|v| v / s));
    }
    assert_close("softmax", &y, &want, 1e-5);
}

pub fn sigmoid_matches_reference_and_is_stable<B: Backend>(be: &B) {
    let x = [-100.0f32, -20.0, -1.0, 0.0, 0.5, 3.0, 20.0, 100.0];
    let y = be.to_vec(&be.sigmoid(&be.from_slice(&x)));
    let want: Vec<f64> = x
        .iter()
        .map(|&v| 1.0 / (1.0 + (-f64::from(v)).exp()))
        .collect();
    assert_close("sigmoid", &y, &want, 1e-6);
    assert!(y.iter().all(|v| v.is_finite()));
}

pub fn softmax_cross_entropy_matches_reference_and_finite_differences<B: Backend>(be: &B) {
    let (batch, classes) = (6, 7);
    let mut r = rng(1700);
    let x: Vec<f32> = rand_vec(&mut r, batch * classes)
        .iter()
        .map(|v| v * 3.0)
        .collect();
    let labels: Vec<u32> = (0..batch).map(|_| r.gen_range(0..classes as u32)).collect();
    let out = be.softmax_cross_entropy(
        &be.from_slice(&x),
        &be.index_from_slice(&labels),
        batch,
        classes,
    );
    let x64 = to_f64(&x);
    let want = ref_softmax_ce(&x64, &labels, classes);
    assert_close("softmax ce loss", &[out.loss], &[want], 1e-5);
    let want_correct = (0..batch)
        .filter(|&b| {
            let row = &x[b * classes..(b + 1) * classes];
            let arg = (0..classes).fold(0, |a, j| if row[j] > row[a] { j } else { a });
            arg == labels[b] as usize
        })
        .count();
    assert_eq!(out.correct, want_correct);
    let fd = finite_diff(&x64, 1e-4, |x| ref_softmax_ce(x, &labels, classes));
    assert_close("softmax ce grad", &be.to_vec(&out.grad), &fd, 1e-5);
}

pub fn softmax_cross_entropy_is_stable_for_large_logits<B: Backend>(be: &B) {
    // Logits of 1000: a naive exp overflows. Row 0 is confidently right, row 1 wrong.
    let x = [1000.0f32, 0.0, -1000.0, 0.0, 1000.0, 0.0];
    let out = be.softmax_cross_entropy(&be.from_slice(&x), &be.index_from_slice(&[0, 0]), 2, 3);
    assert_close("ce large loss", &[out.loss], &[500.0], 1e-5);
    assert_eq!(out.correct, 1);
    assert_close(
        "ce large grad",
        &be.to_vec(&out.grad),
        &[0.0, 0.0, 0.0, -0.5, 0.5, 0.0],
        1e-6,
    );
}

pub fn softmax_cross_entropy_counts_the_first_maximum_on_ties<B: Backend>(be: &B) {
    // As tf.argmax / Keras accuracy: on a tie the first class wins.
    let x = [2.0f32, 2.0, 0.0, 0.0, 2.0, 2.0];
    let labels = be.index_from_slice(&[1, 1]);
    let out = be.softmax_cross_entropy(&be.from_slice(&x), &labels, 2, 3);
    assert_eq!(
        out.correct, 1,
        "row 0 predicts class 0, row 1 predicts class 1"
    );
}

pub fn sigmoid_bce_matches_reference_and_finite_differences<B: Backend>(be: &B) {
    let batch = 9;
    let mut r = rng(1800);
    let z: Vec<f32> = rand_vec(&mut r, batch).iter().map(|v| v * 4.0).collect();
    let t: Vec<f32> = (0..batch).map(|i| (i % 2) as f32).collect();
    let out = be.sigmoid_binary_cross_entropy(&be.from_slice(&z), &be.from_slice(&t), batch);
    let (z64, t64) = (to_f64(&z), to_f64(&t));
    assert_close("bce loss", &[out.loss], &[ref_bce(&z64, &t64)], 1e-5);
    let want_correct = z
        .iter()
        .zip(&t)
        .filter(|(&z, &t)| (z >= 0.0) == (t == 1.0))
        .count();
    assert_eq!(out.correct, want_correct);
    let fd = finite_diff(&z64, 1e-4, |z| ref_bce(z, &t64));
    assert_close("bce grad", &be.to_vec(&out.grad), &fd, 1e-5);
}

pub fn sigmoid_bce_is_stable_for_large_logits<B: Backend>(be: &B) {
    let z = [200.0f32, -200.0, 200.0, -200.0];
    let t = [1.0f32, 0.0, 0.0, 1.0];
    let out = be.sigmoid_binary_cross_entropy(&be.from_slice(&z), &be.from_slice(&t), 4);
    // Two right with ~0 loss, two wrong with loss 200 each: mean 100.
    assert_close("bce large loss", &[out.loss], &[100.0], 1e-5);
    assert_eq!(out.correct, 2);
    assert_close(
        "bce large grad",
        &be.to_vec(&out.grad),
        &[0.0, 0.0, 0.25, -0.25],
        1e-6,
    );
}

fn image(g: &ImageGeom, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    rand_vec(&mut r, g.len())
}

pub fn affine_identity_and_flip_are_exact<B: Backend>(be: &B) {
    let g = ImageGeom {
        batch: 2,
        h: 7,
        w: 9,
        c: 3,
    };
    let x = image(&g, 1900);
    let xt = be.from_slice(&x);
    let id = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    assert_eq!(be.to_vec(&be.affine_resample(&xt, &g, &[id, id])), x);
    // Horizontal flip of image 1 only.
    let flip = [-1.0, 0.0, (g.w - 1) as f32, 0.0, 1.0, 0.0];
    let y = be.to_vec(&be.affine_resample(&xt, &g, &[id, flip]));
    let img = g.h * g.w * g.c;
    assert_eq!(&y[..img], &x[..img]);
    for yy in 0..g.h {
        for xx in 0..g.w {
            for c in 0..g.c {
                let o = img + (yy * g.w + xx) * g.c + c;
                let i = img + (yy * g.w + (g.w - 1 - xx)) * g.c + c;
                assert_eq!(y[o], x[i], "flip at ({yy}, {xx}, {c})");
            }
        }
    }
}

pub fn affine_rotation_by_90_degrees_moves_known_pixels<B: Backend>(be: &B) {
    let g = ImageGeom {
        batch: 1,
        h: 5,
        w: 5,
        c: 1,
    };
    let x: Vec<f32> = (0..25).map(|v| v as f32).collect();
    // Output (x, y) reads input (y, 4 - x): a quarter turn.
    let rot = [0.0, 1.0, 0.0, -1.0, 0.0, 4.0];
    let y = be.to_vec(&be.affine_resample(&be.from_slice(&x), &g, &[rot]));
    // Output (x=0, y=0) <- input (x=0, y=4) = 20; output (x=4, y=0) <- input (x=0, y=0) = 0.
    assert_eq!(y[0], 20.0);
    assert_eq!(y[4], 0.0);
    for oy in 0..5 {
        for ox in 0..5 {
            assert_eq!(y[oy * 5 + ox], x[(4 - ox) * 5 + oy], "at ({oy}, {ox})");
        }
    }
}

pub fn affine_reflect_fill_at_the_borders<B: Backend>(be: &B) {
    let g = ImageGeom {
        batch: 2,
        h: 1,
        w: 6,
        c: 1,
    };
    let x = [
        10.0f32, 11.0, 12.0, 13.0, 14.0, 15.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
    ];
    // Shift right by 2 (reads x - 2) and left by 2 (reads x + 2): "b a | a b c d | d c".
    let right = [1.0, 0.0, -2.0, 0.0, 1.0, 0.0];
    let left = [1.0, 0.0, 2.0, 0.0, 1.0, 0.0];
    let y = be.to_vec(&be.affine_resample(&be.from_slice(&x), &g, &[right, left]));
    assert_eq!(&y[..6], &[11.0, 10.0, 10.0, 11.0, 12.0, 13.0]);
    assert_eq!(&y[6..], &[12.0, 13.0, 14.0, 15.0, 15.0, 14.0]);
    // Far outside: period 2·len. x = -13 -> -13 + 12 = -1 -> 0; x = 8 -> 2·6 - 1 - 8 = 3.
    let g1 = ImageGeom {
        batch: 1,
        h: 1,
        w: 6,
        c: 1,
    };
    let far = [0.0, 0.0, -13.0, 0.0, 1.0, 0.0];
    let y = be.to_vec(&be.affine_resample(&be.from_slice(&x[..6]), &g1, &[far]));
    assert_eq!(y, vec![10.0; 6]);
    let far = [0.0, 0.0, 8.0, 0.0, 1.0, 0.0];
    let y = be.to_vec(&be.affine_resample(&be.from_slice(&x[..6]), &g1, &[far]));
    assert_eq!(y, vec![13.0; 6]);
    // Half-pixel shift inside: the mean of the neighbours; beyond the last centre it clamps.
    let half = [1.0, 0.0, 0.5, 0.0, 1.0, 0.0];
    let y = be.to_vec(&be.affine_resample(&be.from_slice(&x[..6]), &g1, &[half]));
    assert_close(
        "half shift",
        &y,
        &[10.5, 11.5, 12.5, 13.5, 14.5, 15.0],
        1e-6,
    );
}

pub fn affine_random_transforms_match_reference<B: Backend>(be: &B) {
    let g = ImageGeom {
        batch: 4,
        h: 11,
        w: 13,
        c: 2,
    };
    let x = image(&g, 2000);
    let mut r = rng(2001);
    let t: Vec<[f32; 6]> = (0..g.batch)
        .map(|_| {
            // Rotation up to ±0.6 rad about the centre, zoom 0.7-1.3, shift ±4 px.
            let a: f32 = r.gen_range(-0.6..0.6);
            let s: f32 = r.gen_range(0.7..1.3);
            let (cx, cy) = ((g.w - 1) as f32 / 2.0, (g.h - 1) as f32 / 2.0);
            let (c, sn) = (a.cos() * s, a.sin() * s);
            let (dx, dy): (f32, f32) = (r.gen_range(-4.0..4.0), r.gen_range(-4.0..4.0));
            [
                c,
                -sn,
                cx - c * cx + sn * cy + dx,
                sn,
                c,
                cy - sn * cx - c * cy + dy,
            ]
        })
        .collect();
    let y = be.to_vec(&be.affine_resample(&be.from_slice(&x), &g, &t));
    assert_close(
        "affine random",
        &y,
        &ref_resample(&to_f64(&x), &g, &t),
        1e-4,
    );
}

pub fn rmsprop_matches_reference<B: Backend>(be: &B) {
    let n = 20_011;
    let mut r = rng(2100);
    let p0 = rand_vec(&mut r, n);
    let (lr, rho, eps) = (1e-3f32, 0.9f32, 1e-7f32);
    let mut p = be.from_slice(&p0);
    let mut v = be.zeros(n);
    let mut pw = to_f64(&p0);
    let mut vw = vec![0.0f64; n];
    for _ in 0..3 {
        let g = rand_vec(&mut r, n);
        be.rmsprop_update(&mut p, &be.from_slice(&g), &mut v, lr, rho, eps);
        for i in 0..n {
            let gi = f64::from(g[i]);
            vw[i] = f64::from(rho) * vw[i] + (1.0 - f64::from(rho)) * gi * gi;
            pw[i] -= f64::from(lr) * gi / (vw[i].sqrt() + f64::from(eps));
        }
    }
    assert_close("rmsprop v", &be.to_vec(&v), &vw, 1e-5);
    assert_close("rmsprop p", &be.to_vec(&p), &pw, 1e-5);
}

pub fn adam_matches_reference<B: Backend>(be: &B) {
    let n = 20_011;
    let mut r = rng(2200);
    let p0 = rand_vec(&mut r, n);
    let (lr, b1, b2, eps) = (1e-3f32, 0.9f32, 0.999f32, 1e-7f32);
    let mut p = be.from_slice(&p0);
    let (mut m, mut v) = (be.zeros(n), be.zeros(n));
    let mut pw = to_f64(&p0);
    let (mut mw, mut vw) = (vec![0.0f64; n], vec![0.0f64; n]);
    let (b1d, b2d) = (f64::from(b1), f64::from(b2));
    for t in 1..=3u32 {
        let g = rand_vec(&mut r, n);
        be.adam_update(
            &mut p,
            &be.from_slice(&g),
            &mut m,
            &mut v,
            lr,
            b1,
            b2,
            eps,
            t,
        );
        let alpha = f64::from(lr) * (1.0 - b2d.powi(t as i32)).sqrt() / (1.0 - b1d.powi(t as i32));
        for i in 0..n {
            let gi = f64::from(g[i]);
            mw[i] += (gi - mw[i]) * (1.0 - b1d);
            vw[i] += (gi * gi - vw[i]) * (1.0 - b2d);
            pw[i] -= alpha * mw[i] / (vw[i].sqrt() + f64::from(eps));
        }
    }
    assert_close("adam m", &be.to_vec(&m), &mw, 1e-5);
    assert_close("adam v", &be.to_vec(&v), &vw, 1e-5);
    assert_close("adam p", &be.to_vec(&p), &pw, 1e-5);
}

pub fn outputs_do_not_depend_on_freed_buffers<B: Backend>(be: &B) {
    // Backends may recycle freed buffers: outputs that accumulate (pool and conv backward,
    // average pooling) must not pick up what a dropped tensor of the same size held. Sizes are
    // above 100 KiB so that such reuse can happen.
    let g = conv_geom(4, (20, 20, 16, 16), (3, 3), (2, 2), Padding::Same);
    let p = Pool2dGeom {
        batch: 4,
        in_h: 40,
        in_w: 40,
        c: 16,
        pool_h: 3,
        pool_w: 3,
        stride_h: 2,
        stride_w: 2,
        padding: Padding::Same,
    };
    let poison = |n: usize| {
        for _ in 0..4 {
            drop(be.from_slice(&vec![f32::NAN; n]));
        }
    };
    let mut r = rng(2300);
    let x = rand_vec(&mut r, g.input_len());
    let w = rand_vec(&mut r, g.weight_len());
    let dy = rand_vec(&mut r, g.output_len());
    let (want_dx, _) = ref_conv_backward(&to_f64(&x), &to_f64(&w), &to_f64(&dy), &g);
    poison(g.input_len());
    let dx = be.conv2d_backward_input(&be.from_slice(&dy), &be.from_slice(&w), &g);
    assert_close("conv dx after poison", &be.to_vec(&dx), &want_dx, 1e-4);

    let x = rand_vec(&mut r, p.input_len());
    let (_, arg, mean) = ref_pool(&to_f64(&x), &p);
    let pdy = rand_vec(&mut r, p.output_len());
    poison(p.output_len());
    let y = be.avg_pool2d(&be.from_slice(&x), &p);
    assert_close("avg_pool after poison", &be.to_vec(&y), &mean, 1e-5);
    let mut want = vec![0.0f64; p.input_len()];
    for (&a, &d) in arg.iter().zip(&pdy) {
        want[a as usize] += f64::from(d);
    }
    let (_, argt) = be.max_pool2d(&be.from_slice(&x), &p);
    poison(p.input_len());
    let dx = be.max_pool2d_backward(&be.from_slice(&pdy), &argt, &p);
    assert_close("max_pool dx after poison", &be.to_vec(&dx), &want, 1e-5);
    // Average pooling's backward: each output spreads dy / (in-bounds count) over its window.
    let (oh, pt) = ref_out_pad(p.in_h, p.pool_h, p.stride_h, p.padding);
    let (ow, pl) = ref_out_pad(p.in_w, p.pool_w, p.stride_w, p.padding);
    let mut want = vec![0.0f64; p.input_len()];
    for b in 0..p.batch {
        for oy in 0..oh {
            for ox in 0..ow {
                let ys = (oy * p.stride_h) as i64 - pt as i64;
                let xs = (ox * p.stride_w) as i64 - pl as i64;
                let inside = |v: i64, len: usize| v >= 0 && v < len as i64;
                let cells: Vec<(usize, usize)> = (ys..ys + p.pool_h as i64)
                    .flat_map(|iy| (xs..xs + p.pool_w as i64).map(move |ix| (iy, ix)))
                    .filter(|&(iy, ix)| inside(iy, p.in_h) && inside(ix, p.in_w))
                    .map(|(iy, ix)| (iy as usize, ix as usize))
                    .collect();
                for c in 0..p.c {
                    let d = f64::from(pdy[((b * oh + oy) * ow + ox) * p.c + c]);
                    for &(iy, ix) in &cells {
                        want[((b * p.in_h + iy) * p.in_w + ix) * p.c + c] += d / cells.len() as f64;
                    }
                }
            }
        }
    }
    poison(p.input_len());
    let dx = be.avg_pool2d_backward(&be.from_slice(&pdy), &p);
    assert_close("avg_pool dx after poison", &be.to_vec(&dx), &want, 1e-5);
}
