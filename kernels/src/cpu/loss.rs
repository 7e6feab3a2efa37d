//! Output activations and fused, numerically stable losses.

use super::elementwise::sigmoid1;

/// Row-wise softmax of `[batch, classes]` logits (max-subtracted).
pub(crate) fn softmax(logits: &[f32], batch: usize, classes: usize) -> Vec<f32> {
    assert_eq!(logits.len(), batch * classes, "softmax: logits length");
    let mut out = logits.to_vec();
    if classes == 0 {
        return out;
    }
    for row in out.chunks_exact_mut(classes) {
        softmax_row(row);
    }
    out
}

/// In-place softmax of one row; returns `ln Σ exp(x - max)` and the max.
fn softmax_row(row: &mut [f32]) -> (f32, f32) {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - m).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
    (sum.ln(), m)
}

/// Softmax + sparse categorical crossentropy: (mean loss, correct, grad).
pub(crate) fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u32],
    batch: usize,
    classes: usize,
) -> (f32, usize, Vec<f32>) {
    assert_eq!(
        logits.len(),
        batch * classes,
        "softmax_cross_entropy: logits length"
    );
    assert_eq!(labels.len(), batch, "softmax_cross_entropy: labels length");
    let mut grad = logits.to_vec();
    if batch == 0 || classes == 0 {
        return (0.0, 0, grad);
    }
    let mut loss = 0.0f64;
    let mut correct = 0;
    let inv_batch = 1.0 / batch as f32;
    for ((row, x), &label) in grad
        .chunks_exact_mut(classes)
        .zip(logits.chunks_exact(classes))
        .zip(labels)
    {
        let label = label as usize;
        assert!(
            label < classes,
            "softmax_cross_entropy: label {label} >= {classes} classes"
        );
        // First maximum, as tf.argmax.
        let mut arg = 0;
        for (j, &v) in x.iter().enumerate() {
            if v > x[arg] {
                arg = j;
            }
        }
        if arg == label {
            correct += 1;
        }
        let (log_sum, max) = softmax_row(row);
        // -log softmax[label] = log Σ exp(x - max) - (x[label] - max).
        loss += f64::from(log_sum - (x[label] - max));
        row[label] -= 1.0;
        for v in row.iter_mut() {
            *v *= inv_batch;
        }
    }
    ((loss / batch as f64) as f32, correct, grad)
}

/// Sigmoid + binary crossentropy on logits: (mean loss, correct, grad).
pub(crate) fn sigmoid_binary_cross_entropy(
    logits: &[f32],
    targets: &[f32],
    batch: usize,
) -> (f32, usize, Vec<f32>) {
    assert_eq!(
        logits.len(),
        batch,
        "sigmoid_binary_cross_entropy: logits length"
    );
    assert_eq!(
        targets.len(),
        batch,
        "sigmoid_binary_cross_entropy: targets length"
    );
    if batch == 0 {
        return (0.0, 0, Vec::new());
    }
    let inv_batch = 1.0 / batch as f32;
    let mut loss = 0.0f64;
    let mut correct = 0;
    let mut grad = Vec::with_capacity(batch);
    for (&z, &t) in logits.iter().zip(targets) {
        // max(z, 0) - z t + ln(1 + exp(-|z|)), the stable form of the crossentropy.
        loss += f64::from(z.max(0.0) - z * t + (-z.abs()).exp().ln_1p());
        let p = sigmoid1(z);
        if (p >= 0.5) == (t >= 0.5) {
            correct += 1;
        }
        grad.push((p - t) * inv_batch);
    }
    ((loss / batch as f64) as f32, correct, grad)
}
