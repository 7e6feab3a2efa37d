//! The VGG16 conv base: Keras's architecture (shapes, names, counts), the real ImageNet
//! weights file (all 26 tensors), weights by name with every bad-file case, `preprocess_input`
//! against a hand computation, and training with a frozen or partly unfrozen base on a tiny
//! VGG-shaped model (the same layers with 2-8 filters per block).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use host::applications::vgg16;
use host::dataset::Dataset;
use host::layers::{Preprocess, Shape};
use host::model::Model;
use host::network::Network;
use host::optim::Optimizer;
use host::sequential::Sequential;
use host::summary;
use host::train::FitConfig;
use host::vision::augment::Augmentation;
use host::vision::fit_augmented;
use host::vision::transfer::add_classifier;
use host::weights::{WeightsError, WeightsFile};
use kernels::{Backend, CpuBackend};
use rand::{Rng, SeedableRng};
use safetensors::tensor::{Dtype, TensorView};

const TINY: [usize; 5] = [2, 2, 4, 4, 8];

fn data_dir() -> PathBuf {
    std::env::var_os("TINYCONV_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// Keras's `VGG16(include_top=False, input_shape=(180, 180, 3)).summary()`, layer by layer.
const KERAS_180: [(&str, [usize; 3], usize); 18] = [
    ("block1_conv1", [180, 180, 64], 1_792),
    ("block1_conv2", [180, 180, 64], 36_928),
    ("block1_pool", [90, 90, 64], 0),
    ("block2_conv1", [90, 90, 128], 73_856),
    ("block2_conv2", [90, 90, 128], 147_584),
    ("block2_pool", [45, 45, 128], 0),
    ("block3_conv1", [45, 45, 256], 295_168),
    ("block3_conv2", [45, 45, 256], 590_080),
    ("block3_conv3", [45, 45, 256], 590_080),
    ("block3_pool", [22, 22, 256], 0),
    ("block4_conv1", [22, 22, 512], 1_180_160),
    ("block4_conv2", [22, 22, 512], 2_359_808),
    ("block4_conv3", [22, 22, 512], 2_359_808),
    ("block4_pool", [11, 11, 512], 0),
    ("block5_conv1", [11, 11, 512], 2_359_808),
    ("block5_conv2", [11, 11, 512], 2_359_808),
    ("block5_conv3", [11, 11, 512], 2_359_808),
    ("block5_pool", [5, 5, 512], 0),
];

#[test]
fn architecture_matches_keras_summary() {
    let m = vgg16::conv_base(180, 180, vgg16::WIDTHS).build(0).unwrap();
    assert_eq!(m.layers()[0].name, "preprocess_input");
    assert_eq!(m.layers().len(), 19);
    for (i, (name, [h, w, c], params)) in KERAS_180.iter().enumerate() {
        let l = i + 1;
        assert_eq!(&m.layers()[l].name, name);
        assert_eq!(m.output_shapes()[l], Shape::image(*h, *w, *c), "{name}");
        assert_eq!(m.layer_param_count(l), *params, "{name}");
    }
    assert_eq!(m.param_count(), vgg16::PARAMS);
    let table = summary::summary(&m, "vgg16");
    assert!(table.contains("(None, 5, 5, 512)"), "{table}");
    assert!(table.contains("Total params: 14,714,688"), "{table}");
    assert!(table.contains("block3_conv3 (Conv2D)"), "{table}");

    // With the book's classifier and a frozen base: Keras's trainable/non-trainable split.
    let mut full = add_classifier(vgg16::conv_base(180, 180, vgg16::WIDTHS))
        .build(0)
        .unwrap();
    vgg16::freeze_base(&mut full, 0);
    assert_eq!(full.param_count(), 14_714_688 + 3_277_056 + 257);
    assert_eq!(full.trainable_param_count(), 3_277_056 + 257);
    vgg16::freeze_base(&mut full, 3);
    assert_eq!(
        full.trainable_param_count(),
        3 * 2_359_808 + 3_277_056 + 257
    );
}

#[test]
fn real_imagenet_weights_have_all_26_tensors() {
    let path = vgg16::weights_path(&data_dir());
    let file = WeightsFile::open(&path)
        .unwrap_or_else(|e| panic!("the VGG16 weights are needed (set TINYCONV_DATA_DIR): {e}"));
    let mut expected = Vec::new();
    let model = vgg16::conv_base(180, 180, vgg16::WIDTHS).build(0).unwrap();
    for (i, l) in model.layers().iter().enumerate() {
        for spec in l.kind.params(model.layer_input_shape(i)) {
            let name = format!("{}.{}", l.name, spec.name);
            assert_eq!(
                file.shape(&name).as_deref(),
                Some(&spec.shape[..]),
                "{name}"
            );
            expected.push(name);
        }
    }
    expected.sort();
    assert_eq!(expected.len(), 26);
    assert_eq!(file.names(), expected);
    let mut model = model;
    let loaded = vgg16::load_base_weights(&mut model, &file).unwrap();
    assert_eq!(loaded, vgg16::PARAMS);
    // The weights replaced the random initialisation (ImageNet biases are not all zero).
    let b = &model.layer_params("block1_conv1").unwrap()[1].values;
    assert!(b.iter().any(|&v| v != 0.0));
}

/// Writes a safetensors file of `tensors` (name, dtype, shape, bytes).
fn write_st(path: &Path, tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let bytes = safetensors::serialize(views, &None::<HashMap<String, String>>).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The tensors of a tiny VGG-shaped base, as (name, dtype, shape, bytes).
fn tiny_tensors(model: &Model) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let mut v = Vec::new();
    for (l, ps) in model.layers().iter().zip(model.params()) {
        for p in ps {
            let bytes = p.values.iter().flat_map(|x| x.to_le_bytes()).collect();
            v.push((
                format!("{}.{}", l.name, p.name),
                Dtype::F32,
                p.shape.clone(),
                bytes,
            ));
        }
    }
    v
}

fn tiny_base(seed: u64) -> Model {
    vgg16::conv_base(32, 32, TINY).build(seed).unwrap()
}

fn load_err(path: &Path) -> String {
    let mut m = tiny_base(1);
    let e: WeightsError = vgg16::load_imagenet_weights(&mut m, path).unwrap_err();
    e.to_string()
}

#[test]
fn weights_load_by_name_and_bad_files_are_errors_naming_file_and_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let source = tiny_base(7);
    let good = dir.path().join("good.safetensors");
    let mut tensors = tiny_tensors(&source);
    write_st(&good, tensors.clone());
    let mut m = tiny_base(1);
    assert_ne!(m.params(), source.params());
    vgg16::load_imagenet_weights(&mut m, &good).unwrap();
    assert_eq!(m.params(), source.params());

    // Missing tensor.
    let p = dir.path().join("missing.safetensors");
    let cut: Vec<_> = tensors
        .iter()
        .filter(|t| t.0 != "block3_conv2.bias")
        .cloned()
        .collect();
    write_st(&p, cut);
    let e = load_err(&p);
    assert!(
        e.contains("missing.safetensors") && e.contains("missing tensor block3_conv2.bias"),
        "{e}"
    );

    // Wrong shape.
    let p = dir.path().join("shape.safetensors");
    let i = tensors
        .iter()
        .position(|t| t.0 == "block3_conv1.kernel")
        .unwrap();
    let mut bad = tensors.clone();
    bad[i].2 = vec![3, 3, 2, 3];
    bad[i].3.truncate(3 * 3 * 2 * 3 * 4);
    write_st(&p, bad);
    let e = load_err(&p);
    assert!(
        e.contains("shape.safetensors")
            && e.contains("block3_conv1.kernel")
            && e.contains("[3, 3, 2, 3]")
            && e.contains("[3, 3, 2, 4]"),
        "{e}"
    );

    // Wrong dtype.
    let p = dir.path().join("dtype.safetensors");
    let mut bad = tensors.clone();
    bad[0].1 = Dtype::I32;
    write_st(&p, bad);
    let e = load_err(&p);
    assert!(
        e.contains("dtype.safetensors") && e.contains("block1_conv1.kernel") && e.contains("I32"),
        "{e}"
    );

    // Truncated file, garbage, and a file that does not exist.
    let bytes = std::fs::read(&good).unwrap();
    let p = dir.path().join("truncated.safetensors");
    std::fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
    let e = load_err(&p);
    assert!(
        e.contains("truncated.safetensors") && e.contains("not a valid safetensors file"),
        "{e}"
    );
    let p = dir.path().join("garbage.safetensors");
    std::fs::write(&p, b"\xff\xff\xff\xff\xff\xff\xff\x7fnot json").unwrap();
    assert!(load_err(&p).contains("garbage.safetensors"));
    let p = dir.path().join("absent.safetensors");
    let e = load_err(&p);
    assert!(
        e.contains("absent.safetensors") && e.contains("cannot read"),
        "{e}"
    );

    // Extra tensors in the file are ignored (by-name loading).
    tensors.push(("fc1.kernel".into(), Dtype::F32, vec![1], vec![0; 4]));
    write_st(&good, tensors);
    vgg16::load_imagenet_weights(&mut tiny_base(2), &good).unwrap();
}

#[test]
fn preprocess_layer_is_bgr_minus_imagenet_means() {
    let model = Sequential::new(Shape::image(2, 3, 3))
        .add(Preprocess::caffe())
        .build(0)
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let x: Vec<f32> = (0..2 * 2 * 3 * 3)
        .map(|_| rng.gen_range(0.0..255.0))
        .collect();
    let b = CpuBackend::new();
    let y = Network::new(&b, &model).predict(&x, 2);
    // Keras: x = x[..., ::-1]; x[..., 0] -= 103.939; x[..., 1] -= 116.779; x[..., 2] -= 123.68
    let mean = [103.939f32, 116.779, 123.68];
    for (px, out) in x.chunks(3).zip(y.chunks(3)) {
        for c in 0..3 {
            assert_eq!(out[c].to_bits(), (px[2 - c] - mean[c]).to_bits());
        }
    }
}

fn tiny_classifier(seed: u64) -> Model {
    let mut m = add_classifier(vgg16::conv_base(32, 32, TINY))
        .build(seed)
        .unwrap();
    let base = tiny_base(11);
    let names = vgg16::conv_names();
    let mut params = m.params().to_vec();
    for (i, l) in m.layers().iter().enumerate() {
        if names.contains(&l.name) {
            params[i] = base.layer_params(&l.name).unwrap().to_vec();
        }
    }
    m.set_params(params).unwrap();
    m
}

fn images(n: usize, seed: u64) -> Dataset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Dataset {
        shape: [32, 32, 3],
        images: (0..n * 32 * 32 * 3)
            .map(|_| rng.gen_range(0.0..255.0))
            .collect(),
        labels: (0..n).map(|i| (i % 2) as u32).collect(),
    }
}

