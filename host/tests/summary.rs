//! Shape inference and parameter counts against Keras's published summaries.

use host::layers::Activation::{Relu, Softmax};
use host::layers::{Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Padding, Shape};
use host::model::ModelError;
use host::sequential::Sequential;
use host::{summary, zoo};

#[test]
fn mnist_convnet_matches_keras() {
    let model = zoo::mnist_convnet().build(0).unwrap();
    // Keras's `model.summary()` for the book's MNIST convnet.
    let expected = [
        ("conv2d", "(None, 26, 26, 32)", 320),
        ("max_pooling2d", "(None, 13, 13, 32)", 0),
        ("conv2d_1", "(None, 11, 11, 64)", 18_496),
        ("max_pooling2d_1", "(None, 5, 5, 64)", 0),
        ("conv2d_2", "(None, 3, 3, 128)", 73_856),
        ("flatten", "(None, 1152)", 0),
        ("dense", "(None, 10)", 11_530),
    ];
    let rows = summary::rows(&model);
    assert_eq!(rows.len(), expected.len());
    for (row, (name, shape, params)) in rows.iter().zip(expected) {
        assert!(row.layer.starts_with(&format!("{name} (")), "{}", row.layer);
        assert_eq!(row.output_shape, shape, "{name}");
        assert_eq!(row.params, params, "{name}");
    }
    assert_eq!(model.param_count(), 104_202);
    let text = summary::summary(&model, "sequential");
    assert!(text.contains("Total params: 104,202"), "{text}");
    assert!(text.contains("Trainable params: 104,202"), "{text}");
    assert!(text.contains("Non-trainable params: 0"), "{text}");
    assert!(text.contains("(None, 26, 26, 32)"));
}

#[test]
fn cats_vs_dogs_convnet_matches_keras() {
    let model = zoo::cats_vs_dogs_convnet(180).build(0).unwrap();
    assert_eq!(model.param_count(), 991_041);
    let shapes: Vec<String> = model
        .output_shapes()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(shapes[0], "(None, 180, 180, 3)"); // rescaling
    assert_eq!(shapes[1], "(None, 178, 178, 32)");
    assert_eq!(shapes[9], "(None, 7, 7, 256)");
    assert_eq!(shapes[10], "(None, 12544)");
    assert_eq!(shapes[11], "(None, 1)");
}

#[test]
fn freezing_moves_params_to_non_trainable() {
    let mut model = zoo::mnist_convnet().build(0).unwrap();
    model.set_trainable("conv2d", false).unwrap();
    model.set_trainable("conv2d_1", false).unwrap();
    assert_eq!(model.trainable_param_count(), 104_202 - 320 - 18_496);
    let text = summary::summary(&model, "sequential");
    assert!(text.contains("Non-trainable params: 18,816"), "{text}");
    assert!(matches!(
        model.set_trainable("nope", false),
        Err(ModelError::NoSuchLayer(_))
    ));
    let frozen = Sequential::new(Shape::image(8, 8, 1))
        .add(Conv2D::new(4, 3))
        .trainable(false)
        .add(Flatten)
        .add(Dense::new(2).activation(Softmax))
        .build(0)
        .unwrap();
    // Conv 3x3 valid on 8x8: 6x6x4 = 144 features into Dense(2).
    assert_eq!(frozen.trainable_param_count(), 144 * 2 + 2);
    assert_eq!(frozen.param_count(), 144 * 2 + 2 + 9 * 4 + 4);
}

#[test]
fn same_padding_and_strides() {
    let m = Sequential::new(Shape::image(7, 7, 3))
        .add(Conv2D::new(8, 3).strides(2).padding(Padding::Same))
        .add(MaxPooling2D::new(3).strides(1).padding(Padding::Same))
        .add(Flatten)
        .add(Dropout::new(0.5))
        .add(Dense::new(10).activation(Softmax))
        .build(0)
        .unwrap();
    assert_eq!(m.output_shapes()[0], Shape::image(4, 4, 8));
    assert_eq!(m.output_shapes()[1], Shape::image(4, 4, 8));
    assert_eq!(m.param_count(), 3 * 3 * 3 * 8 + 8 + 128 * 10 + 10);
}

#[test]
fn impossible_shapes_are_errors_naming_the_layer() {
    let err = |s: Sequential| s.build(0).unwrap_err().to_string();
    let e = err(Sequential::new(Shape::image(2, 2, 1)).add(Conv2D::new(4, 3)));
    assert!(e.contains("conv2d") && e.contains("does not fit"), "{e}");
    let e = err(Sequential::new(Shape::image(8, 8, 1)).add(Dense::new(4)));
    assert!(e.contains("dense") && e.contains("Flatten"), "{e}");
    let e = err(Sequential::new(Shape::image(8, 8, 1))
        .add(Flatten)
        .add(Dense::new(4).activation(Softmax))
        .add(Dense::new(2)));
    assert!(e.contains("only supported on the final Dense"), "{e}");
    let e = err(Sequential::new(Shape::image(8, 8, 1))
        .add(Flatten)
        .add(Conv2D::new(4, 1).activation(Relu)));
    assert!(e.contains("needs an image input"), "{e}");
    let e = err(Sequential::new(Shape::image(8, 8, 1))
        .add_named("x", Flatten)
        .add_named("x", Dense::new(2)));
    assert!(e.contains("duplicate"), "{e}");
    let e = err(Sequential::new(Shape::image(8, 8, 1)).add(Dropout::new(1.0)));
    assert!(e.contains("dropout rate"), "{e}");
    let e = err(Sequential::new(Shape::image(3, 3, 1)).add(MaxPooling2D::new(4)));
    assert!(e.contains("does not fit"), "{e}");
}

#[test]
fn glorot_uniform_init_is_seeded_and_bounded() {
    let a = zoo::mnist_convnet().build(7).unwrap();
    let b = zoo::mnist_convnet().build(7).unwrap();
    let c = zoo::mnist_convnet().build(8).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.params()[0][0].values, c.params()[0][0].values);
    // conv2d_1: fan_in = 3*3*32, fan_out = 3*3*64.
    let limit = (6.0f64 / (288.0 + 576.0)).sqrt() as f32;
    let k = &a.layer_params("conv2d_1").unwrap()[0];
    assert_eq!(k.shape, vec![3, 3, 32, 64]);
    assert!(k.values.iter().all(|v| v.abs() <= limit));
    let max = k.values.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        max > 0.9 * limit,
        "uniform over the whole range: {max} vs {limit}"
    );
    let mean: f32 = k.values.iter().sum::<f32>() / k.values.len() as f32;
    assert!(mean.abs() < 0.01 * limit * 10.0);
    let bias = &a.layer_params("conv2d_1").unwrap()[1];
    assert!(bias.values.iter().all(|&v| v == 0.0));
}
