//! The test digits embedded at build time (see `build.rs`): 28 x 28 images and their labels.

use crate::protocol::PIXELS;

/// The images, 784 bytes each, back to back.
static IMAGES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/digits.bin"));
/// One label per image (0..=9), or [`UNKNOWN_LABEL`].
static LABELS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/labels.bin"));

/// Label of a digit whose class was not given at build time.
pub const UNKNOWN_LABEL: u8 = 0xFF;

/// The embedded digits as `(image, label)` pairs.
pub fn all() -> impl Iterator<Item = (&'static [u8; PIXELS], u8)> {
    IMAGES
        .chunks_exact(PIXELS)
        .filter_map(|chunk| <&[u8; PIXELS]>::try_from(chunk).ok())
        .zip(LABELS.iter().copied())
}
