//! Float blobs (f32 and f16) of any architecture, not only MNIST's: exported from a host model
//! with a folded `Rescaling`, a 'same' stride-2 convolution, average and max pooling, dropout
//! and a sigmoid output, they run in `shared`'s float interpreter, and answer as the host's
//! float model does (f32: the same outputs to float rounding; f16: the weights rounded to half
//! precision, the same class on nearly every image).

use host::layers::Activation::{Relu, Sigmoid};
use host::layers::{
    AveragePooling2D, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Padding, Rescaling, Shape,
};
use host::quantize::{evaluate, export, ExportFormat, RangeMethod};
use host::sequential::Sequential;
use shared::float::interpreter::{InterpreterF16, InterpreterF32};

const SIDE: usize = 16;
const PIXELS: usize = SIDE * SIDE * 3;

fn model() -> host::model::Model {
    Sequential::new(Shape::image(SIDE, SIDE, 3))
        .add(Rescaling::new(1.0 / 127.5, -1.0))
        .add(
            Conv2D::new(8, 3)
                .strides(2)
                .padding(Padding::Same)
                .activation(Relu),
        )
        .add(AveragePooling2D::new(2))
        .add(Conv2D::new(6, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Flatten)
        .add(Dropout::new(0.5))
        .add(Dense::new(1).activation(Sigmoid))
        .build(1)
        .unwrap()
}

/// Smooth random images (neighbouring pixels correlate, as in photos).
fn images(n: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .flat_map(|_| {
            let (a, b, c) = (next() % 7, next() % 5, next() % 256);
            (0..PIXELS).map(move |i| {
                let (y, x, ch) = (i / (SIDE * 3), i / 3 % SIDE, i % 3);
                ((y as u64 * a + x as u64 * b + ch as u64 * 40 + c) % 256) as u8
            })
        })
        .collect()
}

#[test]
fn float_blobs_of_another_architecture_answer_as_the_host_model() {
    let model = model();
    let pixels = images(200);
    let exports = export(
        &model,
        &[ExportFormat::F32, ExportFormat::F16],
        &[],
        RangeMethod::MinMax,
    )
    .unwrap();
    let host_probs = model.predict(
        &kernels::CpuBackend::new(),
        &{ pixels.iter().map(|&p| p as f32).collect::<Vec<_>>() },
        64,
    );
    let host_classes = evaluate::predict_float(&model, &pixels, 1.0).unwrap();
    let ones = host_classes.iter().filter(|&&c| c == 1).count();
    assert!(
        (20..=180).contains(&ones),
        "both classes occur, so agreement is not trivial: {ones}/200 are class 1, {:?}",
        &host_probs[..10]
    );

    // f32: the interpreter's logit is the host's pre-sigmoid value.
    let f32_blob = &exports[0].blob;
    let net = InterpreterF32::from_blob(f32_blob).unwrap();
    assert_eq!(net.layer_count(), 6, "Rescaling folded, Dropout dropped");
    let mut arena = vec![0f32; net.arena_len()];
    for (img, &p) in pixels.chunks_exact(PIXELS).zip(&host_probs) {
        let logit = net.run(img, &mut arena).unwrap()[0];
        let sigmoid = 1.0 / (1.0 + (-logit).exp());
        assert!(
            (sigmoid - p).abs() < 1e-5,
            "interpreter {sigmoid} vs host {p}"
        );
    }
    assert_eq!(
        evaluate::predict_blob(f32_blob, &pixels).unwrap(),
        host_classes,
        "f32 blob classes"
    );

    // f16: half-precision weights move the logits a little.
    let f16_blob = &exports[1].blob;
    InterpreterF16::from_blob(f16_blob).unwrap();
    let f16_classes = evaluate::predict_blob(f16_blob, &pixels).unwrap();
    let same = f16_classes
        .iter()
        .zip(&host_classes)
        .filter(|(a, b)| a == b)
        .count();
    assert!(same >= 196, "f16 blob: {same}/200 classes as the host");

    // Seeds for the blob fuzz target (`fuzz/run.sh` copies the blobs the tests leave here).
    let seeds =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/target/tinyconv-tests");
    std::fs::create_dir_all(&seeds).unwrap();
    for (name, blob) in [("float_f32.blob", f32_blob), ("float_f16.blob", f16_blob)] {
        let tmp = seeds.join(format!("{name}.tmp"));
        std::fs::write(&tmp, blob).unwrap();
        std::fs::rename(&tmp, seeds.join(name)).unwrap();
    }
}
