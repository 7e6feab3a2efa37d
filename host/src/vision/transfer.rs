//! The book's pretrained-base experiments on cats vs dogs (chapter 8, second half), with the
//! VGG16 base of [`crate::applications::vgg16`]:
//!
//! 1. [`feature_extraction`] — fast feature extraction: the base runs once over the three
//!    splits (cached, see [`super::features`]), and the classifier
//!    `Flatten → Dense(256, relu) → Dropout(0.5) → Dense(1, sigmoid)` trains on the features
//!    (RMSprop, 20 epochs). The best classifier is kept in `classifier/`, and the whole model
//!    (preprocessing, base, classifier) in `model/`, so `evaluate --images` runs on photos.
//! 2. [`frozen_augmented`] — feature extraction with augmentation: augmentation →
//!    `preprocess_input` → frozen VGG16 → the same classifier, trained end to end (50 epochs).
//!    The frozen base gets no gradient and keeps no activations for a backward pass.
//! 3. [`fine_tune`] — from the model of step 2, unfreeze `block5_conv1..3` and train with
//!    RMSprop at 1e-5 (30 epochs), still augmenting.
//!
//! Each run writes into its output folder what `train-catsdogs` writes: the best-`val_loss`
//! model (`model/`), `history.json`, `loss.png`, `accuracy.png`, and `report.json` with the
//! test metrics of the kept model.

use std::path::{Path, PathBuf};

use kernels::Backend;

use super::augment::Augmentation;
use super::experiment::{check_classes, fit_and_report, load_split, ExperimentError, Splits};
use super::features::{features_cached, FeatureCacheError};
use super::CatsDogsReport;
use crate::applications::vgg16;
use crate::layers::Activation::{Relu, Sigmoid};
use crate::layers::{Dense, Dropout, Flatten, Shape};
use crate::model::Model;
use crate::optim::Optimizer;
use crate::sequential::Sequential;
use crate::train::FitConfig;
use crate::weights::WeightsError;

/// Errors of the pretrained-base experiments.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Loading data, training, saving or plotting failed.
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    /// The pretrained weights are unusable.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The feature cache could not be written.
    #[error(transparent)]
    Cache(#[from] FeatureCacheError),
    /// Bad settings, or a model that is not a VGG16-based classifier.
    #[error("{0}")]
    Config(String),
}

/// Settings shared by the three runs.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferConfig {
    /// Folder holding `train/`, `validation/` and `test/` (each with `cat/` and `dog/`).
    pub data: PathBuf,
    /// Output folder.
    pub output: PathBuf,
    /// The pretrained base's weights (safetensors, Keras names).
    pub weights: PathBuf,
    /// Input size `(height, width)`, at least 32 on each side (book: 180×180).
    pub image_size: (usize, usize),
    /// Filters per block of the base (VGG16's [`vgg16::WIDTHS`]).
    pub widths: [usize; 5],
    /// Epochs.
    pub epochs: usize,
    /// Batch size (book: 32).
    pub batch_size: usize,
    /// Seed of the classifier's weights, shuffling, dropout and augmentation.
    pub seed: u64,
    /// Progress bars, summaries and per-epoch lines.
    pub verbose: bool,
}

impl TransferConfig {
    /// The book's settings for the data in `data` and the weights in `weights`:
    /// 180×180, batch 32, VGG16 widths, `epochs` epochs.
    pub fn book(data: PathBuf, output: PathBuf, weights: PathBuf, epochs: usize) -> Self {
        Self {
            data,
            output,
            weights,
            image_size: (180, 180),
            widths: vgg16::WIDTHS,
            epochs,
            batch_size: 32,
            seed: 0,
            verbose: true,
        }
    }

    fn fit(&self, optimizer: Optimizer) -> FitConfig {
        FitConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer,
            seed: self.seed,
            shuffle: true,
            verbose: self.verbose,
        }
    }
}

/// Appends the book's classifier to `s`: `Flatten`, `Dense(256, relu)`, `Dropout(0.5)`,
/// `Dense(1, sigmoid)` (named `flatten`, `dense`, `dropout`, `dense_1`).
pub fn add_classifier(s: Sequential) -> Sequential {
    s.add(Flatten)
        .add(Dense::new(256).activation(Relu))
        .add(Dropout::new(0.5))
        .add(Dense::new(1).activation(Sigmoid))
}

/// The base with its pretrained weights (`preprocess_input` + VGG16) for `cfg`.
pub fn pretrained_base(cfg: &TransferConfig) -> Result<Model, TransferError> {
    let (h, w) = cfg.image_size;
    check_size(h, w)?;
    let mut base = vgg16::conv_base(h, w, cfg.widths)
        .build(0)
        .map_err(|e| TransferError::Config(e.to_string()))?;
    vgg16::load_imagenet_weights(&mut base, &cfg.weights)?;
    Ok(base)
}

fn check_size(h: usize, w: usize) -> Result<(), TransferError> {
    if h < vgg16::MIN_SIDE || w < vgg16::MIN_SIDE {
        return Err(TransferError::Config(format!(
            "image size {h}x{w} is too small for VGG16's five poolings; use at least {0}x{0}",
            vgg16::MIN_SIDE
        )));
    }
    Ok(())
}

/// The three splits of `data` at `size`, checked for the same two classes.
fn load_splits(
    data: &Path,
    size: (usize, usize),
    verbose: bool,
) -> Result<[super::ImageFolder; 3], TransferError> {
    let train = load_split(&data.join("train"), size, verbose).map_err(ExperimentError::from)?;
    let val = load_split(&data.join("validation"), size, verbose).map_err(ExperimentError::from)?;
    let test = load_split(&data.join("test"), size, verbose).map_err(ExperimentError::from)?;
    check_classes(&train, &val, &test)?;
    Ok([train, val, test])
}

