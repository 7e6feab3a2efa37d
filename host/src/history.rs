//! Per-epoch training metrics, like Keras's `History.history`.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Metrics of one epoch, passed to callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLogs {
    /// Mean training loss over the epoch's batches (weighted by batch size).
    pub loss: f32,
    /// Training accuracy over the epoch.
    pub accuracy: f32,
    /// Validation loss, when validation data was given.
    pub val_loss: Option<f32>,
    /// Validation accuracy, when validation data was given.
    pub val_accuracy: Option<f32>,
    /// Wall-clock seconds of the epoch (training and validation).
    pub seconds: f64,
}

/// Metrics of every epoch; serialises as
/// `{"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...], "epoch_seconds": [...]}`
/// (the validation lists are omitted when empty).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Training loss per epoch.
    pub loss: Vec<f32>,
    /// Training accuracy per epoch.
    pub accuracy: Vec<f32>,
    /// Validation loss per epoch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub val_loss: Vec<f32>,
    /// Validation accuracy per epoch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub val_accuracy: Vec<f32>,
    /// Seconds per epoch.
    #[serde(default)]
    pub epoch_seconds: Vec<f64>,
}

impl History {
    /// Appends one epoch.
    pub fn push(&mut self, logs: &EpochLogs) {
        self.loss.push(logs.loss);
        self.accuracy.push(logs.accuracy);
        if let (Some(l), Some(a)) = (logs.val_loss, logs.val_accuracy) {
            self.val_loss.push(l);
            self.val_accuracy.push(a);
        }
        self.epoch_seconds.push(logs.seconds);
    }

    /// Pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("history serialises")
    }

    /// Writes the JSON to `path` atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::atomic::write_atomic(path, self.to_json().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_keys() {
        let mut h = History::default();
        h.push(&EpochLogs {
            loss: 0.5,
            accuracy: 0.8,
            val_loss: Some(0.4),
            val_accuracy: Some(0.85),
            seconds: 1.5,
        });
        let json = h.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["val_accuracy"][0].as_f64().unwrap() as f32, 0.85);
        assert_eq!(serde_json::from_str::<History>(&json).unwrap(), h);
        let no_val = History {
            loss: vec![1.0],
            accuracy: vec![0.5],
            ..Default::default()
        };
        assert!(!no_val.to_json().contains("val_loss"));
    }
}
