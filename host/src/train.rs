//! The training loop (`model.fit`) and evaluation (`model.evaluate`), generic over the
//! backend.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use kernels::Backend;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::callback::{Callback, CallbackError};
use crate::dataset::Dataset;
use crate::history::{EpochLogs, History};
use crate::layers::Shape;
use crate::loss::Loss;
use crate::model::Model;
use crate::network::Network;
use crate::optim::{Optimizer, OptimizerState};
use crate::step::{score_batch, train_step, BatchInput};

/// An error in training or evaluation.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The model cannot be trained (no softmax/sigmoid output).
    #[error("{0}")]
    Model(String),
    /// The data does not fit the model (shape, labels, empty).
    #[error("{what}: {reason}")]
    Data {
        /// Which data set (`training data`, `validation data`, ...).
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A configuration value is invalid.
    #[error("{0}")]
    Config(String),
    /// A callback failed.
    #[error("callback failed at epoch {epoch}")]
    Callback {
        /// 1-based epoch.
        epoch: usize,
        /// The callback's error.
        #[source]
        source: CallbackError,
    },
}

/// Settings of [`fit`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Examples per step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Optimiser.
    pub optimizer: Optimizer,
    /// Seed of the shuffling and dropout generator.
    pub seed: u64,
    /// Shuffle the training data at the start of every epoch.
    pub shuffle: bool,
    /// Show a progress bar (on a terminal) and print one line per epoch.
    pub verbose: bool,
}

impl Default for FitConfig {
    /// The book's MNIST settings: RMSprop, 5 epochs, batch 64, shuffled, verbose.
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 64,
            optimizer: Optimizer::rmsprop(),
            seed: 0,
            shuffle: true,
            verbose: true,
        }
    }
}

/// Loss and accuracy over a data set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f32,
    /// Fraction of correct predictions.
    pub accuracy: f32,
}

fn check_data(
    model: &Model,
    loss: &Loss,
    data: &Dataset,
    what: &'static str,
) -> Result<(), TrainError> {
    let err = |reason: String| TrainError::Data { what, reason };
    if data.is_empty() {
        return Err(err("no examples".into()));
    }
    let want = model.input_shape();
    let fits = match want {
        Shape::Image { h, w, c } => data.shape == [h, w, c],
        Shape::Flat(n) => data.image_len() == n,
    };
    if !fits {
        return Err(err(format!(
            "examples have shape {:?}, the model expects {want}",
            data.shape
        )));
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

/// Trains `model` in place on `train` (Keras's `model.fit`), evaluating on `validation`
/// after every epoch when given, and calling `callbacks` after every epoch.
pub fn fit<B: Backend>(
    backend: &B,
    model: &mut Model,
    train: &Dataset,
    validation: Option<&Dataset>,
    config: &FitConfig,
    callbacks: &mut [&mut dyn Callback],
) -> Result<History, TrainError> {
    fit_with_input_hook(backend, model, train, validation, config, None, callbacks)
}

/// Where a training batch sits in a run, passed to an [`InputHook`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchPosition {
    /// 0-based epoch.
    pub epoch: usize,
    /// 0-based step within the epoch.
    pub step: usize,
    /// Examples in the batch.
    pub batch: usize,
}

/// A transform of each training batch's input on the backend, applied before the forward
/// pass (validation data is never passed through it).
pub(crate) type InputHook<'h, B> =
    dyn FnMut(&B, <B as Backend>::Tensor, BatchPosition) -> <B as Backend>::Tensor + 'h;

/// [`fit`], with every training batch's input passed through `hook` when given.
pub(crate) fn fit_with_input_hook<B: Backend>(
    backend: &B,
    model: &mut Model,
    train: &Dataset,
    validation: Option<&Dataset>,
    config: &FitConfig,
    mut hook: Option<&mut InputHook<'_, B>>,
    callbacks: &mut [&mut dyn Callback],
) -> Result<History, TrainError> {
    let loss = Loss::for_model(model).map_err(TrainError::Model)?;
    check_data(model, &loss, train, "training data")?;
    if let Some(v) = validation {
        check_data(model, &loss, v, "validation data")?;
    }
    if config.batch_size == 0 {
        return Err(TrainError::Config("batch size must be positive".into()));
    }
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
            let input = match hook.as_mut() {
                Some(h) => BatchInput::Device(h(
                    backend,
                    backend.from_slice(&images),
                    BatchPosition { epoch, step, batch },
                )),
                None => BatchInput::Host(&images),
            };
            let out = train_step(&net, &loss, input, &labels, rng.gen())
                .ok_or_else(|| TrainError::Model("training forward kept no tape".into()))?;
            opt.apply(&mut net, out.grads);
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
        let val = validation.map(|v| evaluate_network(&net, &loss, v, config.batch_size));
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
        if !callbacks.is_empty() {
            let snapshot = || {
                let mut m = model.clone();
                net.download_into(&mut m);
                m
            };
            for cb in callbacks.iter_mut() {
                cb.on_epoch_end(epoch, &logs, &snapshot).map_err(|source| {
                    TrainError::Callback {
                        epoch: epoch + 1,
                        source,
                    }
                })?;
            }
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

/// Loss and accuracy of `net` on `data`, `batch_size` examples at a time.
fn evaluate_network<B: Backend>(
    net: &Network<'_, B>,
    loss: &Loss,
    data: &Dataset,
    batch_size: usize,
) -> Evaluation {
    let per = data.image_len();
    let (mut loss_sum, mut correct) = (0f64, 0usize);
    let bs = batch_size.max(1);
    let mut start = 0;
    while start < data.len() {
        let end = (start + bs).min(data.len());
        let s = score_batch(
            net,
            loss,
            &data.images[start * per..end * per],
            &data.labels[start..end],
        );
        loss_sum += s.loss_sum;
        correct += s.correct;
        start = end;
    }
    Evaluation {
        loss: (loss_sum / data.len() as f64) as f32,
        accuracy: (correct as f64 / data.len() as f64) as f32,
    }
}

/// Loss and accuracy of `model` on `data` (Keras's `model.evaluate`).
pub fn evaluate<B: Backend>(
    backend: &B,
    model: &Model,
    data: &Dataset,
    batch_size: usize,
) -> Result<Evaluation, TrainError> {
    let loss = Loss::for_model(model).map_err(TrainError::Model)?;
    check_data(model, &loss, data, "evaluation data")?;
    let net = Network::new(backend, model);
    Ok(evaluate_network(&net, &loss, data, batch_size))
}
