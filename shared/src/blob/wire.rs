//! Reading the blob payload: postcard's wire format for exactly the blob types, without
//! serde's generic deserializer.
//!
//! The blob is written with `postcard` (serde `Serialize`, [`crate::blob::encode_into`]). On the
//! device the generic deserializer took 3.9 KiB of flash, more than the rest of the decoder and
//! binder together, so the payload is read here by hand, one function per type, in field
//! order. The rules are postcard 1.x's: unsigned integers as LEB128 varints of at most
//! `ceil(bits / 7)` bytes whose last byte carries no bits beyond the type's width (a
//! non-canonical but in-range encoding is accepted, as postcard does); `i32` zigzag-encoded; `f32`
//! four bytes little-endian; an `Option` one byte `0` or `1`; an enum its variant index as a
//! `u32` varint; a byte slice a `usize` varint length then the bytes, borrowed in place.
//! The unit tests below and the `blob` fuzz target check that this reader accepts exactly what
//! `postcard::take_from_bytes` accepts and returns the same values.

use crate::blob::error::BlobError;
use crate::blob::format::{
    Activation, BlobHeader, LayerDesc, LayerKind, LayerQuant, LayerRecord, Shape, WeightFormat,
};
use crate::padding::Padding;
use crate::quant::{PixelScaling, QuantParams};

/// A cursor over payload bytes. Its readers return `Option` and leave the reason for a `None`
/// in `fault`, so that the many small reads pass a register-sized result rather than a
/// [`BlobError`] (which halved the reader's flash on the device).
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    fault: (usize, &'static str),
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            fault: (0, ""),
        }
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or(&[])
    }

    /// Records why reading at `offset` failed; always `None`.
    #[cold]
    fn fail<T>(&mut self, offset: usize, what: &'static str) -> Option<T> {
        self.fault = (offset, what);
        None
    }

    /// The error for the last `None`.
    fn error(&self) -> BlobError {
        BlobError::Malformed {
            offset: self.fault.0,
            what: self.fault.1,
        }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let start = self.pos;
        match start
            .checked_add(n)
            .and_then(|end| self.bytes.get(start..end))
        {
            Some(out) => {
                self.pos = start + n;
                Some(out)
            }
            None => self.fail(start, "payload ends inside a value"),
        }
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    /// A `u32` LEB128 varint (postcard's `try_take_varint_u32`): at most 5 bytes, the fifth
    /// carrying 4 bits.
    #[inline(never)]
    fn u32(&mut self) -> Option<u32> {
        let start = self.pos;
        let mut out = 0u32;
        for i in 0..5 {
            let b = self.byte()?;
            out |= u32::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if i == 4 && b > 0x0F {
                    break;
                }
                return Some(out);
            }
        }
        self.fail(start, "varint out of range")
    }

    /// A `u64` LEB128 varint: at most 10 bytes, the tenth carrying 1 bit.
    #[cfg(target_pointer_width = "64")]
    fn u64(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut out = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            out |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if i == 9 && b > 0x01 {
                    break;
                }
                return Some(out);
            }
        }
        self.fail(start, "varint out of range")
    }

    /// A `usize` varint, as wide as the target's (as postcard reads slice lengths).
    fn usize(&mut self) -> Option<usize> {
        #[cfg(target_pointer_width = "64")]
        return Some(self.u64()? as usize);
        #[cfg(not(target_pointer_width = "64"))]
        return Some(self.u32()? as usize);
    }

    fn i32(&mut self) -> Option<i32> {
        let n = self.u32()?;
        Some(((n >> 1) as i32) ^ -((n & 1) as i32))
    }

    fn f32(&mut self) -> Option<f32> {
        let b = self.take(4)?;
        Some(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn slice(&mut self) -> Option<&'a [u8]> {
        let len = self.usize()?;
        self.take(len)
    }

    /// `Some(true)` when the option byte is 1, `Some(false)` when 0.
    fn is_some(&mut self) -> Option<bool> {
        let start = self.pos;
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => self.fail(start, "option tag is neither 0 nor 1"),
        }
    }

    /// An enum's variant index, checked against the number of variants.
    fn variant(&mut self, count: u32) -> Option<u32> {
        let start = self.pos;
        let v = self.u32()?;
        if v < count {
            Some(v)
        } else {
            self.fail(start, "unknown enum variant")
        }
    }

    fn format(&mut self) -> Option<WeightFormat> {
        Some(match self.variant(3)? {
            0 => WeightFormat::F32,
            1 => WeightFormat::F16,
            _ => WeightFormat::Int8,
        })
    }

    fn activation(&mut self) -> Option<Activation> {
        Some(match self.variant(4)? {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::Softmax,
            _ => Activation::Sigmoid,
        })
    }

    fn padding(&mut self) -> Option<Padding> {
        Some(match self.variant(2)? {
            0 => Padding::Valid,
            _ => Padding::Same,
        })
    }

    fn shape(&mut self) -> Option<Shape> {
        Some(Shape::new(self.u32()?, self.u32()?, self.u32()?))
    }

    fn quant_params(&mut self) -> Option<QuantParams> {
        Some(QuantParams {
            scale: self.f32()?,
            zero_point: self.i32()?,
        })
    }

    fn pixels(&mut self) -> Option<PixelScaling> {
        Some(match self.variant(2)? {
            0 => PixelScaling::Unit,
            _ => PixelScaling::Rescale {
                scale: self.f32()?,
                offset: self.f32()?,
            },
        })
    }

    fn kind(&mut self) -> Option<LayerKind> {
        Some(match self.variant(6)? {
            0 => LayerKind::Conv2d {
                kernel: self.u32()?,
                stride: self.u32()?,
                padding: self.padding()?,
                filters: self.u32()?,
                activation: self.activation()?,
            },
            v @ (1 | 2) => {
                let (pool, stride, padding) = (self.u32()?, self.u32()?, self.padding()?);
                if v == 1 {
                    LayerKind::MaxPool2d {
                        pool,
                        stride,
                        padding,
                    }
                } else {
                    LayerKind::AvgPool2d {
                        pool,
                        stride,
                        padding,
                    }
                }
            }
            3 => LayerKind::Flatten,
            4 => LayerKind::Dense {
                units: self.u32()?,
                activation: self.activation()?,
            },
            _ => LayerKind::Relu,
        })
    }

    fn read_header(&mut self, with_pixels: bool) -> Option<BlobHeader> {
        let format = self.format()?;
        let input = self.shape()?;
        let input_quant = if self.is_some()? {
            Some(self.quant_params()?)
        } else {
            None
        };
        let layer_count = self.u32()?;
        let pixels = if with_pixels {
            self.pixels()?
        } else {
            PixelScaling::Unit
        };
        Some(BlobHeader {
            format,
            input,
            input_quant,
            layer_count,
            pixels,
        })
    }

    fn read_record(&mut self) -> Option<LayerRecord<'a>> {
        let desc = LayerDesc {
            kind: self.kind()?,
            input: self.shape()?,
            output: self.shape()?,
        };
        let weights = self.slice()?;
        let bias = self.slice()?;
        let quant = if self.is_some()? {
            Some(LayerQuant {
                output: self.quant_params()?,
                weight_scales: self.slice()?,
                multipliers: self.slice()?,
                shifts: self.slice()?,
            })
        } else {
            None
        };
        Some(LayerRecord {
            desc,
            weights,
            bias,
            quant,
        })
    }

    /// A [`BlobHeader`]; `with_pixels: false` reads a version-1 header (no `pixels` field).
    pub(crate) fn header(&mut self, with_pixels: bool) -> Result<BlobHeader, BlobError> {
        self.read_header(with_pixels).ok_or_else(|| self.error())
    }

    /// A [`LayerRecord`], its arrays borrowed from the payload.
    pub(crate) fn record(&mut self) -> Result<LayerRecord<'a>, BlobError> {
        self.read_record().ok_or_else(|| self.error())
    }
}

