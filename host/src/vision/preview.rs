//! The book's augmentation preview: nine augmentations of one training image in a 3×3 grid,
//! written as PNG.

use std::path::Path;

use kernels::{Backend, ImageGeom};

use super::augment::{batch_seed, Augmentation};
use super::plot::{write_png_rgb, PlotError};

/// Gap between tiles, in pixels.
const GAP: usize = 6;

/// Augments `image` (HWC RGB `f32` in 0..255, `h`×`w`) nine times on `backend` and lays the
/// results out in a 3×3 grid: an RGB8 buffer and its `(width, height)`. Small images are
/// enlarged by an integer factor (nearest neighbour) so each tile is at least ~160 px.
pub fn augment_grid<B: Backend>(
    backend: &B,
    image: &[f32],
    h: usize,
    w: usize,
    augmentation: &Augmentation,
    seed: u64,
) -> (Vec<u8>, u32, u32) {
    let n = 9;
    let mut batch = Vec::with_capacity(n * image.len());
    for _ in 0..n {
        batch.extend_from_slice(image);
    }
    let geom = ImageGeom {
        batch: n,
        h,
        w,
        c: 3,
    };
    let x = backend.from_slice(&batch);
    let y = augmentation.apply(backend, &x, &geom, batch_seed(seed, 0, 0));
    let out = backend.to_vec(&y);

    let k = (160 / h.max(w).max(1)).max(1);
    let (th, tw) = (h * k, w * k);
    let gw = 3 * tw + 4 * GAP;
    let gh = 3 * th + 4 * GAP;
    let mut rgb = vec![255u8; gw * gh * 3];
    for t in 0..n {
        let (row, col) = (t / 3, t % 3);
        let (oy, ox) = (GAP + row * (th + GAP), GAP + col * (tw + GAP));
        let img = &out[t * h * w * 3..(t + 1) * h * w * 3];
        for y in 0..th {
            for x in 0..tw {
                let s = ((y / k) * w + x / k) * 3;
                let d = ((oy + y) * gw + ox + x) * 3;
                for c in 0..3 {
                    rgb[d + c] = img[s + c].round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    (rgb, gw as u32, gh as u32)
}

/// Writes the 3×3 augmentation grid of `image` to `path` (PNG, atomically).
pub fn augment_preview<B: Backend>(
    backend: &B,
    image: &[f32],
    h: usize,
    w: usize,
    augmentation: &Augmentation,
    seed: u64,
    path: &Path,
) -> Result<(), PlotError> {
    let (rgb, gw, gh) = augment_grid(backend, image, h, w, augmentation, seed);
    write_png_rgb(path, &rgb, gw, gh)
}
