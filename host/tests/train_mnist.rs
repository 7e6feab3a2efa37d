//! Training on real MNIST with the CPU backend: a short run must clearly beat chance, and
//! `fit`'s bookkeeping (history, frozen layers, checkpoint) must hold.
//!
//! Data: `$TINYCONV_DATA_DIR`, else `../shared/data` beside the workspace.

use std::path::PathBuf;

use host::callback::BestCheckpoint;
use host::mnist;
use host::optim::Optimizer;
use host::train::{evaluate, fit, FitConfig};
use host::zoo;
use kernels::CpuBackend;

fn data_dir() -> PathBuf {
    std::env::var_os("TINYCONV_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

fn load() -> mnist::Mnist {
    let dir = data_dir();
    mnist::load(&dir).unwrap_or_else(|e| {
        panic!(
            "MNIST is needed in {} (set TINYCONV_DATA_DIR): {e}",
            dir.display()
        )
    })
}

#[test]
fn short_training_run_beats_chance_by_far() {
    let data = load();
    let train = data.train.to_dataset(1.0 / 255.0).take(6_000);
    let test = data.test.to_dataset(1.0 / 255.0).take(2_000);
    let backend = CpuBackend::new();
    let mut model = zoo::mnist_convnet().build(0).unwrap();
    let before = evaluate(&backend, &model, &test, 256).unwrap();
    let config = FitConfig {
        epochs: 1,
        verbose: false,
        ..FitConfig::default()
    };
    let history = fit(&backend, &mut model, &train, Some(&test), &config, &mut []).unwrap();
    let after = evaluate(&backend, &model, &test, 256).unwrap();
    assert!(
        before.accuracy < 0.3,
        "untrained accuracy {}",
        before.accuracy
    );
    assert!(
        after.accuracy > 0.85,
        "accuracy after 94 steps: {}",
        after.accuracy
    );
    assert!(
        after.loss < before.loss / 3.0,
        "{} -> {}",
        before.loss,
        after.loss
    );
    assert_eq!(history.loss.len(), 1);
    assert_eq!(history.val_accuracy.len(), 1);
    assert!((history.val_accuracy[0] - after.accuracy).abs() < 1e-6);
    assert!((history.val_loss[0] - after.loss).abs() < 1e-5);
    // predict returns probabilities that agree with the evaluated accuracy.
    let probs = model.predict(&backend, &test.images, 500);
    assert_eq!(probs.len(), test.len() * 10);
    let mut correct = 0;
    for (row, &label) in probs.chunks(10).zip(&test.labels) {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "softmax row sums to {sum}");
        let arg = (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        correct += (arg as u32 == label) as usize;
    }
    assert!((correct as f32 / test.len() as f32 - after.accuracy).abs() < 1e-6);
}

#[test]
fn frozen_layers_stay_fixed_and_checkpoint_saves_best() {
    let data = load();
    let train = data.train.to_dataset(1.0 / 255.0).take(512);
    let val = data.test.to_dataset(1.0 / 255.0).take(256);
    let backend = CpuBackend::new();
    let mut model = zoo::mnist_convnet().build(3).unwrap();
    model.set_trainable("conv2d", false).unwrap();
    let start = model.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut ckpt = BestCheckpoint::new(dir.path().join("best"));
    let config = FitConfig {
        epochs: 2,
        batch_size: 128,
        optimizer: Optimizer::adam(),
        seed: 9,
        shuffle: true,
        verbose: false,
    };
    let history = fit(
        &backend,
        &mut model,
        &train,
        Some(&val),
        &config,
        &mut [&mut ckpt],
    )
    .unwrap();
    assert_eq!(
        model.params()[0],
        start.params()[0],
        "frozen conv2d changed"
    );
    assert_ne!(
        model.params()[2],
        start.params()[2],
        "conv2d_1 did not train"
    );
    let best_epoch = ckpt.best_epoch.unwrap();
    let best = history
        .val_loss
        .iter()
        .cloned()
        .fold(f32::INFINITY, f32::min);
    assert_eq!(history.val_loss[best_epoch], best);
    let saved = host::save::load(&dir.path().join("best")).unwrap();
    let eval = evaluate(&backend, &saved, &val, 64).unwrap();
    assert!((eval.loss - best).abs() < 1e-4, "{} vs {best}", eval.loss);
    assert!(!saved.layers()[0].trainable);
}
