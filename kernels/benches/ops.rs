//! Op benchmarks at batch 64 on the MNIST convnet of the book (conv 3×3 1→32 on 28×28, pool,
//! conv 32→64, pool, conv 64→128, flatten, dense 1152→10), generic over the backend.
//!
//! `cargo bench -p kernels --bench ops` (add `-- conv` etc. to filter;
//! `TINYCONV_BENCH_THREADS=1` runs the CPU backend on a pool of that many threads, e.g. to
//! compare single-threaded numbers on a busy machine). Convolution and dense groups report
//! throughput as `Elements(flops)`: criterion's "elem/s" is FLOP/s (2 per MAC). The
//! `mnist_step` group times one whole forward + backward + RMSprop step of the network (an
//! epoch of MNIST is 938 such steps).
//!
//! The bench functions are generic over [`Backend`]; `sync` says whether each iteration
//! downloads its result (needed to wait for asynchronous GPU backends; the CPU backend is
//! synchronous and is measured without the copy).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kernels::{Backend, Conv2dGeom, DenseGeom, Padding, Pool2dGeom};

const BATCH: usize = 64;

/// The three convolutions of the MNIST convnet at batch 64.
fn mnist_convs() -> [(&'static str, Conv2dGeom); 3] {
    let conv = |in_hw: usize, in_c: usize, out_c: usize| Conv2dGeom {
        batch: BATCH,
        in_h: in_hw,
        in_w: in_hw,
        in_c,
        out_c,
        kh: 3,
        kw: 3,
        stride_h: 1,
        stride_w: 1,
        padding: Padding::Valid,
    };
    [
        ("conv1_28x28_1to32", conv(28, 1, 32)),
        ("conv2_13x13_32to64", conv(13, 32, 64)),
        ("conv3_5x5_64to128", conv(5, 64, 128)),
    ]
}

fn pool(in_hw: usize, c: usize) -> Pool2dGeom {
    Pool2dGeom {
        batch: BATCH,
        in_h: in_hw,
        in_w: in_hw,
        c,
        pool_h: 2,
        pool_w: 2,
        stride_h: 2,
        stride_w: 2,
        padding: Padding::Valid,
    }
}

/// Finishes one iteration: downloads `t` when `sync` (waiting for the device), then drops it.
fn done<B: Backend>(be: &B, t: B::Tensor, sync: bool) {
    if sync {
        criterion::black_box(be.to_vec(&t));
    }
    criterion::black_box(&t);
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| kernels::dropout::dropout_uniform(u64::from(seed), i) * 2.0 - 1.0)
        .collect()
}

/// Convolution forward, backward-input and backward-weight on the MNIST shapes.
pub fn bench_convs<B: Backend>(c: &mut Criterion, label: &str, be: &B, sync: bool) {
    let mut group = c.benchmark_group(format!("conv/{label}"));
    for (name, g) in mnist_convs() {
        let flops = 2 * g.macs() as u64;
        group.throughput(Throughput::Elements(flops));
        let x = be.from_slice(&values(g.input_len(), 1));
        let w = be.from_slice(&values(g.weight_len(), 2));
        let b = be.from_slice(&values(g.out_c, 3));
        let dy = be.from_slice(&values(g.output_len(), 4));
        group.bench_function(BenchmarkId::new("forward", name), |bench| {
            bench.iter(|| done(be, be.conv2d(&x, &w, Some(&b), &g), sync))
        });
        group.bench_function(BenchmarkId::new("backward_input", name), |bench| {
            bench.iter(|| done(be, be.conv2d_backward_input(&dy, &w, &g), sync))
        });
        group.bench_function(BenchmarkId::new("backward_weight", name), |bench| {
            bench.iter(|| done(be, be.conv2d_backward_weight(&x, &dy, &g), sync))
        });
    }
    group.finish();
}

