//! Float helpers for int8 logits (used outside the layers).

use crate::quant::QuantParams;

/// Softmax of int8 logits after dequantizing them with `quant` (float, outside the layers).
/// The argmax of int8 logits is [`crate::float::argmax`], which works on `i8` directly.
pub fn softmax_dequantized<const N: usize>(logits: &[i8; N], quant: QuantParams) -> [f32; N] {
    let mut real = [0f32; N];
    for (r, &q) in real.iter_mut().zip(logits) {
        *r = quant.dequantize(q);
    }
    crate::float::softmax(&real)
}
