//! Augmentation geometry through the CPU backend's `affine_resample`, against exact references.

use host::vision::augment::{flip_matrix, rotation_matrix, zoom_matrix};
use host::vision::{AugmentSample, Augmentation};
use kernels::{Backend, CpuBackend, ImageGeom};

/// A 2-image, 3-channel batch whose values are all distinct.
fn batch(h: usize, w: usize) -> (Vec<f32>, ImageGeom) {
    let g = ImageGeom {
        batch: 2,
        h,
        w,
        c: 3,
    };
    (
        (0..g.len())
            .map(|i| (i as f32 * 0.37).sin() * 100.0)
            .collect(),
        g,
    )
}

#[test]
fn flip_is_an_exact_mirror() {
    let be = CpuBackend::new();
    let (h, w) = (5, 7);
    let (x, g) = batch(h, w);
    let m = flip_matrix(w).to_f32();
    let y = be.to_vec(&be.affine_resample(&be.from_slice(&x), &g, &[m, m]));
    for b in 0..2 {
        for r in 0..h {
            for c in 0..w {
                for ch in 0..3 {
                    let got = y[((b * h + r) * w + c) * 3 + ch];
                    let want = x[((b * h + r) * w + (w - 1 - c)) * 3 + ch];
                    assert_eq!(got, want);
                }
            }
        }
    }
}

#[test]
fn rotation_zero_and_zoom_zero_are_identity() {
    let be = CpuBackend::new();
    let (x, g) = batch(6, 9);
    let s = AugmentSample {
        flip: false,
        angle: 0.0,
        zoom: 1.0,
    };
    let m = s.matrix(6, 9).to_f32();
    let y = be.to_vec(&be.affine_resample(&be.from_slice(&x), &g, &[m, m]));
    assert_eq!(y, x);
    // A pipeline with factors 0 (and no flip) leaves every batch unchanged, whatever the seed.
    let none = Augmentation {
        flip_horizontal: false,
        rotation: 0.0,
        zoom: 0.0,
    };
    for seed in 0..5 {
        let y = be.to_vec(&none.apply(&be, &be.from_slice(&x), &g, seed));
        assert_eq!(y, x);
    }
}

#[test]
fn quarter_turn_moves_a_known_pixel() {
    // A single bright pixel at the middle of the right edge of a 5x5 image; a Keras rotation of
    // +90° (counter-clockwise) brings it to the middle of the top edge.
    let be = CpuBackend::new();
    let g = ImageGeom {
        batch: 1,
        h: 5,
        w: 5,
        c: 1,
    };
    let mut x = vec![0f32; 25];
    x[2 * 5 + 4] = 1.0;
    let m = rotation_matrix(std::f64::consts::FRAC_PI_2, 5, 5).to_f32();
    let y = be.to_vec(&be.affine_resample(&be.from_slice(&x), &g, &[m]));
    let mut want = vec![0f32; 25];
    want[2] = 1.0;
    for (a, b) in y.iter().zip(&want) {
        assert!((a - b).abs() < 1e-5, "{y:?}");
    }
}

#[test]
fn zoom_in_by_two_samples_the_centre() {
    // Zoom factor 0.5 (zoom in): output pixel x samples input 0.5 x + (w-1)/4; on a horizontal
    // ramp v = x the output is that ramp, exactly (bilinear is exact on linear data).
    let be = CpuBackend::new();
    let (h, w) = (5, 9);
    let g = ImageGeom {
        batch: 1,
        h,
        w,
        c: 1,
    };
    let x: Vec<f32> = (0..h * w).map(|i| (i % w) as f32).collect();
    let m = zoom_matrix(0.5, 0.5, h, w).to_f32();
    let y = be.to_vec(&be.affine_resample(&be.from_slice(&x), &g, &[m]));
    for r in 0..h {
        for c in 0..w {
            let want = 0.5 * c as f32 + (w as f32 - 1.0) / 4.0;
            assert!((y[r * w + c] - want).abs() < 1e-5);
        }
    }
}

#[test]
fn book_augmentation_is_seeded_and_changes_images() {
    let be = CpuBackend::new();
    let (x, g) = batch(8, 8);
    let a = Augmentation::BOOK;
    let t = be.from_slice(&x);
    let y1 = be.to_vec(&a.apply(&be, &t, &g, 7));
    let y2 = be.to_vec(&a.apply(&be, &t, &g, 7));
    let y3 = be.to_vec(&a.apply(&be, &t, &g, 8));
    assert_eq!(y1, y2);
    assert_ne!(y1, y3);
    assert_ne!(y1, x);
    // Resampling with reflect fill stays inside the input's value range.
    let (lo, hi) = x
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(y1.iter().all(|&v| v >= lo - 1e-3 && v <= hi + 1e-3));
}
