//! Validated weight and requantization sets for the int8 layers.

use crate::float::params::check_len;
use crate::float::WeightLenError;
use crate::quant::{multiply_by_quantized_multiplier, QMAX, QMIN};
use crate::weights::I32Le;

/// A quantization parameter of an int8 layer is out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantLayerError {
    /// A tensor has the wrong number of values (or a byte length that is not a whole number
    /// of values).
    #[error(transparent)]
    Length(#[from] WeightLenError),
    /// A shift is outside `-31..=30`.
    #[error("channel {channel}: shift {shift} outside -31..=30")]
    Shift {
        /// Output channel.
        channel: usize,
        /// The shift found.
        shift: i32,
    },
    /// A multiplier is negative.
    #[error("channel {channel}: negative multiplier {multiplier}")]
    Multiplier {
        /// Output channel.
        channel: usize,
        /// The multiplier found.
        multiplier: i32,
    },
    /// A zero point is outside `-128..=127`.
    #[error("zero point {0} outside -128..=127")]
    ZeroPoint(i32),
}

/// Per-output-channel requantization: biases (i32), Q31 multipliers and shifts, plus the input
/// and output zero points and the fused activation's clamp range.
///
/// The number of channels is a run-time value here; [`Requant`] fixes it in the type.
#[derive(Clone, Copy, Debug)]
pub struct ChannelRequant<'a> {
    bias: I32Le<'a>,
    multipliers: I32Le<'a>,
    shifts: &'a [u8],
    input_offset: i32,
    output_zero_point: i32,
    act_min: i32,
    act_max: i32,
}

fn i32s<'a>(tensor: &'static str, bytes: &'a [u8], n: usize) -> Result<I32Le<'a>, WeightLenError> {
    if bytes.len() != n * 4 {
        return Err(WeightLenError {
            tensor,
            expected: n * 4,
            found: bytes.len(),
            unit: "bytes",
        });
    }
    I32Le::new(bytes).ok_or(WeightLenError {
        tensor,
        expected: n * 4,
        found: bytes.len(),
        unit: "bytes",
    })
}

impl<'a> ChannelRequant<'a> {
    /// Validates and bundles the requantization of a layer with `channels` output channels.
    ///
    /// `bias` and `multipliers` are i32 little-endian (`channels` each), `shifts` one i8 per
    /// channel. `relu` clamps the output at the output zero point (quantized 0).
    pub fn new(
        channels: usize,
        bias: &'a [u8],
        multipliers: &'a [u8],
        shifts: &'a [u8],
        input_zero_point: i32,
        output_zero_point: i32,
        relu: bool,
    ) -> Result<Self, QuantLayerError> {
        let bias = i32s("bias", bias, channels)?;
        let multipliers = i32s("multipliers", multipliers, channels)?;
        check_len("shifts", channels, shifts.len())?;
        for zp in [input_zero_point, output_zero_point] {
            if !(QMIN..=QMAX).contains(&zp) {
                return Err(QuantLayerError::ZeroPoint(zp));
            }
        }
        for (channel, &shift) in shifts.iter().enumerate() {
            let shift = shift as i8 as i32;
            if !(-31..=30).contains(&shift) {
                return Err(QuantLayerError::Shift { channel, shift });
            }
            let multiplier = multipliers.get(channel).unwrap_or(0);
            if multiplier < 0 {
                return Err(QuantLayerError::Multiplier {
                    channel,
                    multiplier,
                });
            }
        }
        Ok(Self {
            bias,
            multipliers,
            shifts,
            input_offset: -input_zero_point,
            output_zero_point,
            act_min: if relu { output_zero_point } else { QMIN },
            act_max: QMAX,
        })
    }

    /// Number of output channels.
    pub fn channels(&self) -> usize {
        self.bias.len()
    }

    /// Minus the input zero point, added to every input value before the MAC.
    pub fn input_offset(&self) -> i32 {
        self.input_offset
    }

    /// The output zero point.
    pub fn output_zero_point(&self) -> i32 {
        self.output_zero_point
    }

    /// Bias of channel `c` (0 outside `0..CO`, which the kernels never ask for).
    #[inline(always)]
    pub fn bias(&self, c: usize) -> i32 {
        self.bias.get(c).unwrap_or(0)
    }

    /// Channel `c`'s Q31 multiplier and shift (`(0, 0)` outside `0..CO`), for kernels that
    /// fuse the requantization (`crate::arm_dsp`).
    #[inline(always)]
    pub fn multiplier_and_shift(&self, c: usize) -> (i32, i32) {
        let m = self.multipliers.get(c).unwrap_or(0);
        let s = self.shifts.get(c).map_or(0, |&s| s as i8 as i32);
        (m, s)
    }