/// Joins a base and a classifier trained on its features into one model.
pub fn join(base: &Model, head: &Model) -> Result<Model, TransferError> {
    let layers = base.layers().iter().chain(head.layers()).cloned().collect();
    let params = base.params().iter().chain(head.params()).cloned().collect();
    Model::from_parts(base.input_shape(), layers, params)
        .map_err(|e| TransferError::Config(format!("joining base and classifier: {e}")))
}

/// Run 1, fast feature extraction (see the module docs); features are cached in
/// `cache_dir/{train,validation,test}.safetensors`.
pub fn feature_extraction<B: Backend>(
    backend: &B,
    cfg: &TransferConfig,
    cache_dir: &Path,
) -> Result<CatsDogsReport, TransferError> {
    let base = pretrained_base(cfg)?;
    if cfg.verbose {
        println!("{}", crate::summary::summary(&base, "vgg16"));
    }
    let splits = load_splits(&cfg.data, cfg.image_size, cfg.verbose)?;
    let mut features = Vec::with_capacity(3);
    for (split, name) in splits.into_iter().zip(["train", "validation", "test"]) {
        let path = cache_dir.join(format!("{name}.safetensors"));
        let (f, _) = features_cached(
            backend,
            &base,
            &split.data,
            cfg.batch_size,
            &path,
            name,
            cfg.verbose,
        )?;
        features.push(f);
    }
    let [h, w, c] = features[0].shape;
    let head = add_classifier(Sequential::new(Shape::image(h, w, c)))
        .build(cfg.seed)
        .map_err(|e| TransferError::Config(e.to_string()))?;
    if cfg.verbose {
        println!("{}", crate::summary::summary(&head, "classifier"));
    }
    let s = Splits {
        train: &features[0],
        validation: &features[1],
        test: &features[2],
    };
    let fit = cfg.fit(Optimizer::rmsprop());
    let classifier_dir = cfg.output.join("classifier");
    let (report, best_head) =
        fit_and_report(backend, head, &s, &fit, None, &cfg.output, &classifier_dir)?;
    let full = join(&base, &best_head)?;
    let model_dir = cfg.output.join("model");
    crate::save::save(&full, &model_dir).map_err(ExperimentError::from)?;
    Ok(report)
}

/// Run 2, feature extraction with augmentation (see the module docs).
pub fn frozen_augmented<B: Backend>(
    backend: &B,
    cfg: &TransferConfig,
) -> Result<CatsDogsReport, TransferError> {
    let (h, w) = cfg.image_size;
    check_size(h, w)?;
    let mut model = add_classifier(vgg16::conv_base(h, w, cfg.widths))
        .build(cfg.seed)
        .map_err(|e| TransferError::Config(e.to_string()))?;
    vgg16::load_imagenet_weights(&mut model, &cfg.weights)?;
    vgg16::freeze_base(&mut model, 0);
    if cfg.verbose {
        println!("{}", crate::summary::summary(&model, "vgg16_frozen"));
    }
    run_augmented(backend, model, cfg, Optimizer::rmsprop())
}

/// Convolutions unfrozen by the book's fine-tuning (`block5_conv1..3`).
pub const BOOK_UNFROZEN_CONVS: usize = 3;

/// The book's fine-tuning learning rate.
pub const FINE_TUNE_LR: f32 = 1e-5;

/// Run 3, fine-tuning (see the module docs): the model saved in `from` (by
/// [`frozen_augmented`]) with the last `unfrozen` convolutions of its base trainable,
/// RMSprop at `lr`. The image size is the model's; `cfg.image_size`, `cfg.widths` and
/// `cfg.weights` are not used.
pub fn fine_tune<B: Backend>(
    backend: &B,
    cfg: &TransferConfig,
    from: &Path,
    unfrozen: usize,
    lr: f32,
) -> Result<CatsDogsReport, TransferError> {
    let mut model = crate::save::load(from).map_err(ExperimentError::from)?;
    let convs = vgg16::conv_names();
    for name in &convs {
        if model.layer_params(name).is_none() {
            return Err(TransferError::Config(format!(
                "{}: not a VGG16-based model (no layer {name})",
                from.display()
            )));
        }
    }
    if unfrozen > convs.len() {
        return Err(TransferError::Config(format!(
            "cannot unfreeze {unfrozen} convolutions: the base has {}",
            convs.len()
        )));
    }
    vgg16::freeze_base(&mut model, unfrozen);
    let Shape::Image { h, w, .. } = model.input_shape() else {
        return Err(TransferError::Config(format!(
            "{}: the model does not take images",
            from.display()
        )));
    };
    let cfg = TransferConfig {
        image_size: (h, w),
        ..cfg.clone()
    };
    if cfg.verbose {
        println!("{}", crate::summary::summary(&model, "vgg16_fine_tuned"));
    }
    run_augmented(backend, model, &cfg, Optimizer::rmsprop().with_lr(lr))
}

fn run_augmented<B: Backend>(
    backend: &B,
    model: Model,
    cfg: &TransferConfig,
    optimizer: Optimizer,
) -> Result<CatsDogsReport, TransferError> {
    let [train, val, test] = load_splits(&cfg.data, cfg.image_size, cfg.verbose)?;
    let s = Splits {
        train: &train.data,
        validation: &val.data,
        test: &test.data,
    };
    let fit = cfg.fit(optimizer);
    let model_dir = cfg.output.join("model");
    let (report, _) = fit_and_report(
        backend,
        model,
        &s,
        &fit,
        Some(&Augmentation::BOOK),
        &cfg.output,
        &model_dir,
    )?;
    Ok(report)
}
