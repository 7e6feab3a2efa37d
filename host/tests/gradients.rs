//! The backward pass against central finite differences of the loss, on small models that use
//! every layer kind, on the CPU backend.

use host::layers::Activation::{Relu, Sigmoid, Softmax};
use host::layers::{
    AveragePooling2D, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Padding, Rescaling, Shape,
};
use host::loss::Loss;
use host::model::Model;
use host::network::Network;
use host::sequential::Sequential;
use kernels::{Backend, CpuBackend};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEED: u64 = 1234;

fn loss_of(b: &CpuBackend, model: &Model, x: &[f32], labels: &[u32], batch: usize) -> f64 {
    let net = Network::new(b, model);
    let (logits, _) = net.forward(b.from_slice(x), batch, Some(SEED));
    let loss = Loss::for_model(model).unwrap();
    loss.compute(b, &logits, labels, batch).loss as f64
}

/// The inputs [`check`] runs `model` on.
fn inputs(model: &Model, batch: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(5);
    (0..batch * model.input_shape().len())
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect()
}

fn check(model: Model, labels: Vec<u32>, min_checked: usize) {
    let b = CpuBackend::new();
    let batch = labels.len();
    let x = inputs(&model, batch);
    let net = Network::new(&b, &model);
    let (logits, tape) = net.forward(b.from_slice(&x), batch, Some(SEED));
    let loss = Loss::for_model(&model).unwrap();
    let out = loss.compute(&b, &logits, &labels, batch);
    let grads = net.backward(tape.unwrap(), out.grad);
    let l0 = loss_of(&b, &model, &x, &labels, batch);
    let (mut checked, mut kinks) = (0, 0);
    for (li, layer_grads) in grads.iter().enumerate() {
        let Some(layer_grads) = layer_grads else {
            assert!(model.params()[li].is_empty() || !model.layers()[li].trainable);
            continue;
        };
        for (pi, g) in layer_grads.iter().enumerate() {
            let g = b.to_vec(g);
            let n = g.len();
            for k in (0..n).step_by((n / 7).max(1)) {
                let h = 2e-3f32;
                let mut plus = model.clone();
                let mut minus = model.clone();
                let mut pp = plus.params().to_vec();
                pp[li][pi].values[k] += h;
                plus.set_params(pp).unwrap();
                let mut pm = minus.params().to_vec();
                pm[li][pi].values[k] -= h;
                minus.set_params(pm).unwrap();
                let (lp, lm) = (
                    loss_of(&b, &plus, &x, &labels, batch),
                    loss_of(&b, &minus, &x, &labels, batch),
                );
                let fd = (lp - lm) / (2.0 * h as f64);
                // A ReLU or max-pool switch inside [-h, h] makes the one-sided slopes
                // disagree; such points are not differentiable there and are skipped.
                let (fwd, bwd) = ((lp - l0) / h as f64, (l0 - lm) / h as f64);
                if (fwd - bwd).abs() > 2e-3 + 0.05 * fd.abs() {
                    kinks += 1;
                    continue;
                }
                let an = g[k] as f64;
                let tol = 5e-4 + 1e-2 * fd.abs().max(an.abs());
                assert!(
                    (fd - an).abs() <= tol,
                    "layer {} param {pi} index {k}: finite difference {fd}, backward {an}",
                    model.layers()[li].name
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= min_checked,
        "only {checked} values checked ({kinks} at kinks)"
    );
    assert!(
        kinks * 5 <= checked,
        "{kinks} kinks for {checked} checked values"
    );
}

#[test]
fn softmax_model_gradients_match_finite_differences() {
    let model = Sequential::new(Shape::image(6, 6, 2))
        .add(Rescaling::new(0.5, 0.1))
        .add(Conv2D::new(3, 3).padding(Padding::Same).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(4, 2).activation(Relu))
        .add(AveragePooling2D::new(2))
        .add(Flatten)
        .add(Dropout::new(0.25))
        .add(Dense::new(6).activation(Relu))
        .add(Dense::new(3).activation(Softmax))
        .build(3)
        .unwrap();
    check(model, vec![0, 2, 1, 2], 40);
}

#[test]
fn relu_before_overlapping_and_padded_max_pools_matches_finite_differences() {
    // The pooling layers apply the ReLU's backward mask (the ReLU layers keep no output):
    // with overlapping windows an element can be the arg-max of several, and with 'same'
    // padding the windows at the border are cut.
    let mut model = Sequential::new(Shape::image(9, 9, 2))
        .add(Conv2D::new(3, 3).activation(Relu))
        .add(MaxPooling2D::new(3).strides(2))
        .add(Conv2D::new(4, 1).activation(Relu))
        .add(MaxPooling2D::new(2).padding(Padding::Same))
        .add(Flatten)
        .add(Dense::new(3).activation(Softmax))
        .build(4)
        .unwrap();
    // Negative conv biases, so that some windows are all dead ReLUs: only there does the
    // mask at the pooled gradient matter.
    let mut params = model.params().to_vec();
    for li in [0, 2] {
        params[li][1].values.fill(-0.4);
    }
    model.set_params(params).unwrap();
    let labels = vec![2, 0, 1];
    let b = CpuBackend::new();
    let x = inputs(&model, labels.len());
    let mut dead = [0usize; 2];
    Network::new(&b, &model).forward_observed(b.from_slice(&x), labels.len(), &mut |i, y| {
        if i == 1 || i == 3 {
            dead[i / 2] += b.to_vec(y).iter().filter(|v| **v == 0.0).count();
        }
    });
    assert!(
        dead.iter().all(|&d| d > 0),
        "pooled outputs of dead windows: {dead:?}"
    );
    check(model, labels, 30);
}

#[test]
fn sigmoid_model_gradients_match_finite_differences() {
    let model = Sequential::new(Shape::image(5, 5, 1))
        .add(Conv2D::new(2, 3).strides(2).padding(Padding::Same))
        .add(Flatten)
        .add(Dense::new(1).activation(Sigmoid))
        .build(9)
        .unwrap();
    check(model, vec![1, 0, 1], 15);
}

#[test]
fn frozen_first_layer_gets_no_gradient_but_later_layers_do() {
    let mut model = Sequential::new(Shape::image(6, 6, 1))
        .add(Conv2D::new(2, 3).activation(Relu))
        .add(Flatten)
        .add(Dense::new(3).activation(Softmax))
        .build(1)
        .unwrap();
    model.set_trainable("conv2d", false).unwrap();
    let b = CpuBackend::new();
    let net = Network::new(&b, &model);
    let x = vec![0.5f32; 2 * 36];
    let (logits, tape) = net.forward(b.from_slice(&x), 2, Some(0));
    let loss = Loss::for_model(&model).unwrap();
    let out = loss.compute(&b, &logits, &[0, 1], 2);
    let grads = net.backward(tape.unwrap(), out.grad);
    assert!(grads[0].is_none());
    assert!(grads[2].is_some());
    check(model, vec![2, 0], 10);
}
