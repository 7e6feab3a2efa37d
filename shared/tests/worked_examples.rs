//! The worked examples of the book / issue, and Keras's published shapes and parameter counts.

use shared::blob::{LayerKind, Shape};
use shared::layers::{AvgPool2d, Conv2d, MaxPool2d};
use shared::mnist::{MNIST_ARCH, MNIST_PARAMS};
use shared::padding::{Padding, Same, Valid};
use shared::tensor::{TensorMut, TensorRef};

const POOL_INPUT: [f32; 36] = [
    2., 1., 7., 1., 2., 5., //
    5., 0., 3., 4., 1., 2., //
    1., 7., 8., 3., 3., 0., //
    0., 3., 2., 0., 1., 1., //
    6., 2., 5., 3., 0., 3., //
    3., 6., 0., 2., 1., 0., //
];

#[test]
fn max_pool_3x3_stride_3() {
    let pool = MaxPool2d::<Valid, 6, 6, 1, 3, 3, 2, 2>::new();
    let mut out = [0f32; 4];
    pool.forward(
        TensorRef::new(&POOL_INPUT).unwrap(),
        TensorMut::new(&mut out).unwrap(),
    );
    assert_eq!(out, [8., 5., 6., 3.]);
}

#[test]
fn avg_pool_3x3_stride_3() {
    let pool = AvgPool2d::<Valid, 6, 6, 1, 3, 3, 2, 2>::new();
    let mut out = [0f32; 4];
    pool.forward(
        TensorRef::new(&POOL_INPUT).unwrap(),
        TensorMut::new(&mut out).unwrap(),
    );
    let expected = [34. / 9., 21. / 9., 27. / 9., 11. / 9.];
    for (o, e) in out.iter().zip(expected) {
        assert!((o - e).abs() < 1e-6, "{out:?}");
    }
    // The rounded figures of the worked example.
    let rounded: Vec<f32> = out.iter().map(|v| (v * 100.0).round() / 100.0).collect();
    assert_eq!(rounded, [3.78, 2.33, 3.0, 1.22]);
}

#[test]
fn int8_pools_on_the_worked_example() {
    let q: Vec<i8> = POOL_INPUT.iter().map(|&v| v as i8).collect();
    let mut out = [0i8; 4];
    MaxPool2d::<Valid, 6, 6, 1, 3, 3, 2, 2>::new().forward_i8(
        TensorRef::new(&q).unwrap(),
        TensorMut::new(&mut out).unwrap(),
    );
    assert_eq!(out, [8, 5, 6, 3]);
    AvgPool2d::<Valid, 6, 6, 1, 3, 3, 2, 2>::new().forward_i8(
        TensorRef::new(&q).unwrap(),
        TensorMut::new(&mut out).unwrap(),
    );
    // 34/9 = 3.78 → 4, 21/9 = 2.33 → 2, 27/9 = 3, 11/9 = 1.22 → 1.
    assert_eq!(out, [4, 2, 3, 1]);
}

#[test]
fn output_sizes_of_a_5x5_input() {
    assert_eq!(Padding::Valid.out_dim(5, 3, 1), 3);
    assert_eq!(Padding::Same.out_dim(5, 3, 1), 5);
    assert_eq!(Padding::Valid.out_dim(5, 3, 2), 2);
    assert_eq!(Padding::Same.out_dim(5, 3, 2), 3);
    // The layer types compile only with these output sizes.
    let _valid = Conv2d::<Valid, 5, 5, 1, 1, 3, 1, 3, 3>::new(false);
    let _same = Conv2d::<Same, 5, 5, 1, 1, 3, 1, 5, 5>::new(false);
    let _strided = Conv2d::<Valid, 5, 5, 1, 1, 3, 2, 2, 2>::new(false);
}

#[test]
fn same_padding_puts_the_extra_pixel_bottom_right() {
    // in 6, k 2, s 1: out 6, total 1 → 0 before, 1 after.
    assert_eq!(Padding::Same.pad_before(6, 2, 1), 0);
    // in 5, k 4, s 1: total 3 → 1 before, 2 after.
    assert_eq!(Padding::Same.pad_before(5, 4, 1), 1);
    // in 6, k 3, s 2: out 3, total max(2*2+3-6, 0) = 1 → 0 before.
    assert_eq!(Padding::Same.pad_before(6, 3, 2), 0);
    // in 5, k 3, s 2: out 3, total 2 → 1 before.
    assert_eq!(Padding::Same.pad_before(5, 3, 2), 1);
    // Valid never pads.
    assert_eq!(Padding::Valid.pad_before(5, 3, 2), 0);
}

#[test]
fn mnist_shapes_and_parameters_match_keras() {
    assert_eq!(MNIST_ARCH[0].input, Shape::new(28, 28, 1));
    assert_eq!(MNIST_ARCH[0].output, Shape::new(26, 26, 32));
    let outputs: Vec<(u32, u32, u32)> = MNIST_ARCH
        .iter()
        .map(|d| (d.output.h, d.output.w, d.output.c))
        .collect();
    // Keras model.summary() of the book's MNIST convnet.
    assert_eq!(
        outputs,
        [
            (26, 26, 32),
            (13, 13, 32),
            (11, 11, 64),
            (5, 5, 64),
            (3, 3, 128),
            (1, 1, 1152),
            (1, 1, 10)
        ]
    );
    let params: Vec<usize> = MNIST_ARCH
        .iter()
        .map(|d| match d.kind {
            LayerKind::Conv2d {
                kernel, filters, ..
            } => (kernel * kernel * d.input.c * filters + filters) as usize,
            LayerKind::Dense { units, .. } => (d.input.c * units + units) as usize,
            _ => 0,
        })
        .collect();
    assert_eq!(params, [320, 0, 18_496, 0, 73_856, 0, 11_530]);
    assert_eq!(params.iter().sum::<usize>(), MNIST_PARAMS);
    assert_eq!(MNIST_PARAMS, 104_202);
}

#[test]
fn first_mnist_layer_maps_28x28x1_to_26x26x32() {
    // A kernel that copies the centre pixel into channel c scaled by (c + 1).
    let mut kernel = vec![0f32; 3 * 3 * 32];
    for c in 0..32 {
        kernel[(3 + 1) * 32 + c] = (c + 1) as f32;
    }
    let bias = [0f32; 32];
    let weights =
        shared::float::ConvWeights::<&[f32], 3, 1, 32>::new(&kernel[..], &bias[..]).unwrap();
    let input: Vec<f32> = (0..784).map(|i| (i % 28 + i / 28) as f32).collect();
    let mut out = vec![0f32; 26 * 26 * 32];
    shared::mnist::Conv1::new(true).forward(
        &weights,
        TensorRef::new(&input).unwrap(),
        TensorMut::new(&mut out).unwrap(),
    );
    for y in 0..26 {
        for x in 0..26 {
            for c in 0..32 {
                let centre = input[(y + 1) * 28 + x + 1];
                assert_eq!(out[(y * 26 + x) * 32 + c], centre * (c + 1) as f32);
            }
        }
    }
}
