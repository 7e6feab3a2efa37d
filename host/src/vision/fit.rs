//! Training with on-the-fly augmentation: [`crate::train::fit`]'s loop (shuffled batches,
//! RMSprop/Adam, validation after every epoch, callbacks, [`History`]) with each training batch
//! passed through an [`Augmentation`] on the device before the forward pass. Validation and
//! test data are never augmented.
//!
//! Each batch's transforms come from [`batch_seed`]`(seed, epoch, step)`, so a run is
//! reproducible from its seed.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use kernels::{Backend, ImageGeom};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::augment::{batch_seed, Augmentation};
use crate::callback::Callback;
use crate::dataset::Dataset;
use crate::history::{EpochLogs, History};
use crate::layers::Shape;
use crate::loss::Loss;
use crate::model::Model;
use crate::network::Network;
use crate::optim::OptimizerState;
use crate::train::{evaluate, FitConfig, TrainError};

fn check(model: &Model, loss: &Loss, data: &Dataset, what: &'static str) -> Result<(), TrainError> {
    let err = |reason: String| TrainError::Data { what, reason };
    if data.is_empty() {
        return Err(err("no examples".into()));
    }
    match model.input_shape() {
        Shape::Image { h, w, c } if data.shape == [h, w, c] => {}
        want => {
            return Err(err(format!(
                "examples have shape {:?}, the model expects {want}",
                data.shape
            )))
        }
    }
    if data.images.len() != data.len() * data.image_len() {
        return Err(err(format!(
            "{} values for {} examples of {} values",
            data.images.len(),
            data.len(),
            data.image_len()
        )));
    }
    loss.check_labels(&data.labels).map_err(err)
}

/// Trains `model` on `train` like [`crate::train::fit`], augmenting every training batch
/// with `augmentation` when given (`None` trains exactly like `fit`).
pub fn fit_augmented<B: Backend>(
    backend: &B,
    model: &mut Model,
    train: &Dataset,
    validation: Option<&Dataset>,
    config: &FitConfig,
    augmentation: Option<&Augmentation>,
    callbacks: &mut [&mut dyn Callback],
) -> Result<History, TrainError> {
    let loss = Loss::for_model(model).map_err(TrainError::Model)?;
    check(model, &loss, train, "training data")?;
    if let Some(v) = validation {
        check(model, &loss, v, "validation data")?;
    }
    if config.batch_size == 0 {
        return Err(TrainError::Config("batch size must be positive".into()));
    }
    let [h, w, c] = train.shape;
    let mut net = Network::new(backend, model);
    let mut opt = OptimizerState::new(config.optimizer, &net);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let steps = train.len().div_ceil(config.batch_size);
    let mut history = History::default();
    for epoch in 0..config.epochs {
        let start = Instant::now();
        if config.shuffle {
            order.shuffle(&mut rng);
        }
        let bar = epoch_bar(config, epoch, steps);
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        for (step, idx) in order.chunks(config.batch_size).enumerate() {
            let (images, labels) = train.gather(idx);
            let batch = idx.len();
            let mut x = backend.from_slice(&images);
            if let Some(a) = augmentation {
                let geom = ImageGeom { batch, h, w, c };
                x = a.apply(
                    backend,
                    &x,
                    &geom,
                    batch_seed(config.seed, epoch as u64, step as u64),
                );
            }
            let (logits, tape) = net.forward(x, batch, Some(rng.gen()));
            let out = loss.compute(backend, &logits, &labels, batch);
            let tape =
                tape.ok_or_else(|| TrainError::Model("training forward kept no tape".into()))?;
            let grads = net.backward(tape, out.grad);
            opt.apply(&mut net, grads);
            loss_sum += out.loss as f64 * batch as f64;
            correct += out.correct;
            seen += batch;
            bar.inc(1);
            if step % 10 == 0 || step + 1 == steps {
                bar.set_message(format!(
                    "loss: {:.4} - accuracy: {:.4}",
                    loss_sum / seen as f64,
                    correct as f64 / seen as f64
                ));
            }
        }
        bar.finish_and_clear();
        // Validation runs on a downloaded copy of the weights (no augmentation, no dropout).
        let mut current = model.clone();
        net.download_into(&mut current);
        let val = match validation {
            Some(v) => Some(evaluate(backend, &current, v, config.batch_size)?),
            None => None,
        };
        let logs = EpochLogs {
            loss: (loss_sum / seen as f64) as f32,
            accuracy: (correct as f64 / seen as f64) as f32,
            val_loss: val.map(|e| e.loss),
            val_accuracy: val.map(|e| e.accuracy),
            seconds: start.elapsed().as_secs_f64(),
        };
        if config.verbose {
            let mut line = format!(
                "Epoch {}/{} - {steps} steps - {:.1}s - loss: {:.4} - accuracy: {:.4}",
                epoch + 1,
                config.epochs,
                logs.seconds,
                logs.loss,
                logs.accuracy
            );
            if let (Some(l), Some(a)) = (logs.val_loss, logs.val_accuracy) {
                line += &format!(" - val_loss: {l:.4} - val_accuracy: {a:.4}");
            }
            println!("{line}");
        }
        history.push(&logs);
        let snapshot = || current.clone();
        for cb in callbacks.iter_mut() {
            cb.on_epoch_end(epoch, &logs, &snapshot)
                .map_err(|source| TrainError::Callback {
                    epoch: epoch + 1,
                    source,
                })?;
        }
    }
    net.download_into(model);
    Ok(history)
}

fn epoch_bar(config: &FitConfig, epoch: usize, steps: usize) -> ProgressBar {
    if !config.verbose {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(steps as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} ({elapsed}<{eta}) {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!("Epoch {}/{}", epoch + 1, config.epochs));
    bar
}
