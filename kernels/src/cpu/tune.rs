//! Choosing between two computations of one op by timing both on this CPU.
//!
//! Where the faster of two paths was measured (the AVX2 and baseline multiplies: the tables in
//! `direct.rs` and `direct_weight.rs`), the backend chooses by rule. With the AVX-512
//! multiply it was not: the im2col GEMM runs 12 × 16 tiles in 512-bit registers there, which
//! Xeons execute on 512-bit units and Zen 4 on 256-bit ones, so whether reading the patches in
//! place (in 6 × 16 AVX2 tiles) beats forming them depends on the chip. There the first call
//! of each op and layer geometry runs both ways [`ROUNDS`] times, alternated, and every later
//! call (from any thread, at any batch size: the last, smaller batch of an epoch and the
//! validation batches reuse the training batch's choice instead of timing again) runs the one
//! whose fastest call was faster. Both ways compute the same
//! products (the op suite runs each against f64 sums), so the choice changes speed, and the
//! rounding of a sum at most.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::panel::Isa;
use super::recycle;
use crate::geometry::Conv2dGeom;

/// The ops chosen by timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    /// The forward convolution: implicit GEMM or im2col + GEMM.
    Conv2d,
    /// The weight gradient: implicit GEMM or im2col + GEMM.
    Conv2dBackwardWeight,
    /// The forward convolution from 32 input channels: a GEMM (as [`Op::Conv2d`] chooses)
    /// or Winograd's (`winograd::may_pay`).
    Conv2dWinograd,
}

/// Timed calls of each way: the fastest of three ignores a first call's page faults (a
/// fresh output buffer) and most of a busy machine's preemptions.
const ROUNDS: usize = 3;

/// The choices made so far: `true` where the first way was faster.
static CHOICES: LazyLock<Mutex<HashMap<(Op, Conv2dGeom), bool>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// `preferred()`, the way measured faster on AVX2 and baseline CPUs; on a CPU with the
/// AVX-512 multiply, whichever of `preferred` and `other` [`faster`] finds faster here.
pub(crate) fn prefer(
    op: Op,
    g: &Conv2dGeom,
    preferred: impl FnMut() -> Vec<f32>,
    other: impl FnMut() -> Vec<f32>,
) -> Vec<f32> {
    if Isa::detect() == Isa::Avx512 {
        faster(op, g, preferred, other)
    } else {
        let mut preferred = preferred;
        preferred()
    }
}

/// The result of whichever of `first` and `second` is faster for `op` on `g`: timed on the
/// first call for this op and geometry, whatever its batch size (each way [`ROUNDS`] times,
/// alternated, each result recycled before the next call, then the faster way once more for
/// the result), remembered for every later call. Two threads that ask at once may both time it; the first answer
/// stored stays.
pub(crate) fn faster(
    op: Op,
    g: &Conv2dGeom,
    mut first: impl FnMut() -> Vec<f32>,
    mut second: impl FnMut() -> Vec<f32>,
) -> Vec<f32> {
    let key = (op, Conv2dGeom { batch: 0, ..*g });
    let known = choices().get(&key).copied();
    let first_wins = match known {
        Some(first_wins) => first_wins,
        None => {
            let mut best = [Duration::MAX; 2];
            for _ in 0..ROUNDS {
                best[0] = best[0].min(time(&mut first));
                best[1] = best[1].min(time(&mut second));
            }
            *choices().entry(key).or_insert(best[0] <= best[1])
        }
    };
    if first_wins {
        first()
    } else {
        second()
    }
}

/// The table of choices (a thread that panicked holding the lock left it whole: each
/// update is one insertion).
fn choices() -> std::sync::MutexGuard<'static, HashMap<(Op, Conv2dGeom), bool>> {
    CHOICES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long one call of `f` takes, its result given back to the recycling bin inside the
