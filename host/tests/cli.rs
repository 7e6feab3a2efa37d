//! The `host` binary end to end: a short training run writes a loadable model; `evaluate`
//! and `summary` work on it; bad data directories fail with a message naming the file.

use std::path::PathBuf;
use std::process::Command;

fn data_dir() -> PathBuf {
    std::env::var_os("TINYCONV_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

fn host() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_host"));
    c.env_remove("TINYCONV_DATA_DIR");
    c
}

fn accuracy(stdout: &str) -> f32 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Test accuracy: "))
        .unwrap_or_else(|| panic!("no accuracy line in:\n{stdout}"));
    line["Test accuracy: ".len()..].trim().parse().unwrap()
}

#[test]
fn train_then_evaluate_and_summarise() {
    let out_dir = tempfile::tempdir().unwrap();
    let model_dir = out_dir.path().join("model");
    let out = host()
        .args([
            "train",
            "--limit",
            "2000",
            "--epochs",
            "1",
            "--backend",
            "cpu",
            "--offline",
        ])
        .args(["--test-limit", "1000", "--seed", "3"])
        .arg("--data-dir")
        .arg(data_dir())
        .arg("--output")
        .arg(&model_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("backend: cpu"), "{stderr}");
    let acc = accuracy(&stdout);
    assert!(acc > 0.7, "accuracy after 32 steps: {acc}");
    for f in ["model.json", "model.safetensors", "history.json"] {
        assert!(model_dir.join(f).is_file(), "{f} missing");
    }
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model_dir.join("history.json")).unwrap())
            .unwrap();
    assert_eq!(history["loss"].as_array().unwrap().len(), 1);

    let out = host()
        .args([
            "evaluate",
            "--backend",
            "cpu",
            "--offline",
            "--test-limit",
            "1000",
        ])
        .arg("--model")
        .arg(&model_dir)
        .arg("--data-dir")
        .arg(data_dir())
        .output()
        .unwrap();
    let eval_stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{eval_stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        (accuracy(&eval_stdout) - acc).abs() < 1e-4,
        "{eval_stdout} vs {stdout}"
    );

    let out = host()
        .arg("summary")
        .arg("--model")
        .arg(&model_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Total params: 104,202"));
}

#[test]
fn summary_prints_the_mnist_table() {
    let out = host().arg("summary").output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("conv2d_2 (Conv2D)") && s.contains("(None, 3, 3, 128)"),
        "{s}"
    );
    assert!(s.contains("Total params: 104,202"), "{s}");
}

#[test]
fn corrupt_data_file_fails_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mnist = dir.path().join("mnist");
    std::fs::create_dir(&mnist).unwrap();
    for f in host::mnist::FILES {
        std::fs::write(mnist.join(format!("{}.gz", f.name)), b"garbage").unwrap();
    }
    let out = host()
        .args([
            "train",
            "--epochs",
            "1",
            "--limit",
            "10",
            "--backend",
            "cpu",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--output")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("train-images-idx3-ubyte.gz"), "{stderr}");
    assert!(stderr.contains("magic"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn missing_data_offline_fails_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = host()
        .args(["evaluate", "--offline", "--backend", "cpu", "--model"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model.json"), "{stderr}");

    let out = host()
        .args(["train", "--offline", "--backend", "cpu", "--epochs", "1"])
        .env("TINYCONV_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("train-images-idx3-ubyte"), "{stderr}");
}

#[test]
fn evaluate_without_images_rejects_a_non_mnist_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = host::zoo::cats_vs_dogs_convnet(80).build(0).unwrap();
    host::save::save(&model, dir.path()).unwrap();
    let out = host()
        .args(["evaluate", "--offline", "--backend", "cpu", "--model"])
        .arg(dir.path())
        .env("TINYCONV_DATA_DIR", data_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--images"), "{stderr}");
    assert!(stderr.contains("28x28x1"), "{stderr}");
}
