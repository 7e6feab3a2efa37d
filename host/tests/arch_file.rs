//! Architecture files: Keras's `model.to_json()` output (fixtures written by Keras 3.15 with
//! `fixtures/keras/make_fixtures.py`) parsed into the same models as tinyconv's builders,
//! shapes checked against the shapes Keras recorded, and every unsupported case an error
//! naming the layer and the option.

use std::path::{Path, PathBuf};

use host::arch_file::{self, ArchFileError, ArchFormat};
use host::layers::{Activation, LayerKind, Padding, Shape};
use host::save::Architecture;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras")
        .join(format!("{name}.json"))
}

fn read(name: &str) -> arch_file::ArchFile {
    arch_file::read(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e:#?}"))
}

/// The input shape Keras recorded for each layer that has one (`build_config`), without the
/// batch axis, by layer name.
fn keras_input_shapes(name: &str) -> Vec<(String, Vec<usize>)> {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["config"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| {
            let dims = l["build_config"]["input_shape"].as_array()?;
            let dims = dims[1..].iter().map(|d| d.as_u64().unwrap() as usize);
            Some((l["config"]["name"].as_str()?.to_string(), dims.collect()))
        })
        .collect()
}

/// Every layer's input shape as we infer it must equal the one Keras recorded.
fn assert_keras_shapes(name: &str, file: &arch_file::ArchFile) {
    let model = file.build(0).unwrap();
    let keras = keras_input_shapes(name);
    assert!(keras.len() >= 5, "{name}: {keras:?}");
    for (layer, dims) in keras {
        let i = model
            .layers()
            .iter()
            .position(|l| l.name == layer)
            .unwrap_or_else(|| panic!("{name}: no layer {layer}"));
        assert_eq!(model.layer_input_shape(i).dims(), dims, "{name}: {layer}");
    }
}

#[test]
fn book_mnist_functional_and_sequential_equal_the_builder() {
    let builder = host::zoo::mnist_convnet();
    for name in ["mnist_functional", "mnist_sequential"] {
        let file = read(name);
        assert_eq!(file.format, ArchFormat::Keras);
        assert_eq!(file.input, Shape::image(28, 28, 1));
        assert_eq!(file.layers, builder.layers(), "{name}");
        let model = file.build(0).unwrap();
        assert_eq!(model.param_count(), 104_202, "Keras's count_params()");
        assert_keras_shapes(name, &file);
    }
}

#[test]
fn book_cats_vs_dogs_equals_the_builder() {
    let file = read("catsdogs_dropout");
    let builder = host::vision::model::cats_vs_dogs(180, 180, Some(0.5));
    assert_eq!(file.input, Shape::image(180, 180, 3));
    assert_eq!(file.layers, builder.layers());
    assert_eq!(file.build(0).unwrap().param_count(), 991_041);
    assert_keras_shapes("catsdogs_dropout", &file);
}

#[test]
fn second_architecture_same_padding_strides_average_pooling_activation_layer() {
    let file = read("rgb32_sequential");
    assert_eq!(file.input, Shape::image(32, 32, 3));
    let model = file.build(0).unwrap();
    assert_eq!(model.param_count(), 23_617, "Keras's count_params()");
    assert_keras_shapes("rgb32_sequential", &file);
    let kinds: Vec<&LayerKind> = file.layers.iter().map(|l| &l.kind).collect();
    let LayerKind::Conv2D(strided) = kinds[2] else {
        panic!("{kinds:?}")
    };
    assert_eq!(strided.strides, [2, 2]);
    assert_eq!(strided.padding, Padding::Same);
    assert!(matches!(kinds[3], LayerKind::AveragePooling2D(_)));
    // `Conv2D(32, 3, name="conv_linear")` + `Activation("relu")` became one layer.
    let linear = &file.layers[4];
    assert_eq!(linear.name, "conv_linear");
    assert_eq!(linear.kind.activation(), Some(Activation::Relu));
    let LayerKind::MaxPooling2D(pool) = kinds[5] else {
        panic!("{kinds:?}")
    };
    assert_eq!((pool.0.pool_size, pool.0.strides), ([3, 3], Some([2, 2])));
    assert_eq!(model.output_activation(), Activation::Sigmoid);
}

#[test]
fn tinyconv_model_json_round_trips() {
    let model = host::zoo::mnist_convnet().build(0).unwrap();
    let json = serde_json::to_string(&Architecture::of(&model)).unwrap();
    let file = arch_file::parse(&json, Path::new("model.json")).unwrap();
    assert_eq!(file.format, ArchFormat::Tinyconv);
    assert_eq!(file.layers, model.layers());
    assert_eq!(file.input, model.input_shape());
}

#[test]
fn keras2_tf_keras_files_are_read() {
    // The shape of a tf.keras 2.x `to_json()`: `batch_input_shape` on the first layer of a
    // Sequential model, nested `inbound_nodes` lists in a Functional one.
    let seq = r#"{"class_name": "Sequential", "keras_version": "2.15.0", "backend": "tensorflow",
      "config": {"name": "sequential", "layers": [
        {"class_name": "Conv2D", "config": {"name": "conv2d", "trainable": true,
          "batch_input_shape": [null, 28, 28, 1], "filters": 4, "kernel_size": [3, 3],
          "strides": [1, 1], "padding": "valid", "data_format": "channels_last",
          "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": true,
          "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
          "bias_initializer": {"class_name": "Zeros", "config": {}},
          "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
          "kernel_constraint": null, "bias_constraint": null}},
        {"class_name": "Flatten", "config": {"name": "flatten", "data_format": "channels_last"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 10, "activation": "softmax",
          "use_bias": true}}]}}"#;
    let file = arch_file::parse(seq, Path::new("k2.json")).unwrap();
    assert_eq!(file.input, Shape::image(28, 28, 1));
    assert_eq!(file.layers.len(), 3);
    let functional = r#"{"class_name": "Functional", "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "name": "input_1",
         "config": {"batch_input_shape": [null, 8], "name": "input_1"}, "inbound_nodes": []},
        {"class_name": "Dense", "name": "dense", "config": {"name": "dense", "units": 4,
         "activation": "relu"}, "inbound_nodes": [[["input_1", 0, 0, {}]]]},
        {"class_name": "Dense", "name": "dense_1", "config": {"name": "dense_1", "units": 3,
         "activation": "softmax"}, "inbound_nodes": [[["dense", 0, 0, {}]]]}],
      "input_layers": [["input_1", 0, 0]], "output_layers": [["dense_1", 0, 0]]}}"#;
    let file = arch_file::parse(functional, Path::new("k2f.json")).unwrap();
    assert_eq!(file.input, Shape::Flat(8));
    assert_eq!(file.build(0).unwrap().param_count(), 8 * 4 + 4 + 4 * 3 + 3);
}

