//! The per-layer export report: shapes, parameter and activation bytes, quantization
//! parameters, MACs, and the flash and RAM the device needs.

use std::fmt;

use serde::{Deserialize, Serialize};
use shared::blob::{LayerKind, PixelScaling};
use shared::int8::interpreter::Interpreter;
use shared::mnist::{
    MNIST_F16_RAM_BYTES, MNIST_F32_RAM_BYTES, MNIST_F32_SCRATCH_BYTES, MNIST_INT8_RAM_BYTES,
    MNIST_INT8_SCRATCH_BYTES,
};
use shared::quant::QuantParams;

use crate::quantize::calibrate::{Calibration, Range};
use crate::quantize::convert::{describe, is_mnist, FloatNetwork};
use crate::quantize::int8::Int8Quantization;
use crate::quantize::ExportFormat;
use crate::quantize::QuantizeError;

/// Bytes per output channel of an int8 layer's requantization arrays: weight scale (f32),
/// multiplier (i32), shift (i8).
pub const INT8_CHANNEL_BYTES: usize = 4 + 4 + 1;

/// One layer of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    /// Index in the device network.
    pub index: usize,
    /// Name in the float model.
    pub name: String,
    /// Kind, hyper-parameters and shapes (`Conv2D(32, 3×3, …) 28×28×1 → 26×26×32`).
    pub layer: String,
    /// Output shape `[h, w, c]`.
    pub output: [u32; 3],
    /// Trainable parameters.
    pub params: usize,
    /// Bytes of weights, biases and (int8) per-channel requantization arrays in the blob.
    pub param_bytes: usize,
    /// Bytes of the output activation tensor (int8: 1 per value; f32/f16 blobs: 4).
    pub activation_bytes: usize,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// int8: scale and zero point of the output activation.
    pub output_quant: Option<QuantParams>,
    /// int8: smallest and largest per-channel weight scale.
    pub weight_scales: Option<Range>,
    /// int8: smallest and largest requantization shift.
    pub shifts: Option<[i32; 2]>,
    /// int8: the output range measured in calibration (before the method's clipping).
    pub observed: Option<Range>,
}

/// The whole report of one exported blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The blob's format.
    pub format: ExportFormat,
    /// How a pixel becomes the network input.
    pub pixels: PixelScaling,
    /// int8: the network input's quantization.
    pub input_quant: Option<QuantParams>,
    /// int8: number of calibration images and the range method.
    pub calibration: Option<String>,
    /// The layers.
    pub layers: Vec<LayerReport>,
    /// Total parameters.
    pub params: usize,
    /// Total parameter bytes.
    pub param_bytes: usize,
    /// Total multiply-accumulates per inference.
    pub macs: u64,
    /// Blob size: the flash the model occupies on the device (code not included).
    pub flash_bytes: usize,
    /// Bytes of the activation arena: the MNIST scratch for the MNIST network, else the
    /// interpreter's plan (`max` over layers of input + output bytes).
    pub arena_bytes: usize,
    /// RAM of one inference: arena plus the bound network view (the MNIST view, or the int8
    /// interpreter as laid out on this host; stack of the kernels not included, under 1 KiB).
    pub ram_bytes: usize,
    /// Whether the device runs the network through `shared`'s hand-written MNIST path (else
    /// through the int8 interpreter).
    pub mnist_fast_path: bool,
}

fn macs(kind: &LayerKind, input_c: u64, output: [u64; 3]) -> u64 {
    let [oh, ow, oc] = output;
    match *kind {
        LayerKind::Conv2d { kernel, .. } => oh * ow * oc * (kernel as u64).pow(2) * input_c,
        LayerKind::Dense { .. } => oc * input_c,
        _ => 0,
    }
}