fn train(model: &mut Model, lr: f32) {
    let data = images(8, 5);
    let cfg = FitConfig {
        epochs: 2,
        batch_size: 4,
        optimizer: Optimizer::rmsprop().with_lr(lr),
        seed: 0,
        shuffle: true,
        verbose: false,
    };
    fit_augmented(
        &CpuBackend::new(),
        model,
        &data,
        Some(&data),
        &cfg,
        Some(&Augmentation::BOOK),
        &mut [],
    )
    .unwrap();
}

/// Names of the layers whose weights differ between `a` and `b`.
fn changed(a: &Model, b: &Model) -> Vec<String> {
    a.layers()
        .iter()
        .zip(a.params().iter().zip(b.params()))
        .filter(|(_, (pa, pb))| {
            pa.iter().zip(pb.iter()).any(|(x, y)| {
                x.values
                    .iter()
                    .zip(&y.values)
                    .any(|(u, v)| u.to_bits() != v.to_bits())
            })
        })
        .map(|(l, _)| l.name.clone())
        .collect()
}

#[test]
fn frozen_base_stays_bit_identical_while_the_classifier_trains() {
    let mut model = tiny_classifier(0);
    vgg16::freeze_base(&mut model, 0);
    let before = model.clone();
    train(&mut model, 1e-3);
    assert_eq!(changed(&before, &model), ["dense", "dense_1"]);
}

