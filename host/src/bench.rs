//! `host bench`: training throughput of the MNIST convnet (or the cats-vs-dogs convnet at
//! 180×180) and time per op, per backend.
//! Numbers come from timing real work on the chosen backend; nothing here is a test.

use std::time::Instant;

use kernels::Backend;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use clap::Args;

use crate::backend::{auto_backend, with_backend, BackendChoice, BackendError, BackendJob};
use crate::layers::{Activation, LayerKind};
use crate::loss::Loss;
use crate::model::ModelError;
use crate::network::Network;
use crate::optim::{Optimizer, OptimizerState};
use crate::step::{train_step, BatchInput};
use crate::zoo;

/// Options of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Backends to measure (default: cpu, plus every GPU backend built in and present).
    #[arg(long, value_enum)]
    pub backend: Vec<BackendChoice>,
    /// Which training benchmark: the book's MNIST convnet, or its cats-vs-dogs convnet
    /// trained from scratch at 180×180 (the default batch is then 32).
    #[arg(long, value_enum, default_value_t = BenchModel::Mnist)]
    pub model: BenchModel,
    /// Examples per step (default: 64 for MNIST, 32 for cats vs dogs).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Timed training steps per backend.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Measure the VGG16 conv base's forward pass instead (`conv_base.predict`): images/s
    /// and time per layer at --image-size, batch --vgg16-batch.
    #[arg(long)]
    pub vgg16: bool,
    /// Input size of the VGG16 measurement: `180` or `HxW`.
    #[arg(long, value_parser = crate::vision::cli::parse_image_size, default_value = "180")]
    pub image_size: (usize, usize),
    /// Batch of the VGG16 measurement.
    #[arg(long, default_value_t = 32)]
    pub vgg16_batch: usize,
    /// Timed VGG16 batches per backend.
    #[arg(long, default_value_t = 3)]
    pub vgg16_batches: usize,
}

/// The model `host bench` trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchModel {
    /// The MNIST convnet (28×28×1, 10 classes), batch 64.
    Mnist,
    /// The cats-vs-dogs convnet from scratch (180×180×3, sigmoid), batch 32.
    Catsdogs,
}

impl BenchModel {
    fn build(self) -> Result<crate::model::Model, ModelError> {
        match self {
            BenchModel::Mnist => zoo::mnist_convnet().build(0),
            BenchModel::Catsdogs => zoo::cats_vs_dogs_convnet(180).build(0),
        }
    }

    fn batch(self) -> usize {
        match self {
            BenchModel::Mnist => 64,
            BenchModel::Catsdogs => 32,
        }
    }
}

/// An error of `host bench`.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The backend is not available.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The benchmark model could not be built.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The benchmark model cannot be trained.
    #[error("{0}")]
    Loss(String),
}

/// Runs the benchmark on each requested backend.
pub fn run(args: &BenchArgs) -> Result<(), BenchError> {
    let backends = if args.backend.is_empty() {
        let mut v = vec![BackendChoice::Cpu];
        let auto = auto_backend();
        if auto != BackendChoice::Cpu {
            v.push(auto);
        }
        v
    } else {
        args.backend.clone()
    };
    for choice in backends {
        if args.vgg16 {
            with_backend(
                choice,
                Vgg16Job {
                    size: args.image_size,
                    batch: args.vgg16_batch.max(1),
                    batches: args.vgg16_batches.max(1),
                },
            )??;
        } else {
            with_backend(
                choice,
                BenchJob {
                    model: args.model,
                    batch: args.batch_size.unwrap_or(args.model.batch()).max(1),
                    steps: args.steps.max(1),
                },
            )??;
        }
    }
    Ok(())
}

struct BenchJob {
    model: BenchModel,
    batch: usize,
    steps: usize,
}

impl BackendJob for BenchJob {
    type Output = Result<(), BenchError>;
    fn run<B: Backend>(self, backend: B) -> Self::Output {
        bench_backend(&backend, self.model, self.batch, self.steps)
    }
}

struct Vgg16Job {
    size: (usize, usize),
    batch: usize,
    batches: usize,
}

impl BackendJob for Vgg16Job {
    type Output = Result<(), BenchError>;
    fn run<B: Backend>(self, backend: B) -> Self::Output {
        bench_vgg16(&backend, self.size, self.batch, self.batches)
    }
}

