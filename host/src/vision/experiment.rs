//! The book's cats-vs-dogs experiment end to end: load the `train/`, `validation/` and `test/`
//! folders made by [`super::make_subset`], build the convnet, train it (optionally with
//! augmentation and dropout), keep the best-`val_loss` model, write the history and curves,
//! and evaluate the best model on the test set.
//!
//! Files written in the output folder (all atomically, refreshed after every epoch so a long
//! run can be watched):
//! - `model/`: the best model so far (`model.json` + `model.safetensors`);
//! - `history.json`: Keras-style per-epoch metrics;
//! - `loss.png`, `accuracy.png`: training (dots) and validation (line) curves;
//! - `report.json` (at the end): best epoch, its validation metrics, test metrics.

use std::path::{Path, PathBuf};

use kernels::Backend;
use serde::Serialize;

use super::augment::Augmentation;
use super::fit::fit_augmented;
use super::image_folder::{
    image_dataset_from_directory, ImageFolder, ImageFolderError, ImageFolderOptions,
};
use super::model::{cats_vs_dogs, MIN_IMAGE_SIDE};
use super::plot::{plot_curves, PlotError};
use crate::callback::{BestCheckpoint, Callback, CallbackError};
use crate::dataset::Dataset;
use crate::history::{EpochLogs, History};
use crate::model::Model;
use crate::optim::Optimizer;
use crate::train::{evaluate, Evaluation, FitConfig, TrainError};

/// Settings of [`train_cats_vs_dogs`]; [`Default`] is the book's from-scratch run.
#[derive(Clone, Debug, PartialEq)]
pub struct CatsDogsConfig {
    /// Folder holding `train/`, `validation/` and `test/` (each with `cat/` and `dog/`).
    pub data: PathBuf,
    /// Output folder.
    pub output: PathBuf,
    /// Input size `(height, width)`; at least [`MIN_IMAGE_SIDE`] on each side.
    pub image_size: (usize, usize),
    /// Epochs (book: 30 from scratch, 100 with augmentation).
    pub epochs: usize,
    /// Batch size (book: 32).
    pub batch_size: usize,
    /// Augment training batches with [`Augmentation::BOOK`].
    pub augment: bool,
    /// Dropout rate before the classifier (book: 0.5 with augmentation, none without).
    pub dropout: Option<f32>,
    /// Seed of the weights, shuffling, dropout and augmentation.
    pub seed: u64,
    /// Progress bars and per-epoch lines.
    pub verbose: bool,
}

impl Default for CatsDogsConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from("cats_vs_dogs_small"),
            output: PathBuf::from("runs/catsdogs"),
            image_size: (180, 180),
            epochs: 30,
            batch_size: 32,
            augment: false,
            dropout: None,
            seed: 0,
            verbose: true,
        }
    }
}

impl CatsDogsConfig {
    /// The book's second run: augmentation, dropout 0.5, 100 epochs.
    pub fn augmented(mut self) -> Self {
        self.augment = true;
        self.dropout = Some(0.5);
        self.epochs = 100;
        self
    }
}

/// Outcome of [`train_cats_vs_dogs`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CatsDogsReport {
    /// Epoch (1-based) with the lowest validation loss, whose model was kept.
    pub best_epoch: usize,
    /// Its validation loss.
    pub best_val_loss: f32,
    /// Its validation accuracy.
    pub best_val_accuracy: f32,
    /// The kept model's test loss.
    pub test_loss: f32,
    /// The kept model's test accuracy.
    pub test_accuracy: f32,
    /// Training examples.
    pub train_examples: usize,
    /// Validation examples.
    pub validation_examples: usize,
    /// Test examples.
    pub test_examples: usize,
    /// Parameters of the model.
    pub params: usize,
    /// Parameters that training updated.
    pub trainable_params: usize,
    /// The full history.
    pub history: History,
}

