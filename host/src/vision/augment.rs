//! Data augmentation as in the book's cats-vs-dogs chapter:
//!
//! ```python
//! data_augmentation = keras.Sequential([
//!     layers.RandomFlip("horizontal"),
//!     layers.RandomRotation(0.1),
//!     layers.RandomZoom(0.2),
//! ])
//! ```
//!
//! Sampling follows Keras: the flip happens with probability 1/2; the rotation angle is uniform
//! in `[-0.1, 0.1]` of a full turn (±36°); the zoom factor is uniform in `[1 - 0.2, 1 + 0.2]`,
//! the same for height and width (Keras's `width_factor=None` keeps the aspect ratio), and a
//! factor above 1 *zooms out* (Keras: "a positive value means zooming out").
//!
//! Each layer's transform maps an output pixel to the input point it samples (the
//! `ImageProjectiveTransformV3` convention of [`kernels::Backend::affine_resample`]), about the
//! image centre `((w - 1) / 2, (h - 1) / 2)`, with the same formulas as Keras. The three maps
//! are composed into one matrix per image (`flip ∘ rotate ∘ zoom`, applied to the output
//! point in the order zoom, rotate, flip), so the image is resampled once instead of three
//! times; Keras resamples after each layer, which blurs slightly more and reflects at the border
//! after each step. The matrices are pure functions, unit-tested below; the resampling runs on
//! the training backend (GPU with CubeCL).

use kernels::{Backend, ImageGeom};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// An affine map `(x, y) -> (a0 x + a1 y + a2, b0 x + b1 y + b2)` from an output pixel to the
/// input point it samples, stored as `[a0, a1, a2, b0, b1, b2]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine(pub [f64; 6]);

impl Affine {
    /// The identity map.
    pub const IDENTITY: Affine = Affine([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);

    /// Applies the map to a point.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.0;
        (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
    }

    /// `self ∘ inner`: first `inner`, then `self`.
    pub fn compose(&self, inner: &Affine) -> Affine {
        let a = &self.0;
        let b = &inner.0;
        Affine([
            a[0] * b[0] + a[1] * b[3],
            a[0] * b[1] + a[1] * b[4],
            a[0] * b[2] + a[1] * b[5] + a[2],
            a[3] * b[0] + a[4] * b[3],
            a[3] * b[1] + a[4] * b[4],
            a[3] * b[2] + a[4] * b[5] + a[5],
        ])
    }

    /// The `f32` form the backend takes.
    pub fn to_f32(&self) -> [f32; 6] {
        self.0.map(|v| v as f32)
    }
}

/// Horizontal flip of an image `w` pixels wide: `x -> w - 1 - x`.
pub fn flip_matrix(w: usize) -> Affine {
    Affine([-1.0, 0.0, w as f64 - 1.0, 0.0, 1.0, 0.0])
}

/// Keras `RandomRotation`'s matrix for `angle` radians about the image centre (positive angles
/// turn the image counter-clockwise on screen, as in Keras).
pub fn rotation_matrix(angle: f64, h: usize, w: usize) -> Affine {
    let (s, c) = angle.sin_cos();
    let (wm, hm) = (w as f64 - 1.0, h as f64 - 1.0);
    let x_off = (wm - (c * wm - s * hm)) / 2.0;
    let y_off = (hm - (s * wm + c * hm)) / 2.0;
    Affine([c, -s, x_off, s, c, y_off])
}

/// Keras `RandomZoom`'s matrix for zoom factors `zx`, `zy` about the image centre (a factor
/// above 1 samples a larger region: zoom out).
pub fn zoom_matrix(zx: f64, zy: f64, h: usize, w: usize) -> Affine {
    let x_off = (w as f64 - 1.0) / 2.0 * (1.0 - zx);
    let y_off = (h as f64 - 1.0) / 2.0 * (1.0 - zy);
    Affine([zx, 0.0, x_off, 0.0, zy, y_off])
}

/// One image's sampled augmentation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AugmentSample {
    /// Flip horizontally.
    pub flip: bool,
    /// Rotation in radians.
    pub angle: f64,
    /// Zoom factor (height and width).
    pub zoom: f64,
}

impl AugmentSample {
    /// The combined map for an `h`×`w` image: flip ∘ rotation ∘ zoom (Keras's layer order).
    pub fn matrix(&self, h: usize, w: usize) -> Affine {
        let z = zoom_matrix(self.zoom, self.zoom, h, w);
        let r = rotation_matrix(self.angle, h, w);
        let rz = r.compose(&z);
        if self.flip {
            flip_matrix(w).compose(&rz)
        } else {
            rz
        }
    }
}

/// The augmentation pipeline: `RandomFlip("horizontal")`, `RandomRotation(rotation)`,
/// `RandomZoom(zoom)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    /// Flip horizontally with probability 1/2.
    pub flip_horizontal: bool,
    /// Rotation factor, a fraction of a full turn (0.1 = ±36°).
    pub rotation: f64,
    /// Zoom factor (0.2 = zoom uniform in [0.8, 1.2]).
    pub zoom: f64,
}

impl Augmentation {
    /// The book's pipeline: flip, rotation 0.1, zoom 0.2.
    pub const BOOK: Augmentation = Augmentation {
        flip_horizontal: true,
        rotation: 0.1,
        zoom: 0.2,
    };

