//! Bad input to the quantizer gets a typed error that says what is wrong: a model of another
//! architecture, unsupported layers, non-finite weights, an empty or ragged calibration set,
//! corrupt model files. Also: outputs are written atomically with a readable manifest.

use std::path::Path;

use host::layers::Activation::{Relu, Sigmoid, Softmax};
use host::layers::{Conv2D, Dense, Flatten, MaxPooling2D, Rescaling, Shape};
use host::model::Model;
use host::quantize::manifest::{self, Manifest};
use host::quantize::{convert, export, load_model, ExportFormat, QuantizeError, RangeMethod};
use host::sequential::Sequential;
use shared::blob::PixelScaling;
use shared::int8::interpreter::Interpreter;
use shared::mnist::{MnistInt8, MNIST_PIXELS};

fn mnist_like(filters2: usize) -> Sequential {
    Sequential::new(Shape::image(28, 28, 1))
        .add(Conv2D::new(32, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(filters2, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(128, 3).activation(Relu))
        .add(Flatten)
        .add(Dense::new(10).activation(Softmax))
}

fn untrained() -> Model {
    host::zoo::mnist_convnet().build(7).unwrap()
}

/// A few synthetic "images" (calibration only needs pixels).
fn pixels(n: usize) -> Vec<u8> {
    (0..n * MNIST_PIXELS)
        .map(|i| (i * 37 % 256) as u8)
        .collect()
}

fn int8(model: &Model, calibration: &[u8]) -> Result<Vec<u8>, QuantizeError> {
    export(
        model,
        &[ExportFormat::Int8],
        calibration,
        RangeMethod::MinMax,
    )
    .map(|mut e| e.remove(0).blob)
}

#[test]
fn other_architectures_export_for_the_interpreter_and_differences_from_mnist_are_named() {
    let dir = tempfile::tempdir().unwrap();
    host::save::save(&mnist_like(48).build(0).unwrap(), dir.path()).unwrap();
    let model = load_model(dir.path()).unwrap();
    let blob = int8(&model, &pixels(4)).unwrap();
    Interpreter::from_blob(&blob).expect("any exported int8 blob runs in the interpreter");
    assert!(
        MnistInt8::from_blob(&blob).is_err(),
        "not the MNIST fast path"
    );

    let net = convert::from_model(&model, None).unwrap();
    assert!(!convert::is_mnist(&net));
    let msg = convert::check_mnist(&net).unwrap_err().to_string();
    assert!(msg.contains("layer 2 (conv2d_1)"), "{msg}");
    assert!(msg.contains("Conv2D(48, 3×3"), "{msg}");
    assert!(msg.contains("expected Conv2D(64, 3×3"), "{msg}");

    let extra = Sequential::new(Shape::image(28, 28, 1))
        .add(Conv2D::new(32, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(64, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(128, 3).activation(Relu))
        .add(Flatten)
        .add(Dense::new(64).activation(Relu))
        .add(Dense::new(10).activation(Softmax))
        .build(0)
        .unwrap();
    let net = convert::from_model(&extra, None).unwrap();
    let msg = convert::check_mnist(&net).unwrap_err().to_string();
    assert!(
        msg.contains("layer 6 (dense)") && msg.contains("extra layer 7"),
        "{msg}"
    );
    assert!(int8(&extra, &pixels(4)).is_ok());
}

#[test]
fn rescaling_folds_into_the_input_and_sigmoid_ends_the_network() {
    let rescaled = Sequential::new(Shape::image(28, 28, 1))
        .add(Rescaling::new(1.0 / 127.5, -1.0))
        .add(Flatten)
        .add(Dense::new(1).activation(Sigmoid))
        .build(0)
        .unwrap();
    let blob = int8(&rescaled, &pixels(2)).unwrap();
    let decoded = shared::blob::Blob::decode(&blob).unwrap();
    assert_eq!(
        decoded.header().pixels,
        PixelScaling::Rescale {
            scale: 1.0 / 127.5,
            offset: -1.0
        }
    );
    // The input quantization covers the folded range [-1, 1].
    let q = decoded.header().input_quant.unwrap();
    assert!((q.scale as f64 - 2.0 / 255.0).abs() < 1e-7, "{q:?}");
    let net = Interpreter::from_decoded(&decoded).unwrap();
    assert_eq!(net.output_activation(), shared::blob::Activation::Sigmoid);
    assert_eq!(decoded.layer_count(), 2, "Rescaling is not a device layer");
}

#[test]
fn layers_without_a_device_kernel_are_rejected() {
    let late_rescaling = Sequential::new(Shape::image(28, 28, 1))
        .add(Conv2D::new(4, 3).activation(Relu))
        .add(Rescaling::new(0.5, 0.0))
        .add(Flatten)
        .add(Dense::new(10).activation(Softmax))
        .build(0)
        .unwrap();
    let msg = int8(&late_rescaling, &pixels(1)).unwrap_err().to_string();
    assert!(
        msg.contains("rescaling") && msg.contains("Rescaling") && msg.contains("first-layer"),
        "{msg}"
    );
    let rect = Sequential::new(Shape::image(28, 28, 1))
        .add(Conv2D::new(4, 3).kernel_size(1, 3).activation(Relu))
        .add(Flatten)
        .add(Dense::new(10).activation(Softmax))
        .build(0)
        .unwrap();
    let msg = int8(&rect, &pixels(1)).unwrap_err().to_string();
    assert!(
        msg.contains("conv2d") && msg.contains("non-square kernel 1×3"),
        "{msg}"
    );
    let vgg_like = Sequential::new(Shape::image(8, 8, 3))
        .add(host::layers::Preprocess::caffe())
        .add(Flatten)
        .add(Dense::new(2).activation(Softmax))
        .build(0)
        .unwrap();
    let err = export(
        &vgg_like,
        &[ExportFormat::Int8],
        &[0u8; 8 * 8 * 3],
        RangeMethod::MinMax,
    )
    .unwrap_err();
    assert!(matches!(err, QuantizeError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("preprocess_input"), "{err}");
}

#[test]
fn non_finite_weights_are_reported() {
    let mut model = untrained();
    let mut params = model.params().to_vec();
    params[4][1].values[5] = f32::NAN; // conv2d_2.bias[5]
    model.set_params(params).unwrap();
    let err = int8(&model, &pixels(2)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("conv2d_2") && msg.contains("bias") && msg.contains("index 5"),
        "{msg}"
    );
}

#[test]
fn empty_or_ragged_calibration_is_an_error() {
    let model = untrained();
    let err = int8(&model, &[]).unwrap_err();
    assert!(matches!(err, QuantizeError::EmptyCalibration), "{err:?}");
    assert!(err.to_string().contains("calibration set is empty"));
    let err = int8(&model, &pixels(1)[..MNIST_PIXELS - 1]).unwrap_err();
    assert!(err.to_string().contains("783 pixels"), "{err}");
    // Float blobs need no calibration.
    let float = export(
        &model,
        &[ExportFormat::F32, ExportFormat::F16],
        &[],
        RangeMethod::MinMax,
    );
    assert_eq!(float.unwrap().len(), 2);
    // A percentile outside (50, 100] is refused.
    let err = export(
        &model,
        &[ExportFormat::Int8],
        &pixels(1),
        RangeMethod::Percentile(40.0),
    );
    assert!(matches!(err, Err(QuantizeError::Percentile(_))));
}

fn saved(dir: &Path) {
    host::save::save(&untrained(), dir).unwrap();
}

#[test]
fn corrupt_model_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    saved(dir.path());
    let weights = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let msg = load_model(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("model.safetensors"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    saved(dir.path());
    std::fs::write(
        dir.path().join("model.json"),
        b"{\"format\": \"tinyconv-seq",
    )
    .unwrap();
    let msg = load_model(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("model.json"), "{msg}");

    let msg = load_model(&dir.path().join("missing"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing"), "{msg}");
}

#[test]
fn blob_and_manifest_are_written_atomically_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let exports = export(
        &untrained(),
        &[ExportFormat::Int8],
        &pixels(3),
        RangeMethod::MinMax,
    )
    .unwrap();
    let e = &exports[0];
    let path = manifest::blob_path(&dir.path().join("out/"), e.format, 1);
    assert!(path.ends_with("out/mnist_int8.blob"), "{}", path.display());
    let m = Manifest::new(e, "mnist_int8.blob", "runs/mnist", None);
    manifest::write(&path, &e.blob, &m).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    MnistInt8::from_blob(&bytes).unwrap();
    let back = Manifest::read(&manifest::manifest_path(&path)).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.sha256.len(), 64);
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "only the blob and its manifest: {names:?}");
    // A file name is used as given for a single format.
    let file = dir.path().join("model.bin");
    assert_eq!(manifest::blob_path(&file, ExportFormat::Int8, 1), file);
    assert_eq!(
        manifest::blob_path(&file, ExportFormat::Int8, 3),
        file.join("mnist_int8.blob")
    );
}
