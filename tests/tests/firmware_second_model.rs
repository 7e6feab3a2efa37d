//! A second architecture end to end, not MNIST: a 32×32×3 convnet with `Rescaling`, 'same'
//! padding, a stride-2 convolution, average and max pooling, dropout and a sigmoid output,
//! trained a few steps on the CIFAR cat/dog images of the data directory, quantized (the
//! Rescaling folded into the input, calibration through the host float network), and run
//! by the firmware under QEMU: every test image must get the same class and the same int8
//! logit on the device as in `shared`'s interpreter on the host, and the response frame must
//! be the model-sized one. Also prints the interpreter's instructions per MAC.
//!
//! `cargo test -p tinyconv-tests --test firmware_second_model -- --nocapture`

mod firmware_harness;
mod quantize_harness;

use firmware_harness::{elf_memory, run_blob_on_qemu};
use host::dataset::Dataset;
use host::layers::Activation::{Relu, Sigmoid};
use host::layers::{
    AveragePooling2D, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Padding, Rescaling, Shape,
};
use host::quantize::data::folder;
use host::quantize::evaluate::{agreement, predict_blob, predict_float};
use host::quantize::{calibrate, convert, export, ExportFormat, RangeMethod};
use host::sequential::Sequential;
use host::train::FitConfig;
use host::vision::{make_subset, SubsetSpec};
use quantize_harness::data_dir;
use shared::blob::{Activation, Blob, PixelScaling};
use shared::int8::interpreter::Interpreter;

/// Test images embedded in the firmware.
const INPUTS: usize = 8;