/// Errors of the experiment.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// Bad settings.
    #[error("{0}")]
    Config(String),
    /// Loading images failed.
    #[error(transparent)]
    Data(#[from] ImageFolderError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Saving or loading a model failed.
    #[error(transparent)]
    Save(#[from] crate::save::SaveError),
    /// Drawing a plot failed.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Writes `history.json`, `loss.png` and `accuracy.png` into `dir`.
pub fn write_history_files(history: &History, dir: &Path) -> Result<(), ExperimentError> {
    std::fs::create_dir_all(dir).map_err(|source| ExperimentError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join("history.json");
    history
        .save(&path)
        .map_err(|source| ExperimentError::Io { path, source })?;
    plot_curves(
        &dir.join("loss.png"),
        "loss",
        &history.loss,
        &history.val_loss,
    )?;
    plot_curves(
        &dir.join("accuracy.png"),
        "accuracy",
        &history.accuracy,
        &history.val_accuracy,
    )?;
    Ok(())
}

/// A callback that rewrites the history and curve files after every epoch.
#[derive(Debug)]
pub struct HistoryFiles {
    /// Output folder.
    pub dir: PathBuf,
    /// Epochs so far.
    pub history: History,
}

impl Callback for HistoryFiles {
    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        logs: &EpochLogs,
        _snapshot: &dyn Fn() -> Model,
    ) -> Result<(), CallbackError> {
        self.history.push(logs);
        write_history_files(&self.history, &self.dir)?;
        Ok(())
    }
}

/// Loads one split folder at `size`.
pub fn load_split(
    dir: &Path,
    size: (usize, usize),
    verbose: bool,
) -> Result<ImageFolder, ImageFolderError> {
    let opts = ImageFolderOptions {
        image_size: size,
        class_names: None,
        verbose,
    };
    image_dataset_from_directory(dir, &opts)
}

/// Runs the experiment (see the module docs).
pub fn train_cats_vs_dogs<B: Backend>(
    backend: &B,
    cfg: &CatsDogsConfig,
) -> Result<CatsDogsReport, ExperimentError> {
    let (h, w) = cfg.image_size;
    if h < MIN_IMAGE_SIDE || w < MIN_IMAGE_SIDE {
        return Err(ExperimentError::Config(format!(
            "image size {h}x{w} is too small for five 3x3 convolutions and four poolings; \
             use at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
        )));
    }
    let train = load_split(&cfg.data.join("train"), cfg.image_size, cfg.verbose)?;
    let val = load_split(&cfg.data.join("validation"), cfg.image_size, cfg.verbose)?;
    let test = load_split(&cfg.data.join("test"), cfg.image_size, cfg.verbose)?;
    check_classes(&train, &val, &test)?;

    let model = cats_vs_dogs(h, w, cfg.dropout)
        .build(cfg.seed)
        .map_err(|e| ExperimentError::Config(e.to_string()))?;
    if cfg.verbose {
        println!("{}", crate::summary::summary(&model, "cats_vs_dogs"));
    }
    let fit = FitConfig {
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        optimizer: Optimizer::rmsprop(),
        seed: cfg.seed,
        shuffle: true,
        verbose: cfg.verbose,
    };
    let splits = Splits {
        train: &train.data,
        validation: &val.data,
        test: &test.data,
    };
    let aug = cfg.augment.then_some(Augmentation::BOOK);
    let model_dir = cfg.output.join("model");
    let (report, _) = fit_and_report(
        backend,
        model,
        &splits,
        &fit,
        aug.as_ref(),
        &cfg.output,
        &model_dir,
    )?;
    Ok(report)
}

/// The three splits of an experiment.
#[derive(Clone, Copy, Debug)]
pub struct Splits<'a> {
    /// Training data.
    pub train: &'a Dataset,
    /// Validation data (monitored by the checkpoint).
    pub validation: &'a Dataset,
    /// Test data (evaluated once, on the best model).
    pub test: &'a Dataset,
}

/// Checks that the three splits have the same two classes.
pub fn check_classes(
    train: &ImageFolder,
    val: &ImageFolder,
    test: &ImageFolder,
) -> Result<(), ExperimentError> {
    for (name, split) in [("validation", val), ("test", test)] {
        if split.class_names != train.class_names {
            return Err(ExperimentError::Config(format!(
                "{name} classes {:?} differ from training classes {:?}",
                split.class_names, train.class_names
            )));
        }
    }
    if train.class_names.len() != 2 {
        return Err(ExperimentError::Config(format!(
            "binary classification needs exactly two class folders, found {:?}",
            train.class_names
        )));
    }
    Ok(())
}

/// Trains `model` (augmenting training batches with `augmentation` when given), keeping the
/// best-`val_loss` model in `model_dir`, writing `history.json` and the curves into `output`
/// after every epoch, then evaluates the kept model on the test split and writes
/// `output/report.json`. Returns the report and the kept model.
pub fn fit_and_report<B: Backend>(
    backend: &B,
    mut model: Model,
    splits: &Splits<'_>,
    fit: &FitConfig,
    augmentation: Option<&Augmentation>,
    output: &Path,
    model_dir: &Path,
) -> Result<(CatsDogsReport, Model), ExperimentError> {
    let mut checkpoint = BestCheckpoint::new(model_dir);
    let mut files = HistoryFiles {
        dir: output.to_path_buf(),
        history: History::default(),
    };
    let history = {
        let mut callbacks: [&mut dyn Callback; 2] = [&mut checkpoint, &mut files];
        fit_augmented(
            backend,
            &mut model,
            splits.train,
            Some(splits.validation),
            fit,
            augmentation,
            &mut callbacks,
        )?
    };
    let best = checkpoint
        .best_epoch
        .ok_or_else(|| ExperimentError::Config("no epoch was trained (epochs = 0)".into()))?;
    let best_model = crate::save::load(model_dir)?;
    let Evaluation {
        loss: test_loss,
        accuracy: test_accuracy,
    } = evaluate(backend, &best_model, splits.test, fit.batch_size)?;
    let report = CatsDogsReport {
        best_epoch: best + 1,
        best_val_loss: history.val_loss[best],
        best_val_accuracy: history.val_accuracy[best],
        test_loss,
        test_accuracy,
        train_examples: splits.train.len(),
        validation_examples: splits.validation.len(),
        test_examples: splits.test.len(),
        params: model.param_count(),
        trainable_params: model.trainable_param_count(),
        history,
    };
    write_report(&report, output)?;
    Ok((report, best_model))
}

/// Writes `report.json` into `output` (atomically).
pub fn write_report(report: &CatsDogsReport, output: &Path) -> Result<(), ExperimentError> {
    let path = output.join("report.json");
    let json =
        serde_json::to_string_pretty(report).map_err(|e| ExperimentError::Config(e.to_string()))?;
    crate::atomic::write_atomic(&path, json.as_bytes())
        .map_err(|source| ExperimentError::Io { path, source })
}

/// Loads a saved cats-vs-dogs model and evaluates it on the image folder `data` (resized to
/// the model's input size).
pub fn evaluate_saved<B: Backend>(
    backend: &B,
    model_dir: &Path,
    data: &Path,
    batch_size: usize,
    verbose: bool,
) -> Result<Evaluation, ExperimentError> {
    let model = crate::save::load(model_dir)?;
    let (h, w) = match model.input_shape() {
        crate::layers::Shape::Image { h, w, c: 3 } => (h, w),
        other => {
            return Err(ExperimentError::Config(format!(
                "model in {} takes {other}, not RGB images",
                model_dir.display()
            )))
        }
    };
    let folder = load_split(data, (h, w), verbose)?;
    Ok(evaluate(backend, &model, &folder.data, batch_size)?)
}
