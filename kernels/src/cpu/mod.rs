//! The native CPU backend: a packed-panel GEMM for convolutions (fed by im2col, by the image
//! in place, or by Winograd's transforms), `matrixmultiply` SGEMM for dense layers, rayon for
//! parallelism.
//!
//! - Convolutions are GEMMs over the im2col matrix (formed, or read in place by the implicit
//!   GEMM of a valid forward pass), cut into row blocks of about 256 KiB (and
//!   at least 4 blocks per thread); each task forms its block in a per-thread scratch buffer
//!   and multiplies it with the (bias-augmented) kernel matrix, packed once per op (see
//!   `panel.rs`). The input gradient works on whole images per task so that col2im never
//!   races; the kernel gradient sums per-task partial products.
//! - The convolutions moved from `matrixmultiply` to `panel.rs` by measurement: `matrixmultiply`
//!   re-packs both operands on every call, which took 35 % of a one-thread MNIST training step
//!   (`perf`); with the kernel matrix packed once per op the step went from 61.7 to 42.3 ms on
//!   one thread and from 34.5 to 25.7 ms on two (`host bench --backend cpu`, 2-core AMD EPYC VM).
//!   Dense layers are too small to matter and keep `matrixmultiply`.
//! - 3×3 stride-1 layers with 64+ input channels use Winograd forward (`winograd/`, F(4×4,
//!   3×3); with the AVX-512 multiply from 32 where it times faster than the GEMM: `tune.rs`);
//!   other
//!   valid-padding layers an implicit GEMM that reads its patches from the image in place
//!   (`direct.rs`, AVX2/baseline multiply; with the AVX-512 multiply, where it times faster
//!   than im2col on the first call: `tune.rs`); the rest im2col. The gradients of 3×3 stride-1
//!   layers also go by Winograd where they measured faster (kernel gradient from 32 input
//!   channels and 64 pixels per image, input gradient from 64 output channels and 256
//!   pixels; all by F(4×4, 3×3) since 2026-12-04, by F(2×2, 3×3) before): the
//!   cats-vs-dogs step on one thread went from 1,064-1,078 to 908-912 ms (`host bench
//!   --backend cpu --model catsdogs`, Zen 3 VM), and to 848-890 ms with the cheaper A packing
//!   (`panel::pack_a`) and Winograd forward from 64 input channels instead of 128. The kernel
//!   gradient of a short patch (`K` up to 144: the first layers) is an implicit GEMM too
//!   (`direct_weight.rs`), and the im2col gradients take at least 256 pixels per chunk.
//! - A convolution's ReLU is applied as the GEMM stores each result (`conv2d_relu`), and its
//!   bias gradient comes out of the weight gradient's GEMM as one more row (the im2col rows
//!   end with a 1; by Winograd, it is summed as `dy` is transformed), so neither makes a pass
//!   over the layer's output.
//! - Training runs data-parallel: [`Backend::on_replicas`] gives each thread a one-thread
//!   replica that runs a slice of the batch whole, so no op forks and joins (a 2-thread MNIST
//!   step was 16.1 ms with parallel ops, 15.1 ms with two replicas, against 14.5 ms for one
//!   replica's half batch on one thread).
//! - Element-wise ops and the optimisers run over blocks of 16 Ki elements in parallel (ops on
//!   at most one block run on the calling thread, as do small dense layers); pooling and
//!   resampling run one image per task.
//! - Large output buffers are recycled (see `recycle.rs`; a full bin frees its oldest
//!   buffers): steady-state training maps no new memory.
//! - Where B is used by one product only (Winograd's kernel gradient, the im2col weight
//!   gradient), the GEMM reads it in place instead of packing it (`panel::gemm_once_b`);
//!   passes over memory run compiled for the CPU's widest vectors (`panel::widest`, the
//!   Winograd transforms, max pooling).
//! - Dropout masks follow [`crate::dropout`] exactly, as every backend must.

mod conv;
mod dense;
mod direct;
mod direct_weight;
mod elementwise;
mod gemm;
mod loss;
mod optim;
mod panel;
mod pool;
mod recycle;
mod resample;
mod tensor;
mod tune;
mod winograd;

use std::sync::{Arc, OnceLock};

pub use resample::reflect_coord;
pub use tensor::{CpuIndex, CpuTensor};

use crate::backend::{Backend, LossOutput};
use crate::geometry::{Conv2dGeom, DenseGeom, ImageGeom, Pool2dGeom};