fn model() -> Sequential {
    Sequential::new(Shape::image(32, 32, 3))
        .add(Rescaling::new(1.0 / 255.0, 0.0))
        .add(Conv2D::new(8, 3).padding(Padding::Same).activation(Relu))
        .add(
            Conv2D::new(16, 3)
                .strides(2)
                .padding(Padding::Same)
                .activation(Relu),
        )
        .add(AveragePooling2D::new(2))
        .add(Conv2D::new(16, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Flatten)
        .add(Dropout::new(0.5))
        .add(Dense::new(1).activation(Sigmoid))
}

/// MACs of one inference, counted from the blob's layer descriptions.
fn macs(blob: &Blob<'_>) -> u64 {
    use shared::blob::LayerKind;
    blob.layers()
        .map(|r| match r.desc.kind {
            LayerKind::Conv2d {
                kernel, filters, ..
            } => {
                u64::from(r.desc.output.h * r.desc.output.w * filters)
                    * u64::from(kernel * kernel * r.desc.input.c)
            }
            LayerKind::Dense { units, .. } => r.desc.input.len() as u64 * u64::from(units),
            _ => 0,
        })
        .sum()
}

#[test]
fn a_second_architecture_runs_bit_exact_on_qemu() {
    let tmp = tempfile::tempdir().unwrap();
    let subset = tmp.path().join("cats_vs_dogs_32");
    make_subset(
        &data_dir().join("cats-vs-dogs").join("train"),
        &subset,
        &SubsetSpec::cats_dogs(0..300, 300..350, 350..400),
        false,
    )
    .unwrap_or_else(|e| panic!("the CIFAR cat/dog images (set TINYCONV_DATA_DIR): {e}"));
    let input = shared::blob::Shape::new(32, 32, 3);
    let data = folder(&subset, input).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (600, 100));

    // A few steps of training: the float model needs weights worth quantizing, not accuracy.
    let mut model = model().build(11).unwrap();
    let train = Dataset {
        shape: [32, 32, 3],
        images: data.train.pixels.iter().map(|&p| f32::from(p)).collect(),
        labels: data.train.labels.clone(),
    };
    let config = FitConfig {
        epochs: 2,
        batch_size: 32,
        verbose: false,
        ..FitConfig::default()
    };
    host::train::fit(
        &kernels::CpuBackend::new(),
        &mut model,
        &train,
        None,
        &config,
        &mut [],
    )
    .unwrap();

    let net = convert::from_model(&model, None).unwrap();
    assert!(!convert::is_mnist(&net));
    let calibration = calibrate::sample(&data.train.pixels, input.len(), 200);
    let e = export(
        &model,
        &[ExportFormat::Int8],
        &calibration,
        RangeMethod::MinMax,
    )
    .unwrap()
    .remove(0);
    let decoded = Blob::decode(&e.blob).unwrap();
    assert_eq!(
        decoded.header().pixels,
        PixelScaling::Rescale {
            scale: 1.0 / 255.0,
            offset: 0.0
        }
    );
    assert_eq!(
        decoded.layer_count(),
        7,
        "Rescaling folded, Dropout dropped"
    );
    let interp = Interpreter::from_decoded(&decoded).unwrap();
    assert_eq!(interp.output_activation(), Activation::Sigmoid);

    // int8 and float agree on most test images (the model is barely trained, so logits sit
    // near 0 and a few flip).
    let float = predict_float(&model, &data.test.pixels, 1.0).unwrap();
    let int8 = predict_blob(&e.blob, &data.test.pixels).unwrap();
    let agree = agreement(&int8, &float).unwrap();
    eprintln!(
        "second model: {} params, {} MACs, blob {} bytes, arena {} bytes; int8/float agreement on 100 test images {:.1} %",
        e.report.params,
        e.report.macs,
        e.blob.len(),
        interp.arena_len(),
        100.0 * agree
    );
    assert!(agree >= 0.9, "int8/float agreement {agree}");

    // Half cats, half dogs (the test split lists each class's images in turn).
    let per = input.len();
    let picks = [0, 1, 2, 3, 50, 51, 52, 53];
    assert_eq!(picks.len(), INPUTS);
    let inputs: Vec<u8> = picks
        .iter()
        .flat_map(|&i| data.test.pixels[i * per..(i + 1) * per].iter().copied())
        .collect();
    assert_eq!(
        picks.map(|i| data.test.labels[i]),
        [0, 0, 0, 0, 1, 1, 1, 1],
        "test images by class"
    );
    let inputs = &inputs[..];
    let Some((elf, run)) =
        run_blob_on_qemu("second_model", &e.blob, inputs).unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    assert!(
        run.model.starts_with(
            "32x32x3 layers 7 scores 1 arena 12288 request 3074 response 4 engine interpreter"
        ),
        "{}",
        run.model
    );
    assert_eq!(run.blob_len, e.blob.len());
    assert_eq!(run.predictions.len(), INPUTS, "output:\n{}", run.stdout);
    let mut arena = vec![0i8; interp.arena_len()];
    let mut instructions = 0.0;
    for (i, (device, image)) in run
        .predictions
        .iter()
        .zip(inputs.chunks_exact(input.len()))
        .enumerate()
    {
        let out = interp.run(image, &mut arena).unwrap();
        let class = interp.class_of(out) as u8;
        assert_eq!(
            (device.class, device.scores.clone()),
            (class, out.to_vec()),
            "input {i}: device vs host"
        );
        let frame = &run.frames[i];
        assert_eq!(frame.len(), 4, "input {i}: response frame length");
        assert_eq!(
            (frame[0], frame[1], frame[2] as i8),
            (0x5A, class, out[0]),
            "input {i}: response frame"
        );
        instructions += device.instructions();
    }
    let per_inference = instructions / INPUTS as f64;
    let memory = elf_memory(&elf.path).unwrap();
    eprintln!(
        "second model on QEMU (int8 interpreter): {:.0} instructions per inference, {:.2} instructions/MAC; \
         flash {} bytes, static RAM {} bytes, peak stack {} bytes",
        per_inference,
        per_inference / macs(&decoded) as f64,
        memory.flash,
        memory.static_ram,
        run.peak_stack
    );
}
