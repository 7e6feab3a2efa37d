//! The quantizer end to end on the real MNIST test set (all 10,000 images): a model trained by
//! the project's own trainer (one epoch on 30,000 images, CPU), exported by
//! `host::quantize`, run through `shared`.
//!
//! * float (host) vs int8 (`shared`): top-1 agreement ≥ 99.5 %, int8 accuracy at most 0.3
//!   points below float; f16 and f32 blobs agree with the float model ≥ 99.9 %;
//! * the int8 network of `shared` equals an independent integer reference
//!   (`quantize_harness::reference`) bit for bit, layer by layer.
//!
//! Run: `cargo test -p tinyconv-tests --test quantize_agreement -- --nocapture` (prints the
//! accuracies). Data: `TINYCONV_DATA_DIR` or `shared/data` beside the checkout.

mod quantize_harness;

use std::sync::OnceLock;

use host::quantize::evaluate::{agreement, predict_blob, predict_float};
use host::quantize::{export, Export, ExportFormat, RangeMethod};
use quantize_harness::{calibration_pixels, mnist, reference, trained_model};
use shared::mnist::{MnistInt8, MnistScratchI8, MNIST_PIXELS};

/// Images checked bit for bit against the reference (the reference is slow: plain loops).
const REFERENCE_IMAGES: usize = 48;

fn exports() -> &'static [Export] {
    static EXPORTS: OnceLock<Vec<Export>> = OnceLock::new();
    EXPORTS.get_or_init(|| {
        export(
            trained_model(),
            &ExportFormat::ALL,
            &calibration_pixels(),
            RangeMethod::MinMax,
        )
        .expect("the trained model exports")
    })
}

fn blob(format: ExportFormat) -> &'static [u8] {
    &exports()
        .iter()
        .find(|e| e.format == format)
        .expect("every format is exported")
        .blob
}

fn float_predictions() -> &'static [u32] {
    static P: OnceLock<Vec<u32>> = OnceLock::new();
    P.get_or_init(|| {
        predict_float(trained_model(), &mnist().test.images, 1.0 / 255.0).expect("float runs")
    })
}

fn labels() -> &'static [u32] {
    static L: OnceLock<Vec<u32>> = OnceLock::new();
    L.get_or_init(|| mnist().test.labels.iter().map(|&l| u32::from(l)).collect())
}

#[test]
fn int8_agrees_with_float_on_the_full_test_set() {
    let test = &mnist().test;
    assert_eq!(test.len(), 10_000, "the full MNIST test set");
    let float = float_predictions();
    let int8 = predict_blob(blob(ExportFormat::Int8), &test.images).unwrap();
    let f16 = predict_blob(blob(ExportFormat::F16), &test.images).unwrap();
    let f32b = predict_blob(blob(ExportFormat::F32), &test.images).unwrap();
    let acc = |p: &[u32]| agreement(p, labels()).unwrap();
    let (a_float, a_int8, a_f16, a_f32) = (acc(float), acc(&int8), acc(&f16), acc(&f32b));
    let agree = agreement(&int8, float).unwrap();
    eprintln!(
        "10,000 test images: float (host) {:.2} %, int8 {:.2} %, f16 {:.2} %, f32 blob {:.2} %; \
         int8/float top-1 agreement {:.2} %",
        100.0 * a_float,
        100.0 * a_int8,
        100.0 * a_f16,
        100.0 * a_f32,
        100.0 * agree
    );
    assert!(a_float > 0.95, "the trained float model reaches {a_float}");
    assert!(agree >= 0.995, "int8/float agreement {agree} < 99.5 %");
    assert!(
        a_int8 >= a_float - 0.003,
        "int8 accuracy {a_int8} is more than 0.3 points below float {a_float}"
    );
    let f16_agree = agreement(&f16, float).unwrap();
    let f32_agree = agreement(&f32b, float).unwrap();
    assert!(f16_agree >= 0.999, "f16/float agreement {f16_agree}");
    assert!(f32_agree >= 0.999, "f32 blob/float agreement {f32_agree}");
}