#[cfg(test)]
mod tests {
    //! The reader against `postcard::take_from_bytes`, the decoder the blob format is defined
    //! by: on valid encodings, their mutations and truncations, and every varint edge.
    extern crate std;
    use std::format;
    use std::vec::Vec;

    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::*;

    /// A version-1 header (no `pixels`), as postcard reads it.
    #[derive(Debug, Serialize, Deserialize)]
    struct HeaderV1 {
        format: WeightFormat,
        input: Shape,
        input_quant: Option<QuantParams>,
        layer_count: u32,
    }

    /// Debug text: equal values print alike, and NaN payloads come from the same bytes.
    fn same<T: core::fmt::Debug>(a: &T, b: &T) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    fn agree_record(bytes: &[u8]) {
        let mut r = Reader::new(bytes);
        let ours = r.record().map(|v| (v, r.rest()));
        let theirs = postcard::take_from_bytes::<LayerRecord<'_>>(bytes);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert!(same(a, b), "{bytes:?}: {a:?} vs {b:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("record {bytes:?}: ours {ours:?}, postcard {theirs:?}"),
        }
    }

    fn agree_header(bytes: &[u8]) {
        let mut r = Reader::new(bytes);
        let ours = r.header(true).map(|v| (v, r.rest()));
        let theirs = postcard::take_from_bytes::<BlobHeader>(bytes);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert!(same(a, b), "{bytes:?}: {a:?} vs {b:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("header {bytes:?}: ours {ours:?}, postcard {theirs:?}"),
        }
        let mut r = Reader::new(bytes);
        let ours = r.header(false).map(|h| (h, r.rest()));
        let theirs = postcard::take_from_bytes::<HeaderV1>(bytes);
        match (&ours, &theirs) {
            (Ok((a, rest)), Ok((b, their_rest))) => {
                assert!(
                    (a.format, a.input, a.layer_count, a.pixels)
                        == (b.format, b.input, b.layer_count, PixelScaling::Unit)
                        && same(&a.input_quant, &b.input_quant)
                        && rest == their_rest,
                    "{bytes:?}: {a:?} vs {b:?}"
                )
            }
            (Err(_), Err(_)) => {}
            _ => panic!("v1 header {bytes:?}: ours {ours:?}, postcard {theirs:?}"),
        }
    }

    fn encode<T: Serialize>(v: &T) -> Vec<u8> {
        let mut buf = [0u8; 512];
        postcard::to_slice(v, &mut buf).unwrap().to_vec()
    }

    const ARRAYS: [&[u8]; 3] = [&[], &[1, 2, 3, 4], &[0xFF; 130]];

    /// Records of every kind, with small and 5-byte varints, both options, short and long
    /// slices (a 130-byte slice has a 2-byte length).
    fn sample_records() -> Vec<Vec<u8>> {
        let kinds = [
            LayerKind::Conv2d {
                kernel: 3,
                stride: u32::MAX,
                padding: Padding::Same,
                filters: 200,
                activation: Activation::Sigmoid,
            },
            LayerKind::MaxPool2d {
                pool: 2,
                stride: 1 << 28,
                padding: Padding::Valid,
            },
            LayerKind::AvgPool2d {
                pool: 127,
                stride: 128,
                padding: Padding::Same,
            },
            LayerKind::Flatten,
            LayerKind::Dense {
                units: 10,
                activation: Activation::Softmax,
            },
            LayerKind::Relu,
        ];
        let mut out = Vec::new();
        for (i, kind) in kinds.into_iter().enumerate() {
            for quant in [false, true] {
                let record = LayerRecord {
                    desc: LayerDesc {
                        kind,
                        input: Shape::new(28, 16_384, i as u32),
                        output: Shape::new(u32::MAX, 0, 1),
                    },
                    weights: ARRAYS[i % 3],
                    bias: ARRAYS[(i + 1) % 3],
                    quant: quant.then_some(LayerQuant {
                        output: QuantParams {
                            scale: 0.0039,
                            zero_point: if i % 2 == 0 { -128 } else { i32::MAX },
                        },
                        weight_scales: ARRAYS[(i + 2) % 3],
                        multipliers: ARRAYS[i % 3],
                        shifts: ARRAYS[1],
                    }),
                };
                out.push(encode(&record));
            }
        }
        out
    }

    fn sample_headers() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (format, quant) in [
            (
                WeightFormat::Int8,
                Some(QuantParams {
                    scale: 1.0 / 255.0,
                    zero_point: -128,
                }),
            ),
            (WeightFormat::F16, None),
            (
                WeightFormat::F32,
                Some(QuantParams {
                    scale: f32::NAN,
                    zero_point: i32::MIN,
                }),
            ),
        ] {
            for pixels in [
                PixelScaling::Unit,
                PixelScaling::Rescale {
                    scale: 1.0 / 127.5,
                    offset: -1.0,
                },
            ] {
                out.push(encode(&BlobHeader {
                    format,
                    input: Shape::new(180, 180, 3),
                    input_quant: quant,
                    layer_count: 7,
                    pixels,
                }));
            }
        }
        out
    }

    #[test]
    fn valid_encodings_and_truncations_agree() {
        for bytes in sample_records() {
            agree_record(&bytes);
            for cut in 0..bytes.len() {
                agree_record(&bytes[..cut]);
            }
        }
        for bytes in sample_headers() {
            agree_header(&bytes);
            for cut in 0..bytes.len() {
                agree_header(&bytes[..cut]);
            }
        }
    }

    #[test]
    fn every_varint_edge_agrees() {
        // A Flatten record (variant 3) whose input height is the varint under test, then the
        // rest of the record: w, c, the output shape, two empty slices, no quantization.
        let tail = [1u8, 1, 1, 1, 1, 0, 0, 0];
        let mut lasts: Vec<u8> = (0..=0x20).collect();
        lasts.extend([0x7F, 0x80, 0xFF]);
        for len in 1..=11 {
            for &last in &lasts {
                for fill in [0x80u8, 0xFF] {
                    let mut bytes = std::vec![3u8];
                    bytes.extend(core::iter::repeat_n(fill, len - 1));
                    bytes.push(last);
                    bytes.extend_from_slice(&tail);
                    agree_record(&bytes);
                }
            }
        }
        // Slice lengths (usize varints) of every width, then too few bytes or enough.
        for len in 1..=11 {
            for &last in &lasts {
                let mut bytes = encode(&LayerDesc {
                    kind: LayerKind::Flatten,
                    input: Shape::new(1, 1, 1),
                    output: Shape::new(1, 1, 1),
                });
                bytes.extend(core::iter::repeat_n(0x80u8, len - 1));
                bytes.push(last);
                bytes.extend([0u8; 40]);
                agree_record(&bytes);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn mutated_encodings_agree(
            which in 0usize..18,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let records = sample_records();
            let headers = sample_headers();
            let (mut bytes, is_record) = if which < records.len() {
                (records[which].clone(), true)
            } else {
                (headers[which - records.len()].clone(), false)
            };
            for (at, value) in edits {
                let n = bytes.len();
                bytes[at % n] = value;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            if is_record {
                agree_record(&bytes);
            } else {
                agree_header(&bytes);
            }
        }

        #[test]
        fn random_bytes_agree(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            agree_record(&bytes);
            agree_header(&bytes);
        }
    }
}