fn unsupported(name: &str) -> (String, String, String, String) {
    match arch_file::read(&fixture(name)) {
        Err(e @ ArchFileError::Unsupported { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&format!("{name}.json")), "{msg}");
            let ArchFileError::Unsupported {
                layer,
                class,
                option,
                ..
            } = e
            else {
                unreachable!()
            };
            (layer, class, option, msg)
        }
        other => panic!("{name}: expected an unsupported-layer error, got {other:?}"),
    }
}

#[test]
fn unsupported_layers_and_options_name_the_layer_and_the_option() {
    let (layer, class, option, msg) = unsupported("unsupported_batchnorm");
    assert_eq!(
        (layer.as_str(), class.as_str()),
        ("batch_normalization", "BatchNormalization")
    );
    assert_eq!(option, "class_name", "{msg}");
    let (layer, _, option, msg) = unsupported("unsupported_dilation");
    assert_eq!(
        (layer.as_str(), option.as_str()),
        ("conv2d", "dilation_rate"),
        "{msg}"
    );
    let (layer, class, option, msg) = unsupported("unsupported_residual");
    assert_eq!((layer.as_str(), class.as_str()), ("add", "Add"), "{msg}");
    assert_eq!(option, "inbound_nodes", "{msg}");
    let (layer, _, _, msg) = unsupported("unsupported_augmentation");
    assert_eq!(layer, "data_augmentation");
    assert!(msg.contains("--augment"), "{msg}");
}

#[test]
fn bad_files_are_errors_naming_the_file() {
    let p = Path::new("arch.json");
    let cases = [
        ("{", "not valid JSON"),
        ("[]", "neither a tinyconv model.json"),
        (
            r#"{"class_name": "Sequential", "config": {"layers": []}}"#,
            "no layers",
        ),
        (
            r#"{"class_name": "Sequential", "config": {"layers": [
                {"class_name": "Dense", "config": {"name": "d", "units": 2, "activation": "softmax"}}]}}"#,
            "no input shape",
        ),
        (
            r#"{"class_name": "Conv2D", "config": {"layers": []}}"#,
            "not a Keras model",
        ),
        (
            r#"{"format": "tinyconv-sequential", "version": 9, "input_shape": [2], "layers": []}"#,
            "version 9",
        ),
    ];
    for (text, want) in cases {
        let err = arch_file::parse(text, p).unwrap_err();
        let msg = format!("{err}");
        assert!(msg.starts_with("arch.json"), "{msg}");
        let full = format!("{err:#?}");
        assert!(
            msg.contains(want) || full.contains(want),
            "{text}: {msg} / {full}"
        );
    }
    // A shape that does not fit is a model error for the file.
    let tiny = r#"{"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [null, 2, 2, 1]}},
        {"class_name": "Conv2D", "config": {"name": "c", "filters": 1, "kernel_size": [3, 3]}}]}}"#;
    let err = arch_file::parse(tiny, p).unwrap_err();
    assert!(matches!(err, ArchFileError::Model { .. }), "{err:?}");
    let missing = arch_file::read(Path::new("/nonexistent/arch.json")).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/arch.json"));
}