#[test]
fn fine_tuning_changes_exactly_the_unfrozen_layers() {
    let mut model = tiny_classifier(0);
    vgg16::freeze_base(&mut model, 3);
    let before = model.clone();
    train(&mut model, 1e-3);
    assert_eq!(
        changed(&before, &model),
        [
            "block5_conv1",
            "block5_conv2",
            "block5_conv3",
            "dense",
            "dense_1"
        ]
    );
}

#[test]
fn a_frozen_base_keeps_no_activations_for_the_backward_pass() {
    let b = CpuBackend::new();
    let data = images(4, 9);
    let mut model = tiny_classifier(0);
    let layer = |m: &Model, name: &str| m.layers().iter().position(|l| l.name == name).unwrap();
    let kept = |m: &Model| {
        let net = Network::new(&b, m);
        let (_, tape) = net.forward(b.from_slice(&data.images), 4, Some(1));
        tape.unwrap().layers_with_tensors()
    };
    vgg16::freeze_base(&mut model, 0);
    let (dense, dropout, dense1) = (
        layer(&model, "dense"),
        layer(&model, "dropout"),
        layer(&model, "dense_1"),
    );
    assert_eq!(kept(&model), [dense, dropout, dense1]);
    // Unfreezing block 5 keeps its inputs and ReLU outputs (block5_conv3's ReLU mask is kept
    // by block5_pool, with its arg-max, as its pooled output).
    vgg16::freeze_base(&mut model, 3);
    let first = layer(&model, "block5_conv1");
    let expected: Vec<usize> = (first..model.layers().len())
        .filter(|&i| i != layer(&model, "flatten"))
        .collect();
    assert_eq!(kept(&model), expected);
}