/// Work (elements) up to which an element-wise op runs on the calling thread: handing work to
/// the pool and back costs microseconds (much more on a busy machine), more than the work.
pub(crate) const SMALL_WORK: usize = 16 * 1024;

/// Error creating a CPU backend.
#[derive(Debug, thiserror::Error)]
pub enum CpuBackendError {
    /// The rayon thread pool could not be built.
    #[error("cannot build a rayon pool of {threads} threads: {source}")]
    ThreadPool {
        /// Requested threads.
        threads: usize,
        /// The rayon error.
        source: rayon::ThreadPoolBuildError,
    },
}

/// The native CPU backend. Runs its ops on rayon's global pool ([`CpuBackend::new`]) or on a
/// pool of its own ([`CpuBackend::with_threads`]).
#[derive(Clone, Debug)]
pub struct CpuBackend {
    pool: Option<Arc<rayon::ThreadPool>>,
    /// The one-thread backends of [`Backend::on_replicas`], made on first use.
    replicas: Arc<OnceLock<Vec<CpuBackend>>>,
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBackend {
    /// A backend on rayon's global thread pool (`RAYON_NUM_THREADS`, default: one thread per
    /// logical CPU).
    pub fn new() -> Self {
        CpuBackend {
            pool: None,
            replicas: Arc::default(),
        }
    }

    /// A backend on a pool of its own of `threads` threads (0: rayon's default count). Ops
    /// too small to split (element-wise ops and optimiser updates of at most 16 Ki elements,
    /// dense layers of at most 1 Mi multiply-adds) run on the calling thread instead.
    pub fn with_threads(threads: usize) -> Result<Self, CpuBackendError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("tinyconv-cpu-{i}"))
            .build()
            .map_err(|source| CpuBackendError::ThreadPool { threads, source })?;
        Ok(CpuBackend {
            pool: Some(Arc::new(pool)),
            replicas: Arc::default(),
        })
    }

    /// Threads that run this backend's ops.
    pub fn threads(&self) -> usize {
        match &self.pool {
            Some(p) => p.current_num_threads(),
            None => rayon::current_num_threads(),
        }
    }

    /// One one-thread backend per thread of this one (none when this one has a single thread,
    /// or when a pool cannot be made: batches then run whole).
    fn replica_backends(&self) -> &[CpuBackend] {
        self.replicas.get_or_init(|| match self.threads() {
            0 | 1 => Vec::new(),
            n => (0..n)
                .map(|_| CpuBackend::with_threads(1))
                .collect::<Result<_, _>>()
                .unwrap_or_default(),
        })
    }

    /// Runs an op on this backend's pool.
    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    /// Runs an op of `work` elements that runs on the calling thread when `work` is at most
    /// [`SMALL_WORK`] (element-wise ops, optimisers, small dense layers): then it does not
    /// touch the pool at all.
    fn run_sized<R: Send>(&self, work: usize, f: impl FnOnce() -> R + Send) -> R {
        if work <= SMALL_WORK {
            f()
        } else {
            self.run(f)
        }
    }
}

impl Backend for CpuBackend {
    type Tensor = CpuTensor;
    type Index = CpuIndex;

    fn name(&self) -> String {
        format!("cpu ({} threads)", self.threads())
    }

    /// One replica per thread: a slice of the batch per core, each replica's ops on one
    /// thread (per-op fork-join cost more than it gained at MNIST's sizes; see the module
    /// docs).
    fn replicas(&self) -> usize {
        self.replica_backends().len().max(1)
    }

    /// Replica 0 runs on the calling thread's behalf (in its pool), the others from scoped
    /// threads, each inside its own one-thread pool, whose worker keeps its thread-local
    /// scratch buffers across calls.
    fn on_replicas<T: Send>(&self, f: impl Fn(usize, &Self) -> T + Sync) -> Vec<T> {
        let reps = self.replica_backends();
        let Some((first, rest)) = reps.split_first() else {
            return vec![f(0, self)];
        };
        let f = &f;
        std::thread::scope(|s| {
            let others: Vec<_> = rest
                .iter()
                .enumerate()
                .map(|(i, r)| s.spawn(move || r.run(|| f(i + 1, r))))
                .collect();
            let mut out = Vec::with_capacity(reps.len());
            out.push(first.run(|| f(0, first)));
            for h in others {
                out.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            }
            out
        })
    }