/// The other ops of the MNIST training step, each at its place in the network.
pub fn bench_small_ops<B: Backend>(c: &mut Criterion, label: &str, be: &B, sync: bool) {
    let mut group = c.benchmark_group(format!("ops/{label}"));
    let act1 = be.from_slice(&values(BATCH * 26 * 26 * 32, 5));
    group.bench_function("relu_64x26x26x32", |bench| {
        bench.iter(|| done(be, be.relu(&act1), sync))
    });
    group.bench_function("relu_backward_64x26x26x32", |bench| {
        bench.iter(|| done(be, be.relu_backward(&act1, &act1), sync))
    });
    group.bench_function("bias_grad_64x26x26x32", |bench| {
        bench.iter(|| done(be, be.bias_grad(&act1, 32), sync))
    });
    let p1 = pool(26, 32);
    group.bench_function("max_pool_64x26x26x32", |bench| {
        bench.iter(|| done(be, be.max_pool2d(&act1, &p1).0, sync))
    });
    let (pooled, arg) = be.max_pool2d(&act1, &p1);
    group.bench_function("max_pool_backward_64x26x26x32", |bench| {
        bench.iter(|| done(be, be.max_pool2d_backward(&pooled, &arg, &p1), sync))
    });
    let logits = be.from_slice(&values(BATCH * 10, 9));
    let labels = be.index_from_slice(&(0..BATCH as u32).map(|i| i % 10).collect::<Vec<_>>());
    group.bench_function("softmax_cross_entropy_64x10", |bench| {
        bench.iter(|| {
            done(
                be,
                be.softmax_cross_entropy(&logits, &labels, BATCH, 10).grad,
                sync,
            )
        })
    });
    let images = be.from_slice(&values(BATCH * 28 * 28, 10));
    group.bench_function("scale_shift_64x28x28", |bench| {
        bench.iter(|| done(be, be.scale_shift(&images, 1.0 / 255.0, 0.0), sync))
    });
    let mut param = be.from_slice(&values(3 * 3 * 64 * 128, 11));
    let grad = be.from_slice(&values(3 * 3 * 64 * 128, 12));
    let mut velocity = be.zeros(3 * 3 * 64 * 128);
    group.bench_function("rmsprop_3x3x64x128", |bench| {
        bench.iter(|| {
            be.rmsprop_update(&mut param, &grad, &mut velocity, 1e-3, 0.9, 1e-7);
            if sync {
                criterion::black_box(be.to_vec(&param));
            }
        })
    });
    let dg = DenseGeom {
        batch: BATCH,
        inputs: 1152,
        outputs: 10,
    };
    let x = be.from_slice(&values(BATCH * 1152, 6));
    let w = be.from_slice(&values(1152 * 10, 7));
    let dy = be.from_slice(&values(BATCH * 10, 8));
    group.throughput(Throughput::Elements(2 * (BATCH * 1152 * 10) as u64));
    group.bench_function("dense_1152x10", |bench| {
        bench.iter(|| done(be, be.dense(&x, &w, None, &dg), sync))
    });
    group.bench_function("dense_backward_input_1152x10", |bench| {
        bench.iter(|| done(be, be.dense_backward_input(&dy, &w, &dg), sync))
    });
    group.bench_function("dense_backward_weight_1152x10", |bench| {
        bench.iter(|| done(be, be.dense_backward_weight(&x, &dy, &dg), sync))
    });
    group.finish();
}

/// The MNIST convnet's parameters and a batch, on a backend.
struct MnistNet<B: Backend> {
    params: Vec<B::Tensor>,
    velocity: Vec<B::Tensor>,
    x: B::Tensor,
    labels: B::Index,
}

