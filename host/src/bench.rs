//! `host bench`: training throughput of the MNIST convnet and time per op, per backend.
//! Numbers come from timing real work on the chosen backend; nothing here is a test.

use std::time::Instant;

use kernels::Backend;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cli::{auto_backend, with_backend, BackendChoice, BackendJob, BenchArgs, CliError};
use crate::layers::LayerKind;
use crate::loss::Loss;
use crate::network::Network;
use crate::optim::{Optimizer, OptimizerState};
use crate::zoo;

/// Runs the benchmark on each requested backend.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
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
        with_backend(
            choice,
            BenchJob {
                batch: args.batch_size.max(1),
                steps: args.steps.max(1),
            },
        )??;
    }
    Ok(())
}

struct BenchJob {
    batch: usize,
    steps: usize,
}

impl BackendJob for BenchJob {
    type Output = Result<(), CliError>;
    fn run<B: Backend>(self, backend: B) -> Self::Output {
        bench_backend(&backend, self.batch, self.steps)
    }
}

/// Seconds per call of `f`, over `reps` calls after one warm-up; `sync` waits for the device.
fn time<T>(reps: usize, mut f: impl FnMut() -> T, sync: impl Fn(&T)) -> f64 {
    sync(&f());
    let start = Instant::now();
    let mut last = None;
    for _ in 0..reps {
        last = Some(f());
    }
    if let Some(l) = &last {
        sync(l);
    }
    start.elapsed().as_secs_f64() / reps as f64
}

fn bench_backend<B: Backend>(b: &B, batch: usize, steps: usize) -> Result<(), CliError> {
    let mut model = zoo::mnist_convnet().build(0)?;
    let loss = Loss::for_model(&model).map_err(|e| CliError::Backend(e.to_string()))?;
    let mut rng = StdRng::seed_from_u64(1);
    let images: Vec<f32> = (0..batch * 784).map(|_| rng.gen()).collect();
    let labels: Vec<u32> = (0..batch).map(|_| rng.gen_range(0..10)).collect();
    println!("== {} (batch {batch})", b.name());

    // Whole training steps.
    let mut net = Network::new(b, &model);
    let mut opt = OptimizerState::new(Optimizer::rmsprop(), &net);
    let step = |net: &mut Network<'_, B>, opt: &mut OptimizerState<B>| {
        let x = b.from_slice(&images);
        let (logits, tape) = net.forward(x, batch, Some(0));
        let out = loss.compute(b, &logits, &labels, batch);
        let grads = net.backward(tape.expect("training tape"), out.grad);
        opt.apply(net, grads);
    };
    step(&mut net, &mut opt);
    let start = Instant::now();
    for _ in 0..steps {
        step(&mut net, &mut opt);
    }
    let _ = b.to_vec(&net.params[0][0]);
    let secs = start.elapsed().as_secs_f64() / steps as f64;
    println!(
        "training step: {:.2} ms, {:.0} images/s",
        secs * 1e3,
        batch as f64 / secs
    );
    net.download_into(&mut model);

    // Per-op times, forward and backward, for every layer's geometry.
    let sync = |t: &B::Tensor| {
        let _ = b.len(t);
        let _ = b.to_vec(t);
    };
    let reps = steps.max(3);
    println!(
        "{:<34}{:>12}{:>12}{:>12}",
        "op", "forward", "d input", "d weight"
    );
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
                let g = c.geom(input, batch);
                let f = time(reps, || b.conv2d(&x, &params[0], params.get(1), &g), sync);
                let y = b.conv2d(&x, &params[0], params.get(1), &g);
                let dx = time(reps, || b.conv2d_backward_input(&y, &params[0], &g), sync);
                let dw = time(reps, || b.conv2d_backward_weight(&x, &y, &g), sync);
                println!(
                    "{label:<34}{:>10.3}ms{:>10.3}ms{:>10.3}ms",
                    f * 1e3,
                    dx * 1e3,
                    dw * 1e3
                );
                b.relu(&y)
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
