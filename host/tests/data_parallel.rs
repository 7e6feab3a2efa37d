//! A training step cut across data-parallel replicas computes the whole batch's step: the
//! same loss, hits and mean-loss gradients as one replica running the batch whole.

use host::layers::Activation::{Relu, Softmax};
use host::layers::{Conv2D, Dense, Flatten, MaxPooling2D, Padding, Shape};
use host::loss::Loss;
use host::network::Network;
use host::sequential::Sequential;
use host::step::{score_batch, train_step, BatchInput};
use kernels::{Backend, CpuBackend};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn replicated_step_matches_the_whole_batch() {
    let model = Sequential::new(Shape::image(9, 9, 2))
        .add(Conv2D::new(4, 3).padding(Padding::Same).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(6, 3).activation(Relu))
        .add(Flatten)
        .add(Dense::new(5).activation(Softmax))
        .build(3)
        .unwrap();
    let loss = Loss::for_model(&model).unwrap();
    let whole = CpuBackend::with_threads(1).unwrap();
    let split = CpuBackend::with_threads(3).unwrap();
    assert_eq!(whole.replicas(), 1);
    assert_eq!(split.replicas(), 3);
    let mut rng = StdRng::seed_from_u64(8);
    // 7 examples: slices of 3, 2 and 2, so the slices' weights differ.
    let batch = 7;
    let x: Vec<f32> = (0..batch * 9 * 9 * 2)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let labels: Vec<u32> = (0..batch).map(|_| rng.gen_range(0..5)).collect();
    let (nw, ns) = (Network::new(&whole, &model), Network::new(&split, &model));
    let a = train_step(&nw, &loss, BatchInput::Host(&x), &labels, 1).unwrap();
    let b = train_step(&ns, &loss, BatchInput::Host(&x), &labels, 1).unwrap();
    assert!((a.loss - b.loss).abs() < 1e-5, "{} vs {}", a.loss, b.loss);
    assert_eq!(a.correct, b.correct);
    let mut compared = 0;
    for (ga, gb) in a.grads.iter().zip(&b.grads) {
        assert_eq!(ga.is_some(), gb.is_some());
        for (ta, tb) in ga.iter().flatten().zip(gb.iter().flatten()) {
            let (va, vb) = (whole.to_vec(ta), split.to_vec(tb));
            assert_eq!(va.len(), vb.len());
            let scale = va.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
            for (p, q) in va.iter().zip(&vb) {
                assert!((p - q).abs() <= 1e-5 * scale, "{p} vs {q}");
            }
            compared += va.len();
        }
    }
    // 4·3·3·2+4 + 6·3·3·4+6 + (2·2·6)·5+5 parameters.
    assert_eq!(compared, 76 + 222 + 125);
    // Evaluation sums the same per-example losses either way.
    let (sa, sb) = (
        score_batch(&nw, &loss, &x, &labels),
        score_batch(&ns, &loss, &x, &labels),
    );
    assert!((sa.loss_sum - sb.loss_sum).abs() < 1e-4 * sa.loss_sum.abs().max(1.0));
    assert!((sa.loss_sum / batch as f64 - f64::from(a.loss)).abs() < 1e-5);
    assert_eq!(sa.correct, sb.correct);
}
