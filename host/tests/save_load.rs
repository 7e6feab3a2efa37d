//! Saving and loading models: round trip, and clear errors for damaged files.

use std::path::Path;

use host::layers::Activation::{Relu, Sigmoid};
use host::layers::{Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Padding, Rescaling, Shape};
use host::save::{self, ARCHITECTURE_FILE, WEIGHTS_FILE};
use host::sequential::Sequential;
use host::zoo;
use kernels::CpuBackend;

fn edit_json(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(ARCHITECTURE_FILE);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
}

#[test]
fn round_trip_preserves_everything() {
    let mut model = Sequential::new(Shape::image(12, 12, 3))
        .add(Rescaling::new(1.0 / 255.0, -0.5))
        .add(
            Conv2D::new(4, 3)
                .padding(Padding::Same)
                .strides(2)
                .activation(Relu),
        )
        .add(MaxPooling2D::new(2))
        .add(Flatten)
        .add(Dropout::new(0.5))
        .add(Dense::new(1).activation(Sigmoid))
        .build(11)
        .unwrap();
    model.set_trainable("conv2d", false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save::save(&model, dir.path()).unwrap();
    let loaded = save::load(dir.path()).unwrap();
    assert_eq!(loaded, model);
    // Only the two model files, no temporary leftovers.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec![ARCHITECTURE_FILE, WEIGHTS_FILE]);
    // Keras tensor names and layouts, readable by any safetensors reader.
    let bytes = std::fs::read(dir.path().join(WEIGHTS_FILE)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec()))
        .collect();
    tensors.sort();
    assert_eq!(
        tensors,
        vec![
            ("conv2d.bias".to_string(), vec![4]),
            ("conv2d.kernel".to_string(), vec![3, 3, 3, 4]),
            ("dense.bias".to_string(), vec![1]),
            ("dense.kernel".to_string(), vec![36, 1]),
        ]
    );
    // Same predictions.
    let b = CpuBackend::new();
    let x: Vec<f32> = (0..2 * 12 * 12 * 3).map(|i| (i % 256) as f32).collect();
    assert_eq!(model.predict(&b, &x, 2), loaded.predict(&b, &x, 1));
}

#[test]
fn mnist_model_json_uses_keras_names() {
    let model = zoo::mnist_convnet().build(0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save::save(&model, dir.path()).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(ARCHITECTURE_FILE)).unwrap())
            .unwrap();
    assert_eq!(v["format"], "tinyconv-sequential");
    assert_eq!(v["input_shape"], serde_json::json!([28, 28, 1]));
    assert_eq!(v["layers"][0]["class_name"], "Conv2D");
    assert_eq!(v["layers"][0]["config"]["activation"], "relu");
    assert_eq!(v["layers"][2]["name"], "conv2d_1");
    assert_eq!(v["layers"][6]["config"]["activation"], "softmax");
}

fn saved_mnist() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    save::save(&zoo::mnist_convnet().build(0).unwrap(), dir.path()).unwrap();
    dir
}

fn load_err(dir: &Path) -> String {
    let e = save::load(dir).unwrap_err();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg += &format!(": {s}");
        src = s.source();
    }
    msg
}

#[test]
fn damaged_files_give_errors_naming_file_and_problem() {
    // Missing weights file.
    let dir = saved_mnist();
    std::fs::remove_file(dir.path().join(WEIGHTS_FILE)).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains(WEIGHTS_FILE), "{e}");

    // Missing directory.
    let e = load_err(&dir.path().join("nope"));
    assert!(e.contains("nope") && e.contains(ARCHITECTURE_FILE), "{e}");

    // Architecture changed so a kernel no longer fits.
    let dir = saved_mnist();
    edit_json(dir.path(), |v| {
        v["layers"][0]["config"]["filters"] = 16.into()
    });
    let e = load_err(dir.path());
    assert!(
        e.contains(WEIGHTS_FILE) && e.contains("conv2d.kernel"),
        "{e}"
    );
    assert!(
        e.contains("[3, 3, 1, 32]") && e.contains("[3, 3, 1, 16]"),
        "{e}"
    );

    // A layer renamed: its tensors are missing.
    let dir = saved_mnist();
    edit_json(dir.path(), |v| v["layers"][6]["name"] = "head".into());
    let e = load_err(dir.path());
    assert!(e.contains("missing tensor head.kernel"), "{e}");

    // A layer removed: its tensors are unexpected, and the shapes no longer chain.
    let dir = saved_mnist();
    edit_json(dir.path(), |v| {
        v["layers"].as_array_mut().unwrap().remove(4);
    });
    let e = load_err(dir.path());
    assert!(e.contains(WEIGHTS_FILE), "{e}");

    // Impossible architecture.
    let dir = saved_mnist();
    edit_json(dir.path(), |v| {
        v["input_shape"] = serde_json::json!([2, 2, 1])
    });
    let e = load_err(dir.path());
    assert!(
        e.contains(ARCHITECTURE_FILE) && e.contains("does not fit"),
        "{e}"
    );

    // Sizes that overflow (found by fuzzing): a typed error naming the file, not a panic.
    for (what, edit) in [
        (
            "values per example",
            Box::new(|v: &mut serde_json::Value| {
                v["input_shape"] = serde_json::json!([4294967296u64, 4294967296u64, 2])
            }) as Box<dyn Fn(&mut serde_json::Value)>,
        ),
        (
            "must be at most 65536",
            Box::new(|v: &mut serde_json::Value| {
                v["layers"][0]["config"]["filters"] = 4294967296u64.into();
                v["layers"][0]["config"]["kernel_size"] = serde_json::json!([1, 4294967296u64]);
            }),
        ),
        (
            "more than 4294967295 values",
            Box::new(|v: &mut serde_json::Value| {
                v["layers"][0]["config"]["filters"] = 4294967296u64.into();
            }),
        ),
        (
            "more than 4294967295 values",
            Box::new(|v: &mut serde_json::Value| {
                v["layers"][6]["config"]["units"] = (1u64 << 40).into();
            }),
        ),
    ] {
        let dir = saved_mnist();
        edit_json(dir.path(), edit);
        let e = load_err(dir.path());
        assert!(
            e.contains(ARCHITECTURE_FILE) && e.contains(what),
            "{what}: {e}"
        );
    }

    // Unknown class and bad JSON.
    let dir = saved_mnist();
    edit_json(dir.path(), |v| v["layers"][0]["class_name"] = "LSTM".into());
    let e = load_err(dir.path());
    assert!(e.contains(ARCHITECTURE_FILE) && e.contains("LSTM"), "{e}");
    std::fs::write(dir.path().join(ARCHITECTURE_FILE), "{").unwrap();
    assert!(load_err(dir.path()).contains(ARCHITECTURE_FILE));

    // Truncated weights.
    let dir = saved_mnist();
    let p = dir.path().join(WEIGHTS_FILE);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains(WEIGHTS_FILE) && e.contains("safetensors"), "{e}");
}
