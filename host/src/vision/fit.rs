//! Training with on-the-fly augmentation: [`crate::train::fit`]'s loop (shuffled batches,
//! RMSprop/Adam, validation after every epoch, callbacks, [`History`]) with each training batch
//! passed through an [`Augmentation`] on the device before the forward pass. Validation and
//! test data are never augmented.
//!
//! Each batch's transforms come from [`batch_seed`]`(seed, epoch, step)`, so a run is
//! reproducible from its seed.

use kernels::{Backend, ImageGeom};

use super::augment::{batch_seed, Augmentation};
use crate::callback::Callback;
use crate::dataset::Dataset;
use crate::history::History;
use crate::layers::Shape;
use crate::model::Model;
use crate::train::{fit_with_input_hook, BatchPosition, FitConfig, TrainError};

/// Trains `model` on `train` like [`crate::train::fit`], augmenting every training batch
/// with `augmentation` when given (`None` trains exactly like `fit`). The model must take
/// images (`Shape::Image`).
pub fn fit_augmented<B: Backend>(
    backend: &B,
    model: &mut Model,
    train: &Dataset,
    validation: Option<&Dataset>,
    config: &FitConfig,
    augmentation: Option<&Augmentation>,
    callbacks: &mut [&mut dyn Callback],
) -> Result<History, TrainError> {
    let want = model.input_shape();
    if !matches!(want, Shape::Image { .. }) {
        return Err(TrainError::Data {
            what: "training data",
            reason: format!(
                "examples have shape {:?}, the model expects {want}",
                train.shape
            ),
        });
    }
    let [h, w, c] = train.shape;
    let seed = config.seed;
    let mut augment = |backend: &B, x: B::Tensor, at: BatchPosition| {
        let geom = ImageGeom {
            batch: at.batch,
            h,
            w,
            c,
        };
        let seed = batch_seed(seed, at.epoch as u64, at.step as u64);
        match augmentation {
            Some(a) => a.apply(backend, &x, &geom, seed),
            None => x,
        }
    };
    fit_with_input_hook(
        backend,
        model,
        train,
        validation,
        config,
        Some(&mut augment),
        callbacks,
    )
}
