//! `host fit` end to end: a Keras architecture file trained on generated IDX files and on a
//! generated image folder, the saved model evaluated again, and bad inputs as errors.

mod common;

use common::host;

use std::path::Path;

use host::idx::encode_idx;
use image::{Rgb, RgbImage};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras")
        .join(format!("{name}.json"))
        .to_str()
        .unwrap()
        .to_string()
}

/// `n` 8x8 images: class 0 bright in the top half, class 1 in the bottom half.
fn idx_pair(dir: &Path, prefix: &str, n: usize) -> (String, String) {
    let mut pixels = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % 2) as u8;
        labels.push(label);
        for y in 0..8 {
            let bright = (y < 4) == (label == 0);
            pixels.extend((0..8).map(|x| if bright { 200 + (x + i) as u8 % 50 } else { 10 }));
        }
    }
    let images = dir.join(format!("{prefix}-images-idx3-ubyte"));
    let labels_path = dir.join(format!("{prefix}-labels-idx1-ubyte"));
    std::fs::write(&images, encode_idx(&[n, 8, 8], &pixels)).unwrap();
    std::fs::write(&labels_path, encode_idx(&[n], &labels)).unwrap();
    (
        images.to_str().unwrap().to_string(),
        labels_path.to_str().unwrap().to_string(),
    )
}

const SMALL_ARCH: &str = r#"{"class_name": "Sequential", "config": {"name": "small", "layers": [
  {"class_name": "InputLayer", "config": {"name": "input_layer", "batch_shape": [null, 8, 8, 1]}},
  {"class_name": "Conv2D", "config": {"name": "conv2d", "filters": 4, "kernel_size": [3, 3],
    "padding": "same", "activation": "relu"}},
  {"class_name": "AveragePooling2D", "config": {"name": "pool", "pool_size": [2, 2]}},
  {"class_name": "Flatten", "config": {"name": "flatten"}},
  {"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "softmax"}}]}}"#;

#[test]
fn fit_on_idx_files_learns_and_saves_the_keras_architecture() {
    let tmp = tempfile::tempdir().unwrap();
    let (ti, tl) = idx_pair(tmp.path(), "train", 200);
    let (si, sl) = idx_pair(tmp.path(), "t10k", 40);
    let arch = tmp.path().join("small.json");
    std::fs::write(&arch, SMALL_ARCH).unwrap();
    let out = tmp.path().join("run");
    let (ok, stdout, err) = host(&[
        "fit",
        "--arch",
        arch.to_str().unwrap(),
        "--train-images",
        &ti,
        "--train-labels",
        &tl,
        "--test-images",
        &si,
        "--test-labels",
        &sl,
        "--epochs",
        "8",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--backend",
        "cpu",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("Total params: 170"), "{stdout}"); // 4*9+4 + 64*2+2
    assert!(
        stdout.contains("training on 160 examples, validating on 40, testing on 40"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    // The halves are trivially separable: the model must have learnt them.
    let acc = report["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.9, "test accuracy {acc}: {stdout}");
    for f in [
        "history.json",
        "loss.png",
        "accuracy.png",
        "model/model.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let saved = host::save::load(&out.join("model")).unwrap();
    assert_eq!(saved.layers()[1].name, "pool", "Keras names are kept");

    // Images that do not fit the model are an error naming the file.
    let (bad_i, bad_l) = {
        let p = tmp.path().join("bad-images");
        std::fs::write(&p, encode_idx(&[4, 9, 9], &[0; 4 * 81])).unwrap();
        (p.to_str().unwrap().to_string(), tl.clone())
    };
    let (ok, _, err) = host(&[
        "fit",
        "--arch",
        arch.to_str().unwrap(),
        "--train-images",
        &bad_i,
        "--train-labels",
        &bad_l,
        "--test-images",
        &si,
        "--test-labels",
        &sl,
        "--backend",
        "cpu",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("bad-images") && err.contains("[9, 9, 1]"),
        "{err}"
    );
}

/// A Kaggle-style split folder of 20x20 JPEGs: cats bright on the left, dogs on the right.
fn split_folder(root: &Path, per_class: u32) {
    for split in ["train", "validation", "test"] {
        for (class, left) in [("cat", true), ("dog", false)] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..per_class {
                let img = RgbImage::from_fn(20, 20, |x, _| {
                    let v = if (x < 10) == left { 220 } else { 30 } as u8;
                    Rgb([v, v.wrapping_add(i as u8), v])
                });
                img.save(dir.join(format!("{class}.{i}.jpg"))).unwrap();
            }
        }
    }
}

#[test]
fn fit_on_an_image_folder_with_augmentation_then_evaluate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("small");
    split_folder(&data, 6);
    let out = tmp.path().join("run");
    let (ok, stdout, err) = host(&[
        "fit",
        "--arch",
        &fixture("rgb32_sequential"),
        "--images",
        data.to_str().unwrap(),
        "--augment",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--backend",
        "cpu",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("Total params: 23,617"), "{stdout}");
    assert!(stdout.contains("Epoch 2/2"), "{stdout}");
    let (ok, stdout, err) = host(&[
        "evaluate",
        "--model",
        out.join("model").to_str().unwrap(),
        "--images",
        data.join("test").to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("Test accuracy"), "{stdout}");
}

#[test]
fn unsupported_architecture_is_an_error_naming_file_layer_and_option() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, _, err) = host(&[
        "fit",
        "--arch",
        &fixture("unsupported_batchnorm"),
        "--images",
        tmp.path().to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(!ok);
    assert!(
        err.contains("unsupported_batchnorm.json")
            && err.contains("batch_normalization")
            && err.contains("BatchNormalization"),
        "{err}"
    );
    let (ok, _, err) = host(&[
        "fit",
        "--arch",
        &fixture("mnist_sequential"),
        "--backend",
        "cpu",
    ]);
    assert!(!ok);
    assert!(err.contains("--images DIR"), "{err}");
}