/// Forward throughput of the VGG16 base (random weights: the time does not depend on the
/// values), then each layer's forward time in one pass.
fn bench_vgg16<B: Backend>(
    b: &B,
    (h, w): (usize, usize),
    batch: usize,
    batches: usize,
) -> Result<(), BenchError> {
    use crate::applications::vgg16;
    let model = vgg16::conv_base(h, w, vgg16::WIDTHS).build(0)?;
    let net = Network::new(b, &model);
    let mut rng = StdRng::seed_from_u64(1);
    let images: Vec<f32> = (0..batch * h * w * 3)
        .map(|_| rng.gen_range(0.0..255.0))
        .collect();
    let macs: u64 = (0..model.layers().len())
        .map(
            |i| match (&model.layers()[i].kind, model.output_shapes()[i]) {
                (LayerKind::Conv2D(c), crate::layers::Shape::Image { h, w, c: oc }) => {
                    (h * w * oc * c.kernel_size[0] * c.kernel_size[1]) as u64
                        * model.layer_input_shape(i).dims()[2] as u64
                }
                _ => 0,
            },
        )
        .sum();
    println!(
        "== {} (VGG16 base forward, {h}x{w}, batch {batch}, {:.1} GFLOP per image)",
        b.name(),
        2.0 * macs as f64 / 1e9
    );
    let forward = || {
        let x = b.from_slice(&images);
        let (y, _) = net.forward(x, batch, None);
        b.to_vec(&y)
    };
    forward();
    let start = Instant::now();
    for _ in 0..batches {
        forward();
    }
    let secs = start.elapsed().as_secs_f64() / batches as f64;
    println!(
        "forward: {:.1} ms per batch, {:.2} images/s, {:.1} GFLOP/s",
        secs * 1e3,
        batch as f64 / secs,
        2.0 * macs as f64 * batch as f64 / secs / 1e9
    );
    // Per layer, one timed call each (the throughput passes above warmed the buffers).
    let mut x = b.from_slice(&images);
    println!("{:<34}{:>12}", "layer", "forward");
    for (i, layer) in model.layers().iter().enumerate() {
        let input = model.layer_input_shape(i);
        let label = format!("{} {}", layer.name, model.output_shapes()[i]);
        let params = &net.params[i];
        let start = Instant::now();
        let y = match &layer.kind {
            LayerKind::Conv2D(c) => {
                let g = c.geom(input, batch);
                b.relu(&b.conv2d(&x, &params[0], params.get(1), &g))
            }
            LayerKind::MaxPooling2D(p) => b.max_pool2d(&x, &p.0.geom(input, batch)).0,
            _ => b.copy(&x),
        };
        let _ = b.len(&y);
        let _ = b.to_vec(&y);
        let t = start.elapsed().as_secs_f64();
        println!("{label:<34}{:>10.1}ms", t * 1e3);
        x = y;
    }
    Ok(())
}

/// Seconds per call of `f`, over `reps` calls after one warm-up; `sync` waits for the device.
///
/// Each result is dropped before the next call, as training drops an op's output before the
/// next step runs it: the next call then reuses its buffer. (Keeping it until the next result
/// existed made one call in each row take a fresh buffer, whose page faults cost about 2.5 µs
/// per 4 KiB: 30-80 ms in the rows of the largest tensors, which training never pays.)
fn time<T>(reps: usize, mut f: impl FnMut() -> T, sync: impl Fn(&T)) -> f64 {
    sync(&f());
    let start = Instant::now();
    let mut last = None;
    for _ in 0..reps {
        drop(last.take());
        last = Some(f());
    }
    if let Some(l) = &last {
        sync(l);
    }
    start.elapsed().as_secs_f64() / reps as f64
}

