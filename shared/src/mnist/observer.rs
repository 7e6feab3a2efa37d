//! Per-layer outputs, for comparing a run layer by layer with an external reference.

use crate::blob::LayerDesc;
use crate::quant::QuantParams;

/// The output of one layer during a run.
#[derive(Clone, Copy, Debug)]
pub struct LayerOutput<'a, T> {
    /// Layer index in the architecture (0 = first conv, 6 = dense).
    pub index: usize,
    /// The layer's description.
    pub desc: LayerDesc,
    /// The output tensor, HWC (for the dense layer: the logits, before softmax).
    pub data: &'a [T],
    /// The output's quantization (int8 runs).
    pub quant: Option<QuantParams>,
}