impl Report {
    /// The report of `net` exported as `format` into `blob`; `int8` and `calibration`
    /// describe an int8 export.
    pub fn new(
        net: &FloatNetwork,
        format: ExportFormat,
        blob: &[u8],
        int8: Option<&Int8Quantization>,
        calibration: Option<&Calibration>,
    ) -> Result<Self, QuantizeError> {
        let layers: Vec<LayerReport> = net
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let params = l.kernel.len() + l.bias.len();
                let out = l.out_channels();
                let param_bytes = match format {
                    ExportFormat::Int8 if params > 0 => {
                        l.kernel.len() + 4 * l.bias.len() + INT8_CHANNEL_BYTES * out
                    }
                    ExportFormat::Int8 => 0,
                    ExportFormat::F32 => 4 * params,
                    ExportFormat::F16 => 2 * params,
                };
                let act = if format == ExportFormat::Int8 { 1 } else { 4 };
                let o = l.desc.output;
                let q = int8.and_then(|q| q.layers.get(i));
                let scales = q.filter(|q| !q.weight_scales.is_empty()).map(|q| Range {
                    min: q
                        .weight_scales
                        .iter()
                        .copied()
                        .fold(f32::INFINITY, f32::min),
                    max: q.weight_scales.iter().copied().fold(0.0, f32::max),
                });
                let shifts = q.filter(|q| !q.shifts.is_empty()).map(|q| {
                    [
                        q.shifts.iter().copied().min().unwrap_or(0),
                        q.shifts.iter().copied().max().unwrap_or(0),
                    ]
                });
                LayerReport {
                    index: i,
                    name: l.name.clone(),
                    layer: describe(&l.desc),
                    output: [o.h, o.w, o.c],
                    params,
                    param_bytes,
                    activation_bytes: act * o.len(),
                    macs: macs(
                        &l.desc.kind,
                        l.desc.input.c as u64,
                        [o.h as u64, o.w as u64, o.c as u64],
                    ),
                    output_quant: q.map(|q| q.output),
                    weight_scales: scales,
                    shifts,
                    observed: calibration.and_then(|c| c.observed.get(i).copied()),
                }
            })
            .collect();
        let mnist = is_mnist(net);
        let (arena_bytes, ram_bytes) = match format {
            ExportFormat::Int8 if mnist => (MNIST_INT8_SCRATCH_BYTES, MNIST_INT8_RAM_BYTES),
            ExportFormat::F32 if mnist => (MNIST_F32_SCRATCH_BYTES, MNIST_F32_RAM_BYTES),
            ExportFormat::F16 if mnist => (MNIST_F32_SCRATCH_BYTES, MNIST_F16_RAM_BYTES),
            ExportFormat::Int8 => {
                let arena = Interpreter::from_blob(blob)?.arena_len();
                (arena, arena + std::mem::size_of::<Interpreter<'static>>())
            }
            ExportFormat::F32 | ExportFormat::F16 => {
                // No float network other than MNIST's runs on the device: the plan's size.
                let arena = 4 * float_arena(net);
                (arena, arena)
            }
        };
        Ok(Report {
            format,
            pixels: net.pixels,
            input_quant: int8.map(|q| q.input),
            calibration: calibration.map(|c| format!("{} images, {}", c.images, c.method)),
            params: layers.iter().map(|l| l.params).sum(),
            param_bytes: layers.iter().map(|l| l.param_bytes).sum(),
            macs: layers.iter().map(|l| l.macs).sum(),
            layers,
            flash_bytes: blob.len(),
            arena_bytes,
            ram_bytes,
            mnist_fast_path: mnist,
        })
    }
}

/// Activation values of the ping-pong plan: the largest input + output of any layer that
/// moves data (flatten does not).
fn float_arena(net: &FloatNetwork) -> usize {
    let mut len = net.input.len();
    let mut most = len;
    for l in &net.layers {
        let out = l.desc.output.len();
        if l.desc.kind != LayerKind::Flatten {
            most = most.max(len + out);
        }
        len = out;
    }
    most
}

fn quant(q: Option<QuantParams>) -> String {
    q.map_or_else(
        || "-".into(),
        |q| format!("{:.6} / {:>4}", q.scale, q.zero_point),
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} blob", self.format)?;
        let pixels = match self.pixels {
            PixelScaling::Unit => "pixel / 255".to_string(),
            PixelScaling::Rescale { scale, offset } => {
                format!("pixel * {scale} + {offset} (folded Rescaling)")
            }
        };
        match self.input_quant {
            Some(q) => writeln!(
                f,
                "input: {pixels}, scale {:.6}, zero point {}",
                q.scale, q.zero_point
            )?,
            None => writeln!(f, "input: {pixels}")?,
        }
        if let Some(c) = &self.calibration {
            writeln!(f, "calibration: {c}")?;
        }
        writeln!(
            f,
            "{:>2}  {:<60} {:>8} {:>9} {:>10} {:>10}  {:<20} {:<23} {:<7} {:<24}",
            "#",
            "layer",
            "params",
            "par bytes",
            "act bytes",
            "MACs",
            "out scale / zp",
            "weight scales",
            "shifts",
            "calibrated range"
        )?;
        for l in &self.layers {
            let layer = format!("{} {}", l.name, l.layer);
            writeln!(
                f,
                "{:>2}  {:<60} {:>8} {:>9} {:>10} {:>10}  {:<20} {:<23} {:<7} {:<24}",
                l.index,
                layer,
                l.params,
                l.param_bytes,
                l.activation_bytes,
                l.macs,
                quant(l.output_quant),
                l.weight_scales
                    .map_or("-".into(), |r| format!("{:.2e}..{:.2e}", r.min, r.max)),
                l.shifts.map_or("-".into(), |[a, b]| format!("{a}..{b}")),
                l.observed
                    .map_or("-".into(), |r| format!("[{:.3}, {:.3}]", r.min, r.max)),
            )?;
        }
        writeln!(
            f,
            "total: {} params, {} parameter bytes, {} MACs per inference",
            self.params, self.param_bytes, self.macs
        )?;
        writeln!(
            f,
            "device: flash {} bytes (blob), RAM {} bytes ({} activation arena + network view as laid out on this host), {}",
            self.flash_bytes,
            self.ram_bytes,
            self.arena_bytes,
            if self.mnist_fast_path {
                "MNIST fast path"
            } else {
                "int8 interpreter"
            }
        )
    }
}
