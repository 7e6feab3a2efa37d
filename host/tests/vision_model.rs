//! The cats-vs-dogs convnet: Keras's parameter counts and shapes, dropout only in training.

use host::layers::Shape;
use host::vision::cats_vs_dogs;
use host::vision::model::MIN_IMAGE_SIDE;
use kernels::CpuBackend;

#[test]
fn book_parameter_count_at_180() {
    // Keras's model.summary() in the book: Total params: 991,041.
    let m = cats_vs_dogs(180, 180, None).build(0).unwrap();
    assert_eq!(m.param_count(), 991_041);
    assert_eq!(
        m.output_shapes()[m.output_shapes().len() - 3],
        Shape::image(7, 7, 256)
    );
    assert_eq!(m.output_shape(), Shape::Flat(1));
    // Dropout adds no parameters; the book's augmented model has the same count.
    let d = cats_vs_dogs(180, 180, Some(0.5)).build(0).unwrap();
    assert_eq!(d.param_count(), 991_041);
    assert_eq!(d.layers().len(), m.layers().len() + 1);
    assert_eq!(
        d.layers()[d.layers().len() - 2].kind.class_name(),
        "Dropout"
    );
}

#[test]
fn smaller_inputs_and_the_minimum_side() {
    // Convolutions' parameters do not depend on the input size: 978,496 + the Dense layer.
    let m = cats_vs_dogs(90, 90, None).build(0).unwrap();
    assert_eq!(m.param_count(), 978_496 + 256 + 1);
    let m = cats_vs_dogs(96, 96, None).build(0).unwrap();
    assert_eq!(m.param_count(), 978_496 + 2 * 2 * 256 + 1);
    assert!(cats_vs_dogs(MIN_IMAGE_SIDE, MIN_IMAGE_SIDE, None)
        .build(0)
        .is_ok());
    assert!(cats_vs_dogs(MIN_IMAGE_SIDE - 1, MIN_IMAGE_SIDE - 1, None)
        .build(0)
        .is_err());
}

#[test]
fn dropout_is_inactive_at_inference() {
    // Same seed, and Dropout has no weights: both models get the same weights, so their
    // predictions must agree exactly (Keras: dropout is the identity outside training).
    let side = MIN_IMAGE_SIDE;
    let plain = cats_vs_dogs(side, side, None).build(5).unwrap();
    let drop = cats_vs_dogs(side, side, Some(0.5)).build(5).unwrap();
    let images: Vec<f32> = (0..2 * side * side * 3)
        .map(|i| ((i * 31) % 256) as f32)
        .collect();
    let be = CpuBackend::new();
    let a = plain.predict(&be, &images, 2);
    let b = drop.predict(&be, &images, 2);
    assert_eq!(a.len(), 2);
    assert_eq!(a, b);
    assert!(a.iter().all(|p| (0.0..=1.0).contains(p)));
}
