//! Host throughput of the MNIST network (images per second), f32, f16 and int8 weights.
//! Run: `cargo bench -p shared`. The blobs hold deterministic pseudo-random weights (int8
//! calibrated on synthetic images), so the figures measure the kernels, not a trained model.

#[path = "../tests/common/mod.rs"]
mod common;

use common::blobs::{float_blob, int8_blob, random_images, random_weights};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use shared::mnist::{MnistF16, MnistF32, MnistInt8, MnistScratchF32, MnistScratchI8};

fn mnist(c: &mut Criterion) {
    let weights = random_weights(42);
    let images = random_images(43, 16);
    let b32 = float_blob(&weights, false);
    let b16 = float_blob(&weights, true);
    let b8 = int8_blob(&weights, &images);
    let n32 = MnistF32::from_blob(&b32).expect("f32 blob");
    let n16 = MnistF16::from_blob(&b16).expect("f16 blob");
    let n8 = MnistInt8::from_blob(&b8).expect("int8 blob");
    let mut s32 = Box::new(MnistScratchF32::new());
    let mut s8 = Box::new(MnistScratchI8::new());

    let mut group = c.benchmark_group("mnist");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("f32", |b| {
        b.iter(|| {
            i = (i + 1) % images.len();
            black_box(n32.predict(black_box(&images[i]), &mut s32))
        })
    });
    group.bench_function("f16", |b| {
        b.iter(|| {
            i = (i + 1) % images.len();
            black_box(n16.predict(black_box(&images[i]), &mut s32))
        })
    });
    group.bench_function("int8", |b| {
        b.iter(|| {
            i = (i + 1) % images.len();
            black_box(n8.predict(black_box(&images[i]), &mut s8))
        })
    });
    group.finish();
}

criterion_group!(benches, mnist);
criterion_main!(benches);
