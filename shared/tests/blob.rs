//! The blob format: round trips, zero-copy decoding, and typed errors (never a panic) for
//! truncated, corrupted, hostile or mismatched blobs.

mod common;

use common::blobs::{float_blob, int8_blob, random_images, random_weights};
use proptest::prelude::*;
use shared::blob::{
    encode_into, encoded_len, Activation, Blob, BlobError, BlobHeader, BlobSpec, LayerDesc,
    LayerKind, LayerRecord, Shape, WeightFormat, CRC, HEADER_LEN,
};
use shared::mnist::{MnistF16, MnistF32, MnistInt8, MnistScratchI8, MNIST_ARCH};
use std::sync::OnceLock;

fn int8() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| int8_blob(&random_weights(1), &random_images(2, 8)))
}

fn f32_blob() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| float_blob(&random_weights(1), false))
}

/// Rewrites the header checksum so that a modified payload passes the CRC check.
fn fix_crc(blob: &mut [u8]) {
    let crc = CRC.checksum(&blob[HEADER_LEN..]);
    blob[10..14].copy_from_slice(&crc.to_le_bytes());
}

/// Encodes without the encoder's checks (as a hostile or buggy writer could).
fn raw_blob(header: &BlobHeader, records: &[LayerRecord<'_>]) -> Vec<u8> {
    let mut payload = vec![0u8; 1 << 20];
    let mut n = postcard::to_slice(header, &mut payload).unwrap().len();
    for r in records {
        n += postcard::to_slice(r, &mut payload[n..]).unwrap().len();
    }
    payload.truncate(n);
    let mut b = Vec::new();
    b.extend_from_slice(b"TCNV");
    b.extend_from_slice(&shared::blob::FORMAT_VERSION.to_le_bytes());
    b.extend_from_slice(&(n as u32).to_le_bytes());
    b.extend_from_slice(&CRC.checksum(&payload).to_le_bytes());
    b.extend_from_slice(&payload);
    b
}

/// Decodes with every entry point; must never panic. Runs a bound int8 network once.
fn decode_all(bytes: &[u8]) -> Result<(), BlobError> {
    let blob = Blob::decode(bytes)?;
    for _ in blob.layers() {}
    let _ = MnistF32::from_decoded(&blob);
    let _ = MnistF16::from_decoded(&blob);
    if let Ok(net) = MnistInt8::from_decoded(&blob) {
        let mut scratch = Box::new(MnistScratchI8::new());
        let p = net.predict(&[200; 784], &mut scratch);
        assert!(p.digit < 10);
    }
    Ok(())
}

#[test]
fn round_trip_borrows_the_weights() {
    for (bytes, format) in [
        (int8(), WeightFormat::Int8),
        (f32_blob(), WeightFormat::F32),
        (&float_blob(&random_weights(1), true)[..], WeightFormat::F16),
    ] {
        let blob = Blob::decode(bytes).unwrap();
        assert_eq!(blob.format(), format);
        assert_eq!(blob.layer_count(), 7);
        let range = bytes.as_ptr_range();
        for (record, desc) in blob.layers().zip(MNIST_ARCH) {
            assert_eq!(record.desc, desc);
            for s in [record.weights, record.bias] {
                if !s.is_empty() {
                    assert!(range.contains(&s.as_ptr()), "weights are not borrowed");
                }
            }
        }
    }
    // f32: 104,202 params × 4 bytes plus descriptions.
    assert!(f32_blob().len() > 104_202 * 4 && f32_blob().len() < 104_202 * 4 + 1024);
    assert!(int8().len() > 104_202 && int8().len() < 104_202 + 4096);
}

#[test]
fn encoding_is_exact_and_checks_the_buffer() {
    let records = [LayerRecord {
        desc: LayerDesc {
            kind: LayerKind::Dense {
                units: 2,
                activation: Activation::None,
            },
            input: Shape::new(1, 1, 3),
            output: Shape::new(1, 1, 2),
        },
        weights: &[1, 2, 3, 4],
        bias: &[5],
        quant: None,
    }];
    let spec = BlobSpec {
        format: WeightFormat::F32,
        input: Shape::new(1, 1, 3),
        input_quant: None,
        pixels: shared::blob::PixelScaling::Unit,
        layers: &records,
    };
    let n = encoded_len(&spec).unwrap();
    let mut buf = vec![0u8; 256];
    assert_eq!(encode_into(&spec, &mut buf).unwrap(), n);
    let blob = Blob::decode(&buf[..n]).unwrap();
    assert_eq!(blob.layers().next().unwrap(), records[0]);
    assert_eq!(
        encode_into(&spec, &mut buf[..n - 1]),
        Err(BlobError::BufferTooSmall {
            needed: n,
            available: n - 1
        })
    );
    // A float blob with quantization parameters is rejected by the encoder and the decoder.
    let q = [LayerRecord {
        quant: Some(shared::blob::LayerQuant {
            output: shared::quant::QuantParams {
                scale: 1.0,
                zero_point: 0,
            },
            weight_scales: &[],
            multipliers: &[],
            shifts: &[],
        }),
        ..records[0]
    }];
    let bad = BlobSpec { layers: &q, ..spec };
    assert!(matches!(
        encode_into(&bad, &mut buf),
        Err(BlobError::Quant { layer: Some(0), .. })
    ));
    // Forged, it is rejected by the decoder.
    let header = BlobHeader {
        format: WeightFormat::F32,
        input: Shape::new(1, 1, 3),
        input_quant: None,
        layer_count: 1,
        pixels: shared::blob::PixelScaling::Unit,
    };
    assert!(matches!(
        Blob::decode(&raw_blob(&header, &q)),
        Err(BlobError::Quant { layer: Some(0), .. })
    ));
    // Input quantization in a float blob, too.
    let header = BlobHeader {
        input_quant: q[0].quant.map(|q| q.output),
        ..header
    };
    assert!(matches!(
        Blob::decode(&raw_blob(&header, &records)),
        Err(BlobError::Quant { layer: None, .. })
    ));
    assert!(Blob::decode(&raw_blob(
        &BlobHeader {
            input_quant: None,
            ..header
        },
        &records
    ))
    .is_ok());
}

#[test]
fn float_weight_byte_lengths_are_checked() {
    let blob = Blob::decode(f32_blob()).unwrap();
    let mut records: Vec<LayerRecord<'_>> = blob.layers().collect();
    let k = records[2].weights;
    records[2].weights = &k[..k.len() - 1];
    let bytes = raw_blob(blob.header(), &records);
    assert_eq!(
        MnistF32::from_blob(&bytes).unwrap_err(),
        BlobError::ByteLength {
            layer: 2,
            tensor: "kernel",
            bytes: k.len() - 1,
            value_size: 4
        }
    );
    records[2].weights = &k[..k.len() - 4];
    assert!(matches!(
        MnistF32::from_blob(&raw_blob(blob.header(), &records)),
        Err(BlobError::Layer { layer: 2, .. })
    ));
}

#[test]
fn every_truncation_is_a_typed_error() {
    for bytes in [int8(), f32_blob()] {
        for len in 0..bytes.len() {
            let err = Blob::decode(&bytes[..len]).unwrap_err();
            assert!(
                matches!(err, BlobError::Truncated { .. }),
                "len {len}: {err:?}"
            );
        }
    }
}

/// A version-1 header: version 2 appended `pixels`.
#[derive(serde::Serialize)]
struct HeaderV1 {
    format: WeightFormat,
    input: Shape,
    input_quant: Option<shared::quant::QuantParams>,
    layer_count: u32,
}

#[test]
fn version_1_blobs_decode_as_pixel_over_255() {
    let v2 = Blob::decode(int8()).unwrap();
    let h = *v2.header();
    let records: Vec<LayerRecord<'_>> = v2.layers().collect();
    let mut payload = vec![0u8; 1 << 20];
    let v1 = HeaderV1 {
        format: h.format,
        input: h.input,
        input_quant: h.input_quant,
        layer_count: h.layer_count,
    };
    let mut n = postcard::to_slice(&v1, &mut payload).unwrap().len();
    for r in &records {
        n += postcard::to_slice(r, &mut payload[n..]).unwrap().len();
    }
    payload.truncate(n);
    let mut b = b"TCNV".to_vec();
    b.extend_from_slice(&shared::blob::FORMAT_VERSION_1.to_le_bytes());
    b.extend_from_slice(&(n as u32).to_le_bytes());
    b.extend_from_slice(&CRC.checksum(&payload).to_le_bytes());
    b.extend_from_slice(&payload);
    let old = Blob::decode(&b).unwrap();
    assert_eq!(*old.header(), h, "the v2 test blob is pixel / 255 too");
    assert_eq!(old.layers().collect::<Vec<_>>(), records);
    // The same header bytes read as version 2 lack the `pixels` field.
    let mut as_v2 = b.clone();
    as_v2[4..6].copy_from_slice(&shared::blob::FORMAT_VERSION.to_le_bytes());
    assert!(
        matches!(
            Blob::decode(&as_v2),
            Err(BlobError::Malformed { .. } | BlobError::TrailingBytes { .. })
        ),
        "{:?}",
        Blob::decode(&as_v2)
    );
}

#[test]
fn header_errors_are_typed() {
    let mut b = int8().to_vec();
    b[0] = b'X';
    assert!(matches!(Blob::decode(&b), Err(BlobError::BadMagic { .. })));
    let mut b = int8().to_vec();
    b[4] = 3;
    assert_eq!(
        Blob::decode(&b).unwrap_err(),
        BlobError::UnsupportedVersion {
            found: 3,
            supported: 2
        }
    );
    let mut b = int8().to_vec();
    b.push(0);
    assert_eq!(
        Blob::decode(&b).unwrap_err(),
        BlobError::TrailingBytes { extra: 1 }
    );
    let mut b = int8().to_vec();
    let last = b.len() - 1;
    b[last] ^= 1;
    let err = Blob::decode(&b).unwrap_err();
    assert!(matches!(err, BlobError::Checksum { .. }));
    // The device's short form: the Display message without its numbers.
    assert_eq!(err.summary(), "blob checksum mismatch");
    assert!(err.to_string().starts_with(err.summary()));
    assert_eq!(err.layer(), None);
    let q = BlobError::Quant {
        layer: Some(2),
        what: "activation scale must be positive and finite",
    };
    assert_eq!(q.to_string(), format!("layer 2: {}", q.summary()));
    assert_eq!(q.layer(), Some(2));
}

#[test]
fn mismatched_blobs_are_rejected() {
    assert_eq!(
        MnistInt8::from_blob(f32_blob()).unwrap_err(),
        BlobError::WrongFormat {
            expected: WeightFormat::Int8,
            found: WeightFormat::F32
        }
    );
    assert!(matches!(
        MnistF32::from_blob(int8()),
        Err(BlobError::WrongFormat { .. })
    ));
    assert!(matches!(
        MnistF16::from_blob(f32_blob()),
        Err(BlobError::WrongFormat { .. })
    ));
    // Re-encode the decoded blob with one change at a time.
    let blob = Blob::decode(int8()).unwrap();
    let records: Vec<LayerRecord<'_>> = blob.layers().collect();
    let encode = |layers: &[LayerRecord<'_>], input: Shape| {
        let spec = BlobSpec {
            format: WeightFormat::Int8,
            input,
            input_quant: blob.header().input_quant,
            pixels: shared::blob::PixelScaling::Unit,
            layers,
        };
        let mut out = vec![0u8; encoded_len(&spec).unwrap()];
        encode_into(&spec, &mut out).unwrap();
        out
    };
    let ok = encode(&records, Shape::new(28, 28, 1));
    assert!(MnistInt8::from_blob(&ok).is_ok());
    assert!(matches!(
        MnistInt8::from_blob(&encode(&records, Shape::new(32, 32, 3))),
        Err(BlobError::InputShape { .. })
    ));
    assert_eq!(
        MnistInt8::from_blob(&encode(&records[..6], Shape::new(28, 28, 1))).unwrap_err(),
        BlobError::LayerCount {
            expected: 7,
            found: 6
        }
    );
    let mut changed = records.clone();
    if let LayerKind::Conv2d { filters, .. } = &mut changed[2].desc.kind {
        *filters = 65;
    }
    assert!(matches!(
        MnistInt8::from_blob(&encode(&changed, Shape::new(28, 28, 1))),
        Err(BlobError::Architecture { layer: 2, .. })
    ));
    let mut short = records.clone();
    short[4].weights = &records[4].weights[1..];
    assert!(matches!(
        MnistInt8::from_blob(&encode(&short, Shape::new(28, 28, 1))),
        Err(BlobError::Layer { layer: 4, .. })
    ));
    let mut no_quant = records.clone();
    no_quant[1].quant = None;
    assert!(matches!(
        MnistInt8::from_blob(&raw_blob(blob.header(), &no_quant)),
        Err(BlobError::Quant { layer: Some(1), .. })
    ));
    let mut pool_requant = records.clone();
    if let Some(q) = &mut pool_requant[3].quant {
        q.output.zero_point += 1;
    }
    assert!(matches!(
        MnistInt8::from_blob(&encode(&pool_requant, Shape::new(28, 28, 1))),
        Err(BlobError::Quant { layer: Some(3), .. })
    ));
    let mut bad_shift = records.clone();
    let shifts = [31u8; 10];
    if let Some(q) = &mut bad_shift[6].quant {
        q.shifts = &shifts;
    }
    assert!(matches!(
        MnistInt8::from_blob(&encode(&bad_shift, Shape::new(28, 28, 1))),
        Err(BlobError::Layer { layer: 6, .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random byte flips: caught by the checksum, or (when the checksum is recomputed, as a
    /// hostile writer would) by the decoder and the architecture checks, never a panic.
    #[test]
    fn random_corruptions_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6),
        recompute_crc in any::<bool>(),
    ) {
        let mut b = int8().to_vec();
        let payload = b.len() - HEADER_LEN;
        for (i, x) in &flips {
            let at = if recompute_crc { HEADER_LEN + i.index(payload) } else { i.index(b.len()) };
            b[at] ^= x;
        }
        if recompute_crc {
            fix_crc(&mut b);
        }
        let r = decode_all(&b);
        // Flips of the same byte can cancel out; only a changed blob must fail the CRC.
        if !recompute_crc && b != int8() {
            prop_assert!(r.is_err());
        }
    }

    /// Corruptions concentrated in the structured start of the payload (header and first
    /// layer descriptions), with a valid checksum.
    #[test]
    fn corrupted_descriptions_never_panic(
        flips in proptest::collection::vec((0usize..64, any::<u8>()), 1..8),
    ) {
        let mut b = int8().to_vec();
        for (i, x) in &flips {
            b[HEADER_LEN + i] = *x;
        }
        fix_crc(&mut b);
        let _ = decode_all(&b);
    }

    /// Arbitrary payloads behind a valid header never panic.
    #[test]
    fn arbitrary_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = Vec::new();
        b.extend_from_slice(b"TCNV");
        b.extend_from_slice(&shared::blob::FORMAT_VERSION.to_le_bytes());
        b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        b.extend_from_slice(&CRC.checksum(&payload).to_le_bytes());
        b.extend_from_slice(&payload);
        let _ = decode_all(&b);
    }

    /// Arbitrary bytes never panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert!(decode_all(&bytes).is_err());
    }
}