    fn from_slice(&self, data: &[f32]) -> CpuTensor {
        CpuTensor(recycle::copy_of(data))
    }
    fn index_from_slice(&self, data: &[u32]) -> CpuIndex {
        let mut v = recycle::U32.take_empty(data.len());
        v.extend_from_slice(data);
        CpuIndex(v)
    }
    fn zeros(&self, len: usize) -> CpuTensor {
        CpuTensor(recycle::zeros(len))
    }
    fn to_vec(&self, t: &CpuTensor) -> Vec<f32> {
        t.0.clone()
    }
    fn index_to_vec(&self, t: &CpuIndex) -> Vec<u32> {
        t.0.clone()
    }
    /// Nothing to wait for: every op has finished when it returns.
    fn sync(&self, _t: &CpuTensor) {}
    fn len(&self, t: &CpuTensor) -> usize {
        t.0.len()
    }
    fn copy(&self, t: &CpuTensor) -> CpuTensor {
        t.clone()
    }

    fn conv2d(
        &self,
        x: &CpuTensor,
        w: &CpuTensor,
        bias: Option<&CpuTensor>,
        g: &Conv2dGeom,
    ) -> CpuTensor {
        CpuTensor(self.run(|| conv::conv2d(&x.0, &w.0, bias.map(|b| b.as_slice()), g, false)))
    }
    fn conv2d_relu(
        &self,
        x: &CpuTensor,
        w: &CpuTensor,
        bias: Option<&CpuTensor>,
        g: &Conv2dGeom,
    ) -> CpuTensor {
        CpuTensor(self.run(|| conv::conv2d(&x.0, &w.0, bias.map(|b| b.as_slice()), g, true)))
    }
    fn conv2d_backward_input(&self, dy: &CpuTensor, w: &CpuTensor, g: &Conv2dGeom) -> CpuTensor {
        CpuTensor(self.run(|| conv::conv2d_backward_input(&dy.0, &w.0, g)))
    }
    fn conv2d_backward_weight(&self, x: &CpuTensor, dy: &CpuTensor, g: &Conv2dGeom) -> CpuTensor {
        CpuTensor(self.run(|| conv::conv2d_backward_weight(&x.0, &dy.0, g)))
    }
    fn bias_grad(&self, dy: &CpuTensor, channels: usize) -> CpuTensor {
        CpuTensor(self.run_sized(dy.0.len(), || elementwise::bias_grad(&dy.0, channels)))
    }
    fn conv2d_backward_weight_bias(
        &self,
        x: &CpuTensor,
        dy: &CpuTensor,
        g: &Conv2dGeom,
    ) -> (CpuTensor, CpuTensor) {
        let (dw, db) = self.run(|| conv::conv2d_backward_weight_bias(&x.0, &dy.0, g));
        (CpuTensor(dw), CpuTensor(db))
    }

    fn max_pool2d(&self, x: &CpuTensor, g: &Pool2dGeom) -> (CpuTensor, CpuIndex) {
        let (y, i) = self.run(|| pool::max_pool2d(&x.0, g));
        (CpuTensor(y), CpuIndex(i))
    }
    fn max_pool2d_backward(&self, dy: &CpuTensor, argmax: &CpuIndex, g: &Pool2dGeom) -> CpuTensor {
        CpuTensor(self.run(|| pool::max_pool2d_backward(&dy.0, &argmax.0, g)))
    }
    fn avg_pool2d(&self, x: &CpuTensor, g: &Pool2dGeom) -> CpuTensor {
        CpuTensor(self.run(|| pool::avg_pool2d(&x.0, g)))
    }
    fn avg_pool2d_backward(&self, dy: &CpuTensor, g: &Pool2dGeom) -> CpuTensor {
        CpuTensor(self.run(|| pool::avg_pool2d_backward(&dy.0, g)))
    }

    fn dense(
        &self,
        x: &CpuTensor,
        w: &CpuTensor,
        bias: Option<&CpuTensor>,
        g: &DenseGeom,
    ) -> CpuTensor {
        CpuTensor(self.run_sized(g.batch * g.inputs * g.outputs / 64, || {
            dense::dense(&x.0, &w.0, bias.map(|b| b.as_slice()), g)
        }))
    }
    fn dense_backward_input(&self, dy: &CpuTensor, w: &CpuTensor, g: &DenseGeom) -> CpuTensor {
        CpuTensor(self.run_sized(g.batch * g.inputs * g.outputs / 64, || {
            dense::dense_backward_input(&dy.0, &w.0, g)
        }))
    }
    fn dense_backward_weight(&self, x: &CpuTensor, dy: &CpuTensor, g: &DenseGeom) -> CpuTensor {
        CpuTensor(self.run_sized(g.batch * g.inputs * g.outputs / 64, || {
            dense::dense_backward_weight(&x.0, &dy.0, g)
        }))
    }

