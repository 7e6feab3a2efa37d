//! Shared pieces of the quantization tests (`mod quantize_harness;`): the MNIST data, a model
//! trained once per test binary by the project's own trainer, and an independent integer
//! reference of the int8 network.
//!
//! Data: `TINYCONV_DATA_DIR`, else `CARGO_MANIFEST_DIR/../../shared/data`.

#![allow(dead_code)] // each test binary uses its own subset

pub mod reference;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use host::mnist::Mnist;
use host::model::Model;
use host::train::FitConfig;

/// Training images the in-test model sees (one epoch, batch 64, RMSprop).
pub const TRAIN_IMAGES: usize = 30_000;
/// Calibration images (spread over the training set).
pub const CALIBRATION_IMAGES: usize = 1_000;

/// The data directory.
pub fn data_dir() -> PathBuf {
    std::env::var_os("TINYCONV_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("shared")
                .join("data")
        })
}

/// MNIST, loaded once.
pub fn mnist() -> &'static Mnist {
    static DATA: OnceLock<Mnist> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = data_dir();
        host::mnist::load(&dir).unwrap_or_else(|e| {
            panic!(
                "MNIST not found under {} (set TINYCONV_DATA_DIR): {e}",
                dir.display()
            )
        })
    })
}

/// The MNIST convnet trained by `host::train::fit` for one epoch on the first
/// [`TRAIN_IMAGES`] training images (CPU backend, seed 0), trained once per test binary.
pub fn trained_model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let data = mnist();
        let train = data.train.to_dataset(1.0 / 255.0).take(TRAIN_IMAGES);
        let mut model = host::zoo::mnist_convnet()
            .build(0)
            .expect("the zoo model builds");
        let config = FitConfig {
            epochs: 1,
            verbose: false,
            ..FitConfig::default()
        };
        let t = Instant::now();
        host::train::fit(
            &kernels::CpuBackend::new(),
            &mut model,
            &train,
            None,
            &config,
            &mut [],
        )
        .expect("training runs");
        eprintln!(
            "trained the MNIST convnet for 1 epoch on {TRAIN_IMAGES} images in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        model
    })
}

/// The calibration pixels: [`CALIBRATION_IMAGES`] training images.
pub fn calibration_pixels() -> Vec<u8> {
    host::quantize::calibrate::sample(&mnist().train.images, 784, CALIBRATION_IMAGES)
}