    /// Draws one image's transform.
    pub fn sample(&self, rng: &mut impl Rng) -> AugmentSample {
        let flip = self.flip_horizontal && rng.gen_bool(0.5);
        let turn = std::f64::consts::TAU * self.rotation.abs();
        let angle = if turn > 0.0 {
            rng.gen_range(-turn..=turn)
        } else {
            0.0
        };
        let z = self.zoom.abs();
        let zoom = if z > 0.0 {
            rng.gen_range(1.0 - z..=1.0 + z)
        } else {
            1.0
        };
        AugmentSample { flip, angle, zoom }
    }

    /// The `batch` transforms for a batch of `h`×`w` images, reproducible from `seed`.
    pub fn transforms(&self, batch: usize, h: usize, w: usize, seed: u64) -> Vec<[f32; 6]> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..batch)
            .map(|_| self.sample(&mut rng).matrix(h, w).to_f32())
            .collect()
    }

    /// Augments an NHWC batch on the backend (one `affine_resample` call).
    pub fn apply<B: Backend>(
        &self,
        backend: &B,
        x: &B::Tensor,
        geom: &ImageGeom,
        seed: u64,
    ) -> B::Tensor {
        let t = self.transforms(geom.batch, geom.h, geom.w, seed);
        backend.affine_resample(x, geom, &t)
    }
}

/// A seed for one batch of one epoch, derived from a run seed (splitmix64 mixing, so nearby
/// epochs and batches get unrelated streams).
pub fn batch_seed(seed: u64, epoch: u64, batch: u64) -> u64 {
    let mut z = seed
        .wrapping_add(epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(batch.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f64, f64), b: (f64, f64)) -> bool {
        (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9
    }

    #[test]
    fn flip_maps_x_to_w_minus_1_minus_x() {
        let f = flip_matrix(7);
        for x in 0..7 {
            assert_eq!(f.apply(x as f64, 3.0), ((6 - x) as f64, 3.0));
        }
    }

    #[test]
    fn rotation_zero_and_zoom_one_are_identity() {
        let r = rotation_matrix(0.0, 5, 9);
        let z = zoom_matrix(1.0, 1.0, 5, 9);
        for m in [r, z, r.compose(&z)] {
            for (i, v) in m.0.iter().enumerate() {
                assert!((v - Affine::IDENTITY.0[i]).abs() < 1e-12, "{m:?}");
            }
        }
        let s = AugmentSample {
            flip: false,
            angle: 0.0,
            zoom: 1.0,
        };
        assert_eq!(s.matrix(5, 9), Affine::IDENTITY);
    }

    #[test]
    fn quarter_turn_maps_known_pixels() {
        // 5x5 image, centre (2, 2). Output pixel (x, y) samples input
        // (c + cos·dx − sin·dy, c + sin·dx + cos·dy), dx = x − 2, dy = y − 2.
        // At 90°: output (4, 2) samples input (2, 4); output (2, 0) samples input (4, 2).
        let r = rotation_matrix(std::f64::consts::FRAC_PI_2, 5, 5);
        assert!(close(r.apply(4.0, 2.0), (2.0, 4.0)));
        assert!(close(r.apply(2.0, 0.0), (4.0, 2.0)));
        assert!(close(r.apply(2.0, 2.0), (2.0, 2.0)));
    }

    #[test]
    fn rotation_and_zoom_fix_the_centre_of_non_square_images() {
        let (h, w) = (6, 11);
        let c = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
        assert!(close(rotation_matrix(0.7, h, w).apply(c.0, c.1), c));
        assert!(close(zoom_matrix(1.3, 1.3, h, w).apply(c.0, c.1), c));
    }

    #[test]
    fn zoom_above_one_samples_a_larger_region() {
        // Keras: positive factor = zoom out, i.e. the output corner samples beyond the corner.
        let z = zoom_matrix(1.2, 1.2, 11, 11);
        let (x, y) = z.apply(0.0, 0.0);
        assert!(x < 0.0 && y < 0.0);
        assert!(close((x, y), (-1.0, -1.0)));
    }

    #[test]
    fn composition_applies_inner_first() {
        let s = AugmentSample {
            flip: true,
            angle: 0.3,
            zoom: 0.9,
        };
        let (h, w) = (8, 10);
        let m = s.matrix(h, w);
        let p = (3.0, 5.0);
        let z = zoom_matrix(0.9, 0.9, h, w).apply(p.0, p.1);
        let r = rotation_matrix(0.3, h, w).apply(z.0, z.1);
        let f = flip_matrix(w).apply(r.0, r.1);
        assert!(close(m.apply(p.0, p.1), f));
    }

    #[test]
    fn sampling_stays_in_the_keras_ranges_and_is_seeded() {
        let a = Augmentation::BOOK;
        let mut rng = StdRng::seed_from_u64(1);
        let mut flips = 0;
        let n = 4000;
        for _ in 0..n {
            let s = a.sample(&mut rng);
            assert!(s.angle.abs() <= 0.1 * std::f64::consts::TAU);
            assert!((0.8..=1.2).contains(&s.zoom));
            flips += s.flip as usize;
        }
        // Binomial(4000, 1/2): sd ~ 32; 6 sd bounds.
        assert!((1800..=2200).contains(&flips), "{flips}");
        assert_eq!(a.transforms(4, 9, 9, 42), a.transforms(4, 9, 9, 42));
        assert_ne!(a.transforms(4, 9, 9, 42), a.transforms(4, 9, 9, 43));
        assert_ne!(batch_seed(1, 0, 1), batch_seed(1, 1, 0));
    }
}
