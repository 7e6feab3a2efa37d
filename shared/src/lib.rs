//! `shared`: the `no_std`, allocation-free inference code of tinyconv — everything the
//! Cortex-M4F runs. Host tests and benchmarks run exactly this code.
//!
//! # API overview
//!
//! * Layers ([`layers`]): [`layers::Conv2d`], [`layers::MaxPool2d`], [`layers::AvgPool2d`],
//!   [`layers::Dense`], [`layers::Flatten`]. Shapes, kernel, stride and padding
//!   ([`padding::Valid`] / [`padding::Same`], Keras/TF rule) are type parameters, checked at
//!   compile time. Tensors are HWC views ([`tensor::TensorRef`], [`tensor::TensorMut`]).
//!   * f32 path ([`float`]): `layer.forward(&weights, input, output)` with weights in Keras
//!     layout (conv HWIO, dense `[in][out]`) from any [`weights::WeightStore`] (`&[f32]`,
//!     [`weights::F32Le`], [`weights::F16Le`]); [`float::relu`], [`float::softmax`],
//!     [`float::argmax`].
//!   * int8 path ([`int8`]): `layer.forward_i8(&weights, input, output)`, TFLite scheme, integer
//!     only; conv kernels OHWI, dense `[out][in]` ([`layout::hwio_to_ohwi`],
//!     [`layout::io_to_oi`] convert from Keras). The MAC core is [`int8::dot::dot_offset`].
//! * Quantization arithmetic ([`quant`]): [`quant::quantize_multiplier`],
//!   [`quant::multiply_by_quantized_multiplier`], [`quant::choose_quant_params`],
//!   [`quant::quantize`], [`quant::dequantize`], [`quant::symmetric_scale`],
//!   [`quant::quantize_symmetric`], [`quant::quantize_bias`], [`quant::quantize_pixel`].
//! * Model blob ([`blob`]): [`blob::Blob::decode`]`(&[u8]) -> Result<Blob<'_>, BlobError>`
//!   (zero-copy), [`blob::encode_into`]`(&BlobSpec, &mut [u8]) -> Result<usize, BlobError>`,
//!   [`blob::encoded_len`]`(&BlobSpec) -> Result<usize, BlobError>`.
//! * Any blob, layer by layer: [`int8::interpreter::Interpreter`] (int8) and
//!   [`float::interpreter::FloatInterpreter`] (f32/f16 weights, f32 activations), both
//!   validated once by the same layer plan, then `run(&pixels, &mut arena)`.
//! * MNIST network ([`mnist`]): [`mnist::MnistInt8`] (the const-generic fast path),
//!   [`mnist::MnistF32`], [`mnist::MnistF16`] (the float interpreter checked to be MNIST's)
//!   (`from_blob(&[u8])`, `predict(&[u8; 784], &mut scratch)`, `predict_observed` for
//!   layer-by-layer outputs), [`mnist::MnistScratchI8`] / [`mnist::MnistScratchF32`],
//!   [`mnist::MNIST_PARAMS`], [`mnist::MNIST_INT8_RAM_BYTES`], [`mnist::MNIST_F32_RAM_BYTES`].
//!
//! # Signatures the host and the firmware use
//!
//! ```text
//! // blob
//! Blob::decode(bytes: &'a [u8]) -> Result<Blob<'a>, BlobError>
//! Blob::layers(&self) -> LayerIter<'a>            // Iterator<Item = LayerRecord<'a>>
//! encoded_len(spec: &BlobSpec<'_, '_>) -> Result<usize, BlobError>
//! encode_into(spec: &BlobSpec<'_, '_>, out: &mut [u8]) -> Result<usize, BlobError>
//! BlobSpec { format: WeightFormat, input: Shape, input_quant: Option<QuantParams>,
//!            layers: &[LayerRecord<'a>] }
//! LayerRecord { desc: LayerDesc, weights: &[u8], bias: &[u8], quant: Option<LayerQuant> }
//! LayerQuant { output: QuantParams, weight_scales: &[u8], multipliers: &[u8], shifts: &[u8] }
//! // MNIST
//! MnistInt8::from_blob(bytes: &'a [u8]) -> Result<MnistInt8<'a>, BlobError>
//! MnistInt8::predict(&self, image: &[u8; 784], scratch: &mut MnistScratchI8) -> PredictionI8
//! PredictionI8 { digit: u8, scores: [i8; 10] }   // int8 logits
//! MnistInt8::probabilities(&self, scores: &[i8; 10]) -> [f32; 10]
//! MnistInt8::predict_observed(&self, image, scratch, observe: impl FnMut(LayerOutput<'_, i8>))
//! MnistInt8::predict_quantized(&self, input: &[i8; 784], scratch, observe) -> PredictionI8
//! MnistF32::from_blob / MnistF16::from_blob (bytes) -> Result<_, BlobError>
//! MnistF32::predict(&self, image: &[u8; 784], scratch: &mut MnistScratchF32) -> PredictionF32
//! PredictionF32 { digit: u8, probabilities: [f32; 10] }
//! MnistF32::predict_observed(..) / predict_f32(&self, input: &[f32; 784], scratch, observe)
//! // quantization (host side)
//! quantize_multiplier(m: f64) -> (i32, i32)
//! multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32
//! choose_quant_params(min: f32, max: f32) -> Result<QuantParams, QuantError>
//! quantize(x: f32, scale: f32, zero_point: i32) -> i8
//! dequantize(q: i8, scale: f32, zero_point: i32) -> f32
//! symmetric_scale(max_abs: f32) -> f32;  quantize_symmetric(w: f32, scale: f32) -> i8
//! quantize_bias(b: f32, input_scale: f32, weight_scale: f32) -> i32
//! real_multiplier(input_scale: f32, weight_scale: f32, output_scale: f32) -> f64
//! hwio_to_ohwi(src, kh, kw, ci, co, dst) / io_to_oi(src, inputs, outputs, dst)
//! ```
//!
//! # Example
//!
//! ```no_run
//! use shared::mnist::{MnistInt8, MnistScratchI8};
//! # fn run(blob_bytes: &[u8], image: &[u8; 784]) -> Result<(), shared::blob::BlobError> {
//! let net = MnistInt8::from_blob(blob_bytes)?;
//! let mut scratch = MnistScratchI8::new();
//! let prediction = net.predict(image, &mut scratch);
//! let probabilities = net.probabilities(&prediction.scores);
//! # let _ = probabilities; Ok(()) }
//! ```
#![no_std]
#![warn(missing_docs)]

#[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
mod arm_dsp;
pub mod blob;
pub mod float;
pub mod int8;
pub mod layers;
pub mod layout;
pub mod mnist;
pub mod padding;
mod plan;
pub mod quant;
pub mod tensor;
pub mod weights;
pub mod window;
