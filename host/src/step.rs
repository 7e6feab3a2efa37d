//! One training step and one evaluation batch, cut across the backend's data-parallel
//! replicas ([`kernels::Backend::on_replicas`]).
//!
//! With one replica (every GPU backend, a one-thread CPU backend) a batch runs whole. With
//! more, each replica runs the forward pass, the loss and the backward pass of a contiguous
//! slice of the batch; the slices' gradients, each weighted by its share of the batch, add up
//! to the whole batch's mean-loss gradient, which the caller applies once. Each slice draws
//! its dropout masks from a seed of its own, so with dropout the trained weights depend on
//! the number of replicas (threads) as well as on the seed; without dropout they differ only
//! by float rounding.

use std::borrow::Cow;
use std::ops::Range;

use kernels::Backend;

use crate::loss::Loss;
use crate::network::{LayerGrads, Network};

/// A batch's input: host pixels, or a tensor already on the backend (an augmented batch).
pub enum BatchInput<'a, T> {
    /// Examples on the host, NHWC, whole examples.
    Host(&'a [f32]),
    /// Examples on the backend.
    Device(T),
}

/// What a training step computed.
pub struct StepOutput<T> {
    /// Gradients of the mean loss over the batch, per layer.
    pub grads: Vec<LayerGrads<T>>,
    /// The mean loss over the batch.
    pub loss: f32,
    /// Correctly classified examples.
    pub correct: usize,
}

/// What one replica's slice of a training step computed.
struct SliceOutput<T> {
    grads: Vec<LayerGrads<T>>,
    loss_sum: f64,
    correct: usize,
}

/// Loss and hits of one forward-only batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchScore {
    /// The sum (not the mean) of the per-example losses.
    pub loss_sum: f64,
    /// Correctly classified examples.
    pub correct: usize,
}

/// Contiguous slices of `0..batch` for `parts` replicas, sizes differing by at most one.
fn slices(batch: usize, parts: usize) -> Vec<Range<usize>> {
    let (q, r) = (batch / parts, batch % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = q + usize::from(i < r);
            let s = start..start + len;
            start += len;
            s
        })
        .collect()
}

/// The dropout seed of replica `i` (replica 0 keeps the step's seed).
fn replica_seed(seed: u64, i: usize) -> u64 {
    seed ^ (i as u64).wrapping_mul(0xd1b5_4a32_d192_ed03)
}

/// The replicas a batch of `batch` examples is cut across (at most one per example).
fn parts<B: Backend>(b: &B, batch: usize) -> usize {
    b.replicas().clamp(1, batch.max(1))
}

/// One training step's forward and backward pass over `input` (`labels.len()` examples)
/// with dropout seeded by `seed`: the mean-loss gradients (not yet applied), loss and hits;
/// `None` if a forward pass kept no tape (which a training-mode pass always keeps).
pub fn train_step<B: Backend>(
    net: &Network<'_, B>,
    loss: &Loss,
    input: BatchInput<'_, B::Tensor>,
    labels: &[u32],
    seed: u64,
) -> Option<StepOutput<B::Tensor>> {
    let b = net.backend();
    let batch = labels.len();
    let parts = parts(b, batch);
    if parts == 1 {
        let x = match input {
            BatchInput::Host(h) => b.from_slice(h),
            BatchInput::Device(x) => x,
        };
        let out = slice_step(net, b, loss, x, labels, batch, seed)?;
        return Some(StepOutput {
            grads: out.grads,
            loss: (out.loss_sum / batch as f64) as f32,
            correct: out.correct,
        });
    }
    let host: Cow<'_, [f32]> = match input {
        BatchInput::Host(h) => Cow::Borrowed(h),
        BatchInput::Device(x) => Cow::Owned(b.to_vec(&x)),
    };
    let per = host.len() / batch;
    let ranges = slices(batch, parts);
    let results = b.on_replicas(|i, r| {
        let s = ranges.get(i)?.clone();
        let x = r.from_slice(&host[s.start * per..s.end * per]);
        Some(slice_step(
            net,
            r,
            loss,
            x,
            &labels[s],
            batch,
            replica_seed(seed, i),
        ))
    });
    // Replicas beyond the slices ran nothing (outer `None`); a slice without a tape fails all.
    let mut results = results.into_iter().flatten();
    let SliceOutput {
        mut grads,
        mut loss_sum,
        mut correct,
    } = results.next()??;
    for r in results {
        let r = r?;
        loss_sum += r.loss_sum;
        correct += r.correct;
        for (acc, more) in grads.iter_mut().zip(r.grads) {
            if let (Some(acc), Some(more)) = (acc.as_mut(), more) {
                for (a, m) in acc.iter_mut().zip(more) {
                    *a = b.add(a, &m);
                }
            }
        }
    }
    Some(StepOutput {
        grads,
        loss: (loss_sum / batch as f64) as f32,
        correct,
    })
}

/// Forward, loss and backward of one slice on `r`: gradients of the slice's share of the
/// mean loss over `batch` examples, the slice's loss sum and its hits.
fn slice_step<B: Backend>(
    net: &Network<'_, B>,
    r: &B,
    loss: &Loss,
    x: B::Tensor,
    labels: &[u32],
    batch: usize,
    seed: u64,
) -> Option<SliceOutput<B::Tensor>> {
    let n = labels.len();
    let (logits, tape) = net.forward_on(r, x, n, Some(seed));
    let out = loss.compute(r, &logits, labels, n);
    // The fused loss's gradient is of the slice's mean; the batch's mean weighs it n / batch.
    let dlogits = if n == batch {
        out.grad
    } else {
        r.scale_shift(&out.grad, n as f32 / batch as f32, 0.0)
    };
    let grads = net.backward_on(r, tape?, dlogits);
    Some(SliceOutput {
        grads,
        loss_sum: f64::from(out.loss) * n as f64,
        correct: out.correct,
    })
}

/// Inference-mode loss and hits of `images` (`labels.len()` whole examples).
pub fn score_batch<B: Backend>(
    net: &Network<'_, B>,
    loss: &Loss,
    images: &[f32],
    labels: &[u32],
) -> BatchScore {
    let b = net.backend();
    let batch = labels.len();
    let per = images.len() / batch.max(1);
    let ranges = slices(batch, parts(b, batch));
    b.on_replicas(|i, r| {
        let s = ranges.get(i)?.clone();
        let n = s.len();
        let x = r.from_slice(&images[s.start * per..s.end * per]);
        let (logits, _) = net.forward_on(r, x, n, None);
        let out = loss.compute(r, &logits, &labels[s], n);
        Some(BatchScore {
            loss_sum: f64::from(out.loss) * n as f64,
            correct: out.correct,
        })
    })
    .into_iter()
    .flatten()
    .fold(
        BatchScore {
            loss_sum: 0.0,
            correct: 0,
        },
        |a, s| BatchScore {
            loss_sum: a.loss_sum + s.loss_sum,
            correct: a.correct + s.correct,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_batch_in_order_with_sizes_within_one() {
        for batch in 1..40 {
            for parts in 1..=batch.min(7) {
                let s = slices(batch, parts);
                assert_eq!(s.len(), parts);
                assert_eq!(s[0].start, 0);
                assert_eq!(s[parts - 1].end, batch);
                for w in s.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let (lo, hi) = (
                    s.iter().map(|r| r.len()).min().unwrap(),
                    s.iter().map(|r| r.len()).max().unwrap(),
                );
                assert!(hi - lo <= 1 && lo >= 1, "{batch}/{parts}: {s:?}");
            }
        }
    }
}
