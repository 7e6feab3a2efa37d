//! Element-wise activations and the classifier's final steps.

/// In-place ReLU, `x = max(x, 0)`.
pub fn relu(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = v.max(0.0);
    }
}

/// Numerically stable softmax: `exp(x - max) / Σ exp(x - max)`.
pub fn softmax<const N: usize>(logits: &[f32; N]) -> [f32; N] {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut out = [0f32; N];
    let mut sum = 0f32;
    for (o, &l) in out.iter_mut().zip(logits) {
        *o = libm::expf(l - max);
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
    out
}

/// Index of the largest value (f32 probabilities or int8 logits); the first one on ties, 0 for
/// an empty slice. Comparisons with NaN are false, so a NaN never replaces the current best.
pub fn argmax<T: PartialOrd + Copy>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}