fn bench_backend<B: Backend>(
    b: &B,
    which: BenchModel,
    batch: usize,
    steps: usize,
) -> Result<(), BenchError> {
    let mut model = which.build()?;
    let loss = Loss::for_model(&model).map_err(BenchError::Loss)?;
    let mut rng = StdRng::seed_from_u64(1);
    let per = model.input_shape().len();
    // Pixels as the model takes them (the cats-vs-dogs model rescales 0..255 itself).
    let top = if which == BenchModel::Catsdogs {
        255.0
    } else {
        1.0
    };
    let images: Vec<f32> = (0..batch * per).map(|_| rng.gen_range(0.0..top)).collect();
    let classes = model.output_shape().len().max(2) as u32;
    let labels: Vec<u32> = (0..batch).map(|_| rng.gen_range(0..classes)).collect();
    println!("== {} ({which:?}, batch {batch})", b.name());

    // Whole training steps.
    let mut net = Network::new(b, &model);
    let mut opt = OptimizerState::new(Optimizer::rmsprop(), &net);
    let step = |net: &mut Network<'_, B>, opt: &mut OptimizerState<B>| {
        let out = train_step(net, &loss, BatchInput::Host(&images), &labels, 0)
            .expect("a training forward pass keeps a tape");
        opt.apply(net, out.grads);
    };
    step(&mut net, &mut opt);
    let start = Instant::now();
    for _ in 0..steps {
        step(&mut net, &mut opt);
    }
    // Wait for the device: read back the first parameter tensor.
    if let Some(p) = net.params.iter().flatten().next() {
        let _ = b.to_vec(p);
    }
    let secs = start.elapsed().as_secs_f64() / steps as f64;
    println!(
        "training step: {:.2} ms, {:.0} images/s",
        secs * 1e3,
        batch as f64 / secs
    );
    net.download_into(&mut model);

    // Per-op times, forward and backward, for every layer's geometry.
    let sync = |t: &B::Tensor| b.sync(t);
    let reps = steps.max(3);
    println!(
        "{:<34}{:>12}{:>12}{:>12}",
        "op", "forward", "d input", "d weight"
    );
    println!("(convolutions: forward with its ReLU, d weight with the bias's gradient)");
    let mut x = b.from_slice(&images);
    for (i, layer) in model.layers().iter().enumerate() {
        let input = model.layer_input_shape(i);
        let params: Vec<B::Tensor> = model.params()[i]
            .iter()
            .map(|p| b.from_slice(&p.values))
            .collect();
        let label = format!("{} {}", layer.name, model.output_shapes()[i]);
        let y = match &layer.kind {
            LayerKind::Conv2D(c) => {
                // The ops training runs: the convolution with its ReLU, the weight gradient
                // with the bias's.
                let g = c.geom(input, batch);
                let relu = c.activation == Activation::Relu;
                let forward = || {
                    if relu {
                        b.conv2d_relu(&x, &params[0], params.get(1), &g)
                    } else {
                        b.conv2d(&x, &params[0], params.get(1), &g)
                    }
                };
                let f = time(reps, forward, sync);
                let y = forward();
                let dx = time(reps, || b.conv2d_backward_input(&y, &params[0], &g), sync);
                let dw = if c.use_bias {
                    time(reps, || b.conv2d_backward_weight_bias(&x, &y, &g).0, sync)
                } else {
                    time(reps, || b.conv2d_backward_weight(&x, &y, &g), sync)
                };
                println!(
                    "{label:<34}{:>10.3}ms{:>10.3}ms{:>10.3}ms",
                    f * 1e3,
                    dx * 1e3,
                    dw * 1e3
                );
                y
            }
            LayerKind::Dense(d) => {
                let g = d.geom(input, batch);
                let f = time(reps, || b.dense(&x, &params[0], params.get(1), &g), sync);
                let y = b.dense(&x, &params[0], params.get(1), &g);
                let dx = time(reps, || b.dense_backward_input(&y, &params[0], &g), sync);
                let dw = time(reps, || b.dense_backward_weight(&x, &y, &g), sync);
                println!(
                    "{label:<34}{:>10.3}ms{:>10.3}ms{:>10.3}ms",
                    f * 1e3,
                    dx * 1e3,
                    dw * 1e3
                );
                y
            }
            LayerKind::MaxPooling2D(p) => {
                let g = p.0.geom(input, batch);
                let f = time(reps, || b.max_pool2d(&x, &g).0, sync);
                let (y, arg) = b.max_pool2d(&x, &g);
                let dx = time(reps, || b.max_pool2d_backward(&y, &arg, &g), sync);
                println!("{label:<34}{:>10.3}ms{:>10.3}ms", f * 1e3, dx * 1e3);
                y
            }
            _ => b.copy(&x),
        };
        x = y;
    }
    let ce = time(reps, || loss.compute(b, &x, &labels, batch).grad, sync);
    println!("{:<34}{:>10.3}ms", "softmax cross-entropy", ce * 1e3);
    Ok(())
}
