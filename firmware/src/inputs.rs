//! The test inputs embedded at build time (see `build.rs`): images of the model's input size
//! and their labels.

use crate::model::INPUT_LEN;

/// The images, [`INPUT_LEN`] bytes each, back to back.
static IMAGES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/inputs.bin"));
/// One label per image, or [`UNKNOWN_LABEL`].
static LABELS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/labels.bin"));

/// Label of an input whose class was not given at build time.
pub const UNKNOWN_LABEL: u8 = 0xFF;

/// The embedded inputs as `(image, label)` pairs.
pub fn all() -> impl Iterator<Item = (&'static [u8; INPUT_LEN], u8)> {
    IMAGES
        .chunks_exact(INPUT_LEN)
        .filter_map(|chunk| <&[u8; INPUT_LEN]>::try_from(chunk).ok())
        .zip(LABELS.iter().copied())
}