impl<B: Backend> MnistNet<B> {
    fn new(be: &B) -> Self {
        let [c1, c2, c3] = mnist_convs().map(|(_, g)| g);
        let sizes = [
            c1.weight_len(),
            32,
            c2.weight_len(),
            64,
            c3.weight_len(),
            128,
            1152 * 10,
            10,
        ];
        let params: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let v: Vec<f32> = values(n, 10 + i as u32).iter().map(|v| v * 0.1).collect();
                be.from_slice(&v)
            })
            .collect();
        let velocity = sizes.iter().map(|&n| be.zeros(n)).collect();
        let pixels: Vec<f32> = values(BATCH * 28 * 28, 20)
            .iter()
            .map(|v| (v + 1.0) * 127.5)
            .collect();
        let labels: Vec<u32> = (0..BATCH as u32).map(|i| i % 10).collect();
        MnistNet {
            params,
            velocity,
            x: be.from_slice(&pixels),
            labels: be.index_from_slice(&labels),
        }
    }

    /// One training step: forward, loss, backward (no input gradient for conv1), RMSprop.
    fn step(&mut self, be: &B) -> f32 {
        let [c1, c2, c3] = mnist_convs().map(|(_, g)| g);
        let (p1, p2) = (pool(26, 32), pool(11, 64));
        let dg = DenseGeom {
            batch: BATCH,
            inputs: 1152,
            outputs: 10,
        };
        let p = &self.params;
        let x = be.scale_shift(&self.x, 1.0 / 255.0, 0.0);
        let a1 = be.relu(&be.conv2d(&x, &p[0], Some(&p[1]), &c1));
        let (m1, i1) = be.max_pool2d(&a1, &p1);
        let a2 = be.relu(&be.conv2d(&m1, &p[2], Some(&p[3]), &c2));
        let (m2, i2) = be.max_pool2d(&a2, &p2);
        let a3 = be.relu(&be.conv2d(&m2, &p[4], Some(&p[5]), &c3));
        let logits = be.dense(&a3, &p[6], Some(&p[7]), &dg);
        let out = be.softmax_cross_entropy(&logits, &self.labels, BATCH, 10);
        let d = out.grad;
        let grads = {
            let gw4 = be.dense_backward_weight(&a3, &d, &dg);
            let gb4 = be.bias_grad(&d, 10);
            let d3 = be.relu_backward(&a3, &be.dense_backward_input(&d, &p[6], &dg));
            let gw3 = be.conv2d_backward_weight(&m2, &d3, &c3);
            let gb3 = be.bias_grad(&d3, 128);
            let dm2 = be.conv2d_backward_input(&d3, &p[4], &c3);
            let d2 = be.relu_backward(&a2, &be.max_pool2d_backward(&dm2, &i2, &p2));
            let gw2 = be.conv2d_backward_weight(&m1, &d2, &c2);
            let gb2 = be.bias_grad(&d2, 64);
            let dm1 = be.conv2d_backward_input(&d2, &p[2], &c2);
            let d1 = be.relu_backward(&a1, &be.max_pool2d_backward(&dm1, &i1, &p1));
            let gw1 = be.conv2d_backward_weight(&x, &d1, &c1);
            let gb1 = be.bias_grad(&d1, 32);
            [gw1, gb1, gw2, gb2, gw3, gb3, gw4, gb4]
        };
        for ((param, grad), vel) in self.params.iter_mut().zip(&grads).zip(&mut self.velocity) {
            be.rmsprop_update(param, grad, vel, 1e-3, 0.9, 1e-7);
        }
        out.loss
    }
}

/// One whole MNIST training step at batch 64 (an epoch is 938 of them).
pub fn bench_mnist_step<B: Backend>(c: &mut Criterion, label: &str, be: &B) {
    let mut group = c.benchmark_group(format!("mnist_step/{label}"));
    let mut net = MnistNet::new(be);
    group.bench_function("batch64_forward_backward_rmsprop", |bench| {
        bench.iter(|| net.step(be))
    });
    group.finish();
}

fn cpu(c: &mut Criterion) {
    let be = match std::env::var("TINYCONV_BENCH_THREADS") {
        Ok(n) => {
            let n = n
                .parse()
                .expect("TINYCONV_BENCH_THREADS: a number of threads");
            kernels::cpu::CpuBackend::with_threads(n).expect("rayon pool")
        }
        Err(_) => kernels::cpu::CpuBackend::new(),
    };
    eprintln!("backend: {}", be.name());
    bench_convs(c, "cpu", &be, false);
    bench_small_ops(c, "cpu", &be, false);
    bench_mnist_step(c, "cpu", &be);
}

/// The CubeCL wgpu backend (`--features wgpu`; on machines without a GPU, Mesa's lavapipe:
/// `XDG_RUNTIME_DIR=/tmp/xdg cargo bench -p kernels --features wgpu --bench ops -- wgpu`).
#[cfg(feature = "wgpu")]
fn wgpu(c: &mut Criterion) {
    match kernels::gpu::wgpu_backend() {
        Ok(be) => {
            eprintln!(
                "backend: {} (plane GEMM: {:?})",
                be.name(),
                be.plane_gemm_size()
            );
            // Kernel launches are queued: download each result so the time covers the work.
            bench_convs(c, "wgpu", &be, true);
            bench_small_ops(c, "wgpu", &be, true);
            bench_mnist_step(c, "wgpu", &be);
        }
        Err(e) => eprintln!("wgpu backend unavailable: {e}"),
    }
}

#[cfg(feature = "wgpu")]
criterion_group!(benches, cpu, wgpu);
#[cfg(not(feature = "wgpu"))]
criterion_group!(benches, cpu);
criterion_main!(benches);