    fn relu(&self, x: &CpuTensor) -> CpuTensor {
        CpuTensor(self.run_sized(x.0.len(), || elementwise::relu(&x.0)))
    }
    fn relu_backward(&self, y: &CpuTensor, dy: &CpuTensor) -> CpuTensor {
        CpuTensor(self.run_sized(y.0.len(), || elementwise::relu_backward(&y.0, &dy.0)))
    }
    /// In place: a training step's activations are the largest buffers it touches (130 MB
    /// for the first cats-vs-dogs layer at batch 32), and a second buffer for the ReLU of
    /// each is memory the step need not map.
    fn relu_owned(&self, mut x: CpuTensor) -> CpuTensor {
        self.run_sized(x.0.len(), || {
            elementwise::update(&mut x.0, |v| v.max(0.0));
        });
        x
    }
    fn relu_backward_owned(&self, y: &CpuTensor, mut dy: CpuTensor) -> CpuTensor {
        self.run_sized(y.0.len(), || {
            elementwise::update_zip(&mut dy.0, &y.0, |d, y| elementwise::relu_grad(y, d));
        });
        dy
    }
    fn scale_shift(&self, x: &CpuTensor, scale: f32, offset: f32) -> CpuTensor {
        CpuTensor(self.run_sized(x.0.len(), || elementwise::map(&x.0, |v| v * scale + offset)))
    }
    fn mul(&self, a: &CpuTensor, b: &CpuTensor) -> CpuTensor {
        CpuTensor(self.run_sized(a.0.len(), || elementwise::zip_map(&a.0, &b.0, |a, b| a * b)))
    }
    fn add(&self, a: &CpuTensor, b: &CpuTensor) -> CpuTensor {
        CpuTensor(self.run_sized(a.0.len(), || elementwise::zip_map(&a.0, &b.0, |a, b| a + b)))
    }
    fn dropout_mask(&self, len: usize, rate: f32, seed: u64) -> CpuTensor {
        CpuTensor(self.run_sized(len, || elementwise::dropout_mask(len, rate, seed)))
    }

    fn softmax(&self, logits: &CpuTensor, batch: usize, classes: usize) -> CpuTensor {
        CpuTensor(loss::softmax(&logits.0, batch, classes))
    }
    fn sigmoid(&self, x: &CpuTensor) -> CpuTensor {
        CpuTensor(self.run_sized(x.0.len(), || elementwise::map(&x.0, elementwise::sigmoid1)))
    }
    fn softmax_cross_entropy(
        &self,
        logits: &CpuTensor,
        labels: &CpuIndex,
        batch: usize,
        classes: usize,
    ) -> LossOutput<CpuTensor> {
        let (loss, correct, grad) =
            loss::softmax_cross_entropy(&logits.0, &labels.0, batch, classes);
        LossOutput {
            loss,
            correct,
            grad: CpuTensor(grad),
        }
    }
    fn sigmoid_binary_cross_entropy(
        &self,
        logits: &CpuTensor,
        targets: &CpuTensor,
        batch: usize,
    ) -> LossOutput<CpuTensor> {
        let (loss, correct, grad) =
            loss::sigmoid_binary_cross_entropy(&logits.0, &targets.0, batch);
        LossOutput {
            loss,
            correct,
            grad: CpuTensor(grad),
        }
    }

    fn affine_resample(&self, x: &CpuTensor, g: &ImageGeom, transforms: &[[f32; 6]]) -> CpuTensor {
        CpuTensor(self.run(|| resample::affine_resample(&x.0, g, transforms)))
    }

    fn rmsprop_update(
        &self,
        param: &mut CpuTensor,
        grad: &CpuTensor,
        velocity: &mut CpuTensor,
        lr: f32,
        rho: f32,
        eps: f32,
    ) {
        self.run_sized(grad.0.len(), || {
            optim::rmsprop_update(&mut param.0, &grad.0, &mut velocity.0, lr, rho, eps)
        })
    }
    fn adam_update(
        &self,
        param: &mut CpuTensor,
        grad: &CpuTensor,
        m: &mut CpuTensor,
        v: &mut CpuTensor,
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        t: u32,
    ) {
        self.run_sized(grad.0.len(), || {
            optim::adam_update(
                &mut param.0,
                &grad.0,
                &mut m.0,
                &mut v.0,
                lr,
                beta1,
                beta2,
                eps,
                t,
            )
        })
    }
}