    /// The fused activation's output range `(min, max)` in int8 codes.
    pub fn activation_range(&self) -> (i32, i32) {
        (self.act_min, self.act_max)
    }

    /// Brings channel `c`'s accumulator (bias included) to the output: TFLite's
    /// `MultiplyByQuantizedMultiplier`, plus the output zero point, clamped to the activation
    /// range.
    #[inline(always)]
    pub fn apply(&self, c: usize, acc: i32) -> i8 {
        #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
        return crate::arm_dsp::requant(self, c, acc);
        #[cfg(not(all(target_arch = "arm", feature = "arm-dsp")))]
        self.apply_portable(c, acc)
    }

    /// The portable body of [`ChannelRequant::apply`].
    #[cfg_attr(all(target_arch = "arm", feature = "arm-dsp"), allow(dead_code))]
    #[inline(always)]
    fn apply_portable(&self, c: usize, acc: i32) -> i8 {
        let m = self.multipliers.get(c).unwrap_or(0);
        let s = self.shifts.get(c).map_or(0, |&s| s as i8 as i32);
        let v = multiply_by_quantized_multiplier(acc, m, s).saturating_add(self.output_zero_point);
        v.clamp(self.act_min, self.act_max) as i8
    }
}

/// [`ChannelRequant`] for exactly `CO` output channels (the const-generic layers' form); it
/// derefs to the run-time form for the per-channel operations.
#[derive(Clone, Copy, Debug)]
pub struct Requant<'a, const CO: usize>(ChannelRequant<'a>);

impl<'a, const CO: usize> Requant<'a, CO> {
    /// [`ChannelRequant::new`] with `CO` channels.
    pub fn new(
        bias: &'a [u8],
        multipliers: &'a [u8],
        shifts: &'a [u8],
        input_zero_point: i32,
        output_zero_point: i32,
        relu: bool,
    ) -> Result<Self, QuantLayerError> {
        ChannelRequant::new(
            CO,
            bias,
            multipliers,
            shifts,
            input_zero_point,
            output_zero_point,
            relu,
        )
        .map(Self)
    }
}

impl<'a, const CO: usize> Requant<'a, CO> {
    /// A validated [`ChannelRequant`] as the requantization of a `CO`-channel layer; an error
    /// if it has another channel count.
    pub fn from_channels(rq: ChannelRequant<'a>) -> Result<Self, QuantLayerError> {
        check_len("bias", CO, rq.channels())?;
        Ok(Self(rq))
    }
}

impl<'a, const CO: usize> core::ops::Deref for Requant<'a, CO> {
    type Target = ChannelRequant<'a>;

    #[inline(always)]
    fn deref(&self) -> &ChannelRequant<'a> {
        &self.0
    }
}

/// Kernel (OHWI `[CO][K][K][CI]`, i8 bytes) and requantization of an int8 convolution.
#[derive(Clone, Copy, Debug)]
pub struct ConvI8Weights<'a, const K: usize, const CI: usize, const CO: usize> {
    kernel: &'a [u8],
    requant: Requant<'a, CO>,
}

impl<'a, const K: usize, const CI: usize, const CO: usize> ConvI8Weights<'a, K, CI, CO> {
    /// Checks the kernel length (`CO * K * K * CI` bytes).
    pub fn new(kernel: &'a [u8], requant: Requant<'a, CO>) -> Result<Self, QuantLayerError> {
        check_len("kernel", K * K * CI * CO, kernel.len())?;
        Ok(Self { kernel, requant })
    }

    /// The kernel bytes, OHWI.
    pub fn kernel(&self) -> &'a [u8] {
        self.kernel
    }

    /// The requantization.
    pub fn requant(&self) -> &Requant<'a, CO> {
        &self.requant
    }
}

/// Kernel (`[OUT][IN]`, i8 bytes) and requantization of an int8 dense layer.
#[derive(Clone, Copy, Debug)]
pub struct DenseI8Weights<'a, const IN: usize, const OUT: usize> {
    kernel: &'a [u8],
    requant: Requant<'a, OUT>,
}

impl<'a, const IN: usize, const OUT: usize> DenseI8Weights<'a, IN, OUT> {
    /// Checks the kernel length (`OUT * IN` bytes).
    pub fn new(kernel: &'a [u8], requant: Requant<'a, OUT>) -> Result<Self, QuantLayerError> {
        check_len("kernel", IN * OUT, kernel.len())?;
        Ok(Self { kernel, requant })
    }

    /// The kernel bytes, `[OUT][IN]`.
    pub fn kernel(&self) -> &'a [u8] {
        self.kernel
    }

    /// The requantization.
    pub fn requant(&self) -> &Requant<'a, OUT> {
        &self.requant
    }
}
