//! tinyconv on the host: MNIST data, Keras-style layers and `Sequential` models, training on
//! any [`kernels::Backend`], saving/loading, and the `host` command line.
//!
//! ```no_run
//! use host::{mnist, train, zoo};
//! let data = mnist::load(std::path::Path::new("data"))?;
//! let mut model = zoo::mnist_convnet().build(0)?;
//! let backend = kernels::cpu::CpuBackend::new();
//! let cfg = train::FitConfig::default();
//! train::fit(&backend, &mut model, &data.train.to_dataset(1.0 / 255.0), None, &cfg, &mut [])?;
//! host::save::save(&model, std::path::Path::new("runs/mnist"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod applications;
pub mod arch_file;
pub mod atomic;
pub mod backend;
pub mod bench;
pub mod callback;
pub mod classify_cli;
pub mod cli;
pub mod data_dir;
pub mod dataset;
pub mod deploy_cli;
pub mod download;
pub mod firmware;
pub mod fit_cli;
pub mod history;
pub mod idx;
pub mod layers;
pub mod loss;
pub mod mnist;
pub mod model;
pub mod network;
pub mod optim;
pub mod quantize;
pub mod save;
pub mod sequential;
pub mod serial_frame;
pub mod step;
pub mod summary;
pub mod train;
pub mod vision;
pub mod weights;
pub mod zoo;

pub use model::Model;
