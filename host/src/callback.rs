//! Callbacks run by [`crate::train::fit`] after each epoch, and a best-model checkpoint.

use std::path::PathBuf;

use crate::history::EpochLogs;
use crate::model::Model;

/// An error raised by a callback.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

/// Hook called by training at the end of every epoch.
pub trait Callback {
    /// `epoch` is 0-based; `snapshot` downloads the current weights into a [`Model`] (only
    /// call it when needed: it copies every weight from the device).
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &EpochLogs,
        snapshot: &dyn Fn() -> Model,
    ) -> Result<(), CallbackError>;
}

/// Saves the model to `dir` whenever the monitored loss improves (Keras's
/// `ModelCheckpoint(save_best_only=True, monitor="val_loss")`; it monitors the training
/// loss when there is no validation data).
#[derive(Clone, Debug)]
pub struct BestCheckpoint {
    /// Output directory (see [`crate::save`] for the format).
    pub dir: PathBuf,
    /// Best loss so far.
    pub best: Option<f32>,
    /// Epoch (0-based) of the best loss.
    pub best_epoch: Option<usize>,
}

impl BestCheckpoint {
    /// A checkpoint writing into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            best: None,
            best_epoch: None,
        }
    }
}

impl Callback for BestCheckpoint {
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &EpochLogs,
        snapshot: &dyn Fn() -> Model,
    ) -> Result<(), CallbackError> {
        let monitored = logs.val_loss.unwrap_or(logs.loss);
        if self.best.is_none_or(|b| monitored < b) {
            crate::save::save(&snapshot(), &self.dir)?;
            self.best = Some(monitored);
            self.best_epoch = Some(epoch);
        }
        Ok(())
    }
}