#[test]
fn int8_network_equals_the_integer_reference_layer_by_layer() {
    let int8 = blob(ExportFormat::Int8);
    let net = MnistInt8::from_blob(int8).unwrap();
    let mut scratch = Box::new(MnistScratchI8::new());
    // Test images plus a few calibration images (their ranges are the extremes).
    let test = &mnist().test.images;
    let cal = calibration_pixels();
    let images = test
        .chunks_exact(MNIST_PIXELS)
        .take(REFERENCE_IMAGES)
        .chain(cal.chunks_exact(MNIST_PIXELS).take(8));
    for (n, img) in images.enumerate() {
        let image: &[u8; MNIST_PIXELS] = img.try_into().unwrap();
        let expected = reference::run(int8, image);
        let mut input = [0i8; MNIST_PIXELS];
        net.quantize_image(image, &mut input);
        assert_eq!(
            &input[..],
            &expected[0][..],
            "image {n}: input quantization"
        );
        let mut seen = 0;
        let prediction = net.predict_observed(image, &mut scratch, |o| {
            let want = &expected[o.index + 1];
            if let Some(i) = (0..want.len()).find(|&i| o.data[i] != want[i]) {
                panic!(
                    "image {n}, layer {}: element {i} is {} in shared, {} in the reference",
                    o.index, o.data[i], want[i]
                );
            }
            assert_eq!(o.data.len(), want.len(), "image {n}, layer {}", o.index);
            seen += 1;
        });
        assert_eq!(seen, expected.len() - 1, "every layer was observed");
        let logits = expected.last().unwrap();
        assert_eq!(&prediction.scores[..], &logits[..], "image {n}: logits");
    }
}

#[test]
fn reference_rounding_equals_shared_quant_on_random_values() {
    // xorshift64*: a fixed pseudo-random sequence.
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for _ in 0..200_000 {
        let r = next();
        let x = (r as i32) >> (r >> 59); // accumulators of every magnitude
        let m = ((next() as u32) >> 1).max(1 << 30) as i32; // Q31 in [2^30, 2^31)
        let shift = (next() % 20) as i32 - 15; // -15..=4
        let left_ok = i32::try_from((x as i64) << shift.max(0)).is_ok();
        if !left_ok {
            continue;
        }
        assert_eq!(
            reference::multiply_by_quantized_multiplier(x, m, shift),
            shared::quant::multiply_by_quantized_multiplier(x, m, shift),
            "x {x}, m {m}, shift {shift}"
        );
    }
}

#[test]
fn int8_report_accounts_for_the_device() {
    let e = exports()
        .iter()
        .find(|e| e.format == ExportFormat::Int8)
        .unwrap();
    let r = &e.report;
    assert_eq!(r.params, shared::mnist::MNIST_PARAMS);
    assert_eq!(r.flash_bytes, e.blob.len());
    assert_eq!(r.ram_bytes, shared::mnist::MNIST_INT8_RAM_BYTES);
    // MACs written out from the architecture: conv 26·26·32·9, 11·11·64·288, 3·3·128·576,
    // dense 1152·10.
    let macs = 26 * 26 * 32 * 9 + 11 * 11 * 64 * 288 + 3 * 3 * 128 * 576 + 1152 * 10;
    assert_eq!(r.macs, macs);
    // int8 parameter bytes: 1 per weight, 4 per bias, 9 per output channel (scale,
    // multiplier, shift); the blob adds only its header and postcard framing.
    let weights = 288 + 18_432 + 73_728 + 11_520;
    let channels = 32 + 64 + 128 + 10;
    assert_eq!(r.param_bytes, weights + 4 * channels + 9 * channels);
    assert!(e.blob.len() > r.param_bytes && e.blob.len() < r.param_bytes + 256);
    let q = e.quantization.as_ref().unwrap();
    // Inputs are pixel / 255 in [0, 1]: scale 1/255, zero point -128.
    assert_eq!(q.input.zero_point, -128);
    assert!((q.input.scale - 1.0 / 255.0).abs() < 1e-9);
    // ReLU outputs start at 0: zero point -128; pooling keeps its input's parameters.
    for i in [0, 2, 4] {
        assert_eq!(q.layers[i].output.zero_point, -128, "layer {i}");
        assert_eq!(
            q.layers[i + 1].output,
            q.layers[i].output,
            "layer {}",
            i + 1
        );
    }
    let text = r.to_string();
    for needle in ["conv2d", "dense", "flash", "RAM", "MACs"] {
        assert!(text.contains(needle), "report lacks {needle}:\n{text}");
    }
}