/// timing, as training's tensors give theirs back before the next step's call of the same op
/// (a freed output would make every call pay the page faults of a fresh one: for the first
/// convolution of cats vs dogs, 130 MB, they took three quarters of the call).
fn time(f: &mut impl FnMut() -> Vec<f32>) -> Duration {
    let start = Instant::now();
    recycle::F32.give(f());
    start.elapsed()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::thread::sleep;

    use super::*;
    use crate::geometry::Padding;

    /// A geometry no other test times (the table is shared by the whole test binary).
    fn unique(in_c: usize) -> Conv2dGeom {
        Conv2dGeom::of(7, (5, 5, in_c, 3), (1, 1), (1, 1), Padding::Same)
    }

    /// A way that returns `[v]`, after 20 ms when `slow` (against nothing: no preemption makes
    /// it win all three rounds), counting its calls in `calls`.
    fn way(v: f32, slow: bool, calls: &Cell<usize>) -> impl FnMut() -> Vec<f32> + '_ {
        move || {
            calls.set(calls.get() + 1);
            if slow {
                sleep(Duration::from_millis(20));
            }
            vec![v]
        }
    }

    #[test]
    fn times_both_once_then_runs_the_faster_one_only() {
        for slow_first in [true, false] {
            let g = unique(if slow_first { 1001 } else { 1002 });
            let (slow, fast) = (Cell::new(0), Cell::new(0));
            let run = || {
                if slow_first {
                    faster(
                        Op::Conv2d,
                        &g,
                        way(1.0, true, &slow),
                        way(2.0, false, &fast),
                    )
                } else {
                    faster(
                        Op::Conv2d,
                        &g,
                        way(2.0, false, &fast),
                        way(1.0, true, &slow),
                    )
                }
            };
            assert_eq!(run(), [2.0]);
            assert_eq!(
                (slow.get(), fast.get()),
                (ROUNDS, ROUNDS + 1),
                "timed {ROUNDS} times each, then the faster once for the result"
            );
            assert_eq!(run(), [2.0]);
            assert_eq!(run(), [2.0]);
            assert_eq!(
                (slow.get(), fast.get()),
                (ROUNDS, ROUNDS + 3),
                "remembered: later calls run the faster way alone"
            );
        }
    }

    #[test]
    fn choices_are_kept_per_op_and_geometry() {
        let (g, other) = (unique(1003), unique(1004));
        let n = Cell::new(0);
        let first_fast = |op, g| faster(op, g, way(1.0, false, &n), way(2.0, true, &n));
        let second_fast = |op, g| faster(op, g, way(1.0, true, &n), way(2.0, false, &n));
        assert_eq!(first_fast(Op::Conv2d, &g), [1.0]);
        // The same geometry for another op, and another geometry, are timed anew.
        assert_eq!(second_fast(Op::Conv2dBackwardWeight, &g), [2.0]);
        assert_eq!(second_fast(Op::Conv2d, &other), [2.0]);
        // The first choice stands although the first way is now the slow one.
        assert_eq!(second_fast(Op::Conv2d, &g), [1.0]);
    }

    #[test]
    fn a_choice_holds_for_every_batch_size_of_a_layer() {
        let g = unique(1006);
        let n = Cell::new(0);
        assert_eq!(
            faster(Op::Conv2d, &g, way(1.0, false, &n), way(2.0, true, &n)),
            [1.0]
        );
        let timed = n.get();
        // The same layer with another batch: the first way, now slow, runs once, untimed.
        let smaller = Conv2dGeom { batch: 2, ..g };
        assert_eq!(
            faster(
                Op::Conv2d,
                &smaller,
                way(1.0, true, &n),
                way(2.0, false, &n)
            ),
            [1.0]
        );
        assert_eq!(n.get(), timed + 1);
    }

    #[test]
    fn prefer_runs_the_measured_choice_without_the_avx512_multiply() {
        let (preferred, other) = (Cell::new(0), Cell::new(0));
        let got = prefer(
            Op::Conv2d,
            &unique(1005),
            way(1.0, false, &preferred),
            way(2.0, false, &other),
        );
        if Isa::detect() == Isa::Avx512 {
            assert_eq!(other.get(), ROUNDS + usize::from(got == [2.0]));
        } else {
            assert_eq!(
                (got, other.get()),
                (vec![1.0], 0),
                "the other way never runs"
            );
        }
    }
}
