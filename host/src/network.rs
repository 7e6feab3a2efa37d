//! A model's weights on a device, with the forward and backward passes of every layer.

use std::sync::Arc;

use kernels::Backend;

use crate::layers::{Activation, LayerKind, Shape};
use crate::model::{Model, Param};

/// What the backward pass of one layer needs from its forward pass.
enum Cache<B: Backend> {
    /// Nothing (the layer's backward needs only shapes).
    Empty,
    /// Conv2D/Dense: the input (for the weight gradient) and the ReLU output (`None` when a
    /// max pooling layer follows: it applies the ReLU's mask, see
    /// [`Network::relu_mask_after_pool`]). Both are shared with the activations they are (a
    /// ReLU output is often the next layer's input), never copied.
    Linear {
        x: Option<Arc<B::Tensor>>,
        relu_y: Option<Arc<B::Tensor>>,
    },
    /// MaxPooling2D: arg-max positions and, when the pooled layer is a ReLU (whose own cache
    /// then keeps no output, see [`Network::relu_mask_after_pool`]), the pooled output, whose
    /// sign is the ReLU's mask at every arg-max.
    MaxPool {
        arg: B::Index,
        relu_y: Option<Arc<B::Tensor>>,
    },
    /// Dropout: the mask.
    Mask(B::Tensor),
}

/// Gradients of one layer's parameters (`None` for frozen layers).
pub type LayerGrads<T> = Option<Vec<T>>;

/// Activations kept by a training forward pass.
pub struct Tape<B: Backend> {
    caches: Vec<Cache<B>>,
    batch: usize,
}

impl<B: Backend> Tape<B> {
    /// Indices of the layers whose backward pass keeps tensors (inputs, ReLU outputs, arg-max
    /// positions and pooled outputs, or dropout masks) alive; a frozen prefix of the model
    /// keeps none.
    pub fn layers_with_tensors(&self) -> Vec<usize> {
        self.caches
            .iter()
            .enumerate()
            .filter(|(_, c)| match c {
                Cache::Empty => false,
                Cache::Linear { x, relu_y } => x.is_some() || relu_y.is_some(),
                Cache::MaxPool { .. } | Cache::Mask(_) => true,
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// A model uploaded to a backend.
pub struct Network<'b, B: Backend> {
    backend: &'b B,
    kinds: Vec<LayerKind>,
    inputs: Vec<Shape>,
    trainable: Vec<bool>,
    /// Device copies of each layer's parameters.
    pub(crate) params: Vec<Vec<B::Tensor>>,
    /// Fixed tensors of parameter-free layers (a `Preprocess` layer's channel map as a
    /// `Dense` kernel and bias); empty for the other layers.
    constants: Vec<Vec<B::Tensor>>,
    /// Whether a gradient must reach the output of layer `i` (some layer `<= i` trains).
    grad_out: Vec<bool>,
    /// Whether layer `i` must compute its input gradient (some layer `< i` trains).
    grad_in: Vec<bool>,
}

impl<'b, B: Backend> Network<'b, B> {
    /// Uploads `model`'s weights.
    pub fn new(backend: &'b B, model: &Model) -> Self {
        let n = model.layers().len();
        let kinds: Vec<LayerKind> = model.layers().iter().map(|l| l.kind).collect();
        let inputs = (0..n).map(|i| model.layer_input_shape(i)).collect();
        let trainable: Vec<bool> = model
            .layers()
            .iter()
            .zip(model.params())
            .map(|(l, p)| l.trainable && !p.is_empty())
            .collect();
        let params = model
            .params()
            .iter()
            .map(|ps| ps.iter().map(|p| backend.from_slice(&p.values)).collect())
            .collect();
        let constants = kinds
            .iter()
            .map(|k| match k {
                LayerKind::Preprocess(p) => {
                    let (m, off) = p.channel_map();
                    vec![backend.from_slice(&m), backend.from_slice(&off)]
                }
                _ => Vec::new(),
            })
            .collect();
        let mut grad_out = vec![false; n];
        let mut grad_in = vec![false; n];
        let mut any = false;
        for i in 0..n {
            grad_in[i] = any;
            any |= trainable[i];
            grad_out[i] = any;
        }
        Self {
            backend,
            kinds,
            inputs,
            trainable,
            params,
            constants,
            grad_out,
            grad_in,
        }
    }

    /// The backend.
    pub fn backend(&self) -> &'b B {
        self.backend
    }

    /// Whether layer `i` has weights that training updates.
    pub fn is_trainable(&self, i: usize) -> bool {
        self.trainable[i]
    }

    /// Downloads the weights into `model` (which must be the model this was built from).
    pub fn download_into(&self, model: &mut Model) {
        let params: Vec<Vec<Param>> = model
            .params()
            .iter()
            .zip(&self.params)
            .map(|(host, dev)| {
                host.iter()
                    .zip(dev)
                    .map(|(p, t)| Param {
                        name: p.name.clone(),
                        shape: p.shape.clone(),
                        values: self.backend.to_vec(t),
                    })
                    .collect()
            })
            .collect();
        model
            .set_params(params)
            .expect("device weights have the model's shapes");
    }

    /// Forward pass to the logits (the final softmax/sigmoid is left out). With
    /// `dropout_seed` set, runs in training mode (dropout active) and records a [`Tape`].
    pub fn forward(
        &self,
        x: B::Tensor,
        batch: usize,
        dropout_seed: Option<u64>,
    ) -> (B::Tensor, Option<Tape<B>>) {
        self.forward_on(self.backend, x, batch, dropout_seed)
    }

    /// [`Network::forward`] with the ops on `b` (a replica of the network's backend, see
    /// [`kernels::Backend::on_replicas`]).
    pub fn forward_on(
        &self,
        b: &B,
        x: B::Tensor,
        batch: usize,
        dropout_seed: Option<u64>,
    ) -> (B::Tensor, Option<Tape<B>>) {
        self.forward_impl(b, x, batch, dropout_seed, &mut |_, _| {})
    }

    /// Inference forward pass (dropout off) calling `observe(layer, output)` after every
    /// layer with its output tensor (the last layer's is the logits, before softmax/sigmoid):
    /// what post-training calibration measures.
    pub fn forward_observed(
        &self,
        x: B::Tensor,
        batch: usize,
        observe: &mut dyn FnMut(usize, &B::Tensor),
    ) -> B::Tensor {
        self.forward_impl(self.backend, x, batch, None, observe).0
    }

    fn forward_impl(
        &self,
        b: &B,
        x: B::Tensor,
        batch: usize,
        dropout_seed: Option<u64>,
        observe: &mut dyn FnMut(usize, &B::Tensor),
    ) -> (B::Tensor, Option<Tape<B>>) {
        let training = dropout_seed.is_some();
        let mut caches = Vec::with_capacity(self.kinds.len());
        let mut x = Arc::new(x);
        let last = self.kinds.len() - 1;
        for (i, kind) in self.kinds.iter().enumerate() {
            let input = self.inputs[i];
            let keep_x = training && self.trainable[i];
            let keep_y = training && self.grad_out[i];
            // A ReLU followed by max pooling leaves its mask to the pooling layer.
            let keep_relu_y = keep_y && !self.relu_mask_after_pool(i + 1);
            let (y, cache) = match kind {
                LayerKind::Conv2D(c) => {
                    let g = c.geom(input, batch);
                    let p = &self.params[i];
                    if c.activation == Activation::Relu {
                        // The backend applies the ReLU as it stores the convolution.
                        let y = b.conv2d_relu(&x, &p[0], p.get(1), &g);
                        Self::relu_output(y, keep_x.then_some(x), keep_relu_y)
                    } else {
                        let z = b.conv2d(&x, &p[0], p.get(1), &g);
                        let x = keep_x.then_some(x);
                        self.activate(b, z, c.activation, i == last, x, keep_relu_y)
                    }
                }
                LayerKind::Dense(d) => {
                    let g = d.geom(input, batch);
                    let p = &self.params[i];
                    let z = b.dense(&x, &p[0], p.get(1), &g);
                    let x = keep_x.then_some(x);
                    self.activate(b, z, d.activation, i == last, x, keep_relu_y)
                }
                LayerKind::MaxPooling2D(p) => {
                    let (y, arg) = b.max_pool2d(&x, &p.0.geom(input, batch));
                    let y = Arc::new(y);
                    // A frozen prefix gets no gradient: its arg-max positions are dropped.
                    let cache = if keep_y {
                        let relu_y = self.relu_mask_after_pool(i).then(|| Arc::clone(&y));
                        Cache::MaxPool { arg, relu_y }
                    } else {
                        Cache::Empty
                    };
                    (y, cache)
                }
                LayerKind::AveragePooling2D(p) => (
                    Arc::new(b.avg_pool2d(&x, &p.0.geom(input, batch))),
                    Cache::Empty,
                ),
                LayerKind::Flatten(_) => (x, Cache::Empty),
                LayerKind::Rescaling(r) => {
                    (Arc::new(b.scale_shift(&x, r.scale, r.offset)), Cache::Empty)
                }
                LayerKind::Preprocess(_) => {
                    let c = &self.constants[i];
                    let g = Self::pixel_geom(input, batch);
                    (Arc::new(b.dense(&x, &c[0], Some(&c[1]), &g)), Cache::Empty)
                }
                LayerKind::Dropout(d) => match dropout_seed {
                    Some(seed) if d.rate > 0.0 => {
                        let layer_seed = seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                        let mask = b.dropout_mask(b.len(&x), d.rate, layer_seed);
                        (Arc::new(b.mul(&x, &mask)), Cache::Mask(mask))
                    }
                    _ => (x, Cache::Empty),
                },
            };
            if training {
                caches.push(cache);
            }
            observe(i, &y);
            x = y;
        }
        let tape = training.then_some(Tape { caches, batch });
        // Shared only if the tape keeps the logits (a ReLU output layer): then a copy.
        let logits = Arc::try_unwrap(x).unwrap_or_else(|x| b.copy(&x));
        (logits, tape)
    }

    fn activate(
        &self,
        b: &B,
        z: B::Tensor,
        a: Activation,
        last: bool,
        x: Option<Arc<B::Tensor>>,
        keep_y: bool,
    ) -> (Arc<B::Tensor>, Cache<B>) {
        match a {
            Activation::Relu => Self::relu_output(b.relu_owned(z), x, keep_y),
            // Softmax and sigmoid are only allowed on the last layer: they stay fused with
            // the loss in training and are applied by `predict`.
            Activation::Linear | Activation::Softmax | Activation::Sigmoid => {
                debug_assert!(!a.is_output_only() || last);
                (Arc::new(z), Cache::Linear { x, relu_y: None })
            }
        }
    }

    /// A ReLU layer's output `y` and its cache: the input `x` (for the weight gradient) and,
    /// with `keep_y`, `y` itself (for the ReLU's backward mask).
    fn relu_output(
        y: B::Tensor,
        x: Option<Arc<B::Tensor>>,
        keep_y: bool,
    ) -> (Arc<B::Tensor>, Cache<B>) {
        let y = Arc::new(y);
        let relu_y = keep_y.then(|| Arc::clone(&y));
        (y, Cache::Linear { x, relu_y })
    }

    /// Backward pass from d(loss)/d(logits): gradients of every trainable layer's
    /// parameters. Input gradients are computed only where an earlier layer trains.
    pub fn backward(&self, tape: Tape<B>, dlogits: B::Tensor) -> Vec<LayerGrads<B::Tensor>> {
        self.backward_on(self.backend, tape, dlogits)
    }

    /// [`Network::backward`] with the ops on `b` (the backend or replica that ran the
    /// forward pass).
    pub fn backward_on(
        &self,
        b: &B,
        tape: Tape<B>,
        dlogits: B::Tensor,
    ) -> Vec<LayerGrads<B::Tensor>> {
        let n = self.kinds.len();
        let batch = tape.batch;
        let mut grads: Vec<LayerGrads<B::Tensor>> = (0..n).map(|_| None).collect();
        let mut dy = dlogits;
        for (i, cache) in tape.caches.into_iter().enumerate().rev() {
            if !self.grad_out[i] {
                break;
            }
            let input = self.inputs[i];
            let need_dx = self.grad_in[i];
            let dx = match (&self.kinds[i], cache) {
                (LayerKind::Conv2D(c), Cache::Linear { x, relu_y }) => {
                    let g = c.geom(input, batch);
                    let dz = match relu_y {
                        Some(y) => b.relu_backward_owned(&y, dy),
                        None => dy,
                    };
                    if let Some(x) = x {
                        grads[i] = Some(if c.use_bias {
                            let (dw, db) = b.conv2d_backward_weight_bias(&x, &dz, &g);
                            vec![dw, db]
                        } else {
                            vec![b.conv2d_backward_weight(&x, &dz, &g)]
                        });
                    }
                    need_dx.then(|| b.conv2d_backward_input(&dz, &self.params[i][0], &g))
                }
                (LayerKind::Dense(d), Cache::Linear { x, relu_y }) => {
                    let g = d.geom(input, batch);
                    let dz = match relu_y {
                        Some(y) => b.relu_backward_owned(&y, dy),
                        None => dy,
                    };
                    if let Some(x) = x {
                        let mut gs = vec![b.dense_backward_weight(&x, &dz, &g)];
                        if d.use_bias {
                            gs.push(b.bias_grad(&dz, d.units));
                        }
                        grads[i] = Some(gs);
                    }
                    need_dx.then(|| b.dense_backward_input(&dz, &self.params[i][0], &g))
                }
                (LayerKind::MaxPooling2D(p), Cache::MaxPool { arg, relu_y }) => {
                    need_dx.then(|| {
                        // The ReLU before the pooling masks the pooled gradient (see
                        // `relu_mask_after_pool`).
                        let dy = match relu_y {
                            Some(y) => b.relu_backward_owned(&y, dy),
                            None => dy,
                        };
                        b.max_pool2d_backward(&dy, &arg, &p.0.geom(input, batch))
                    })
                }
                (LayerKind::AveragePooling2D(p), _) => {
                    need_dx.then(|| b.avg_pool2d_backward(&dy, &p.0.geom(input, batch)))
                }
                (LayerKind::Rescaling(r), _) => need_dx.then(|| b.scale_shift(&dy, r.scale, 0.0)),
                (LayerKind::Preprocess(_), _) => need_dx.then(|| {
                    let g = Self::pixel_geom(input, batch);
                    b.dense_backward_input(&dy, &self.constants[i][0], &g)
                }),
                (LayerKind::Dropout(_), Cache::Mask(mask)) => need_dx.then(|| b.mul(&dy, &mask)),
                (LayerKind::Flatten(_), _) | (LayerKind::Dropout(_), _) => Some(dy),
                (kind, _) => unreachable!("cache does not match layer {}", kind.class_name()),
            };
            match dx {
                Some(dx) => dy = dx,
                None => break,
            }
        }
        grads
    }

    /// Whether layer `i` is a max pooling of a ReLU layer's output that applies the ReLU's
    /// backward mask itself, to its output gradient. The pooled gradient goes to each
    /// window's arg-max only, where the ReLU's output is the pooled output, so masking `dy`
    /// by the pooled output's sign is exactly masking the scattered gradient by the ReLU
    /// output's: the same result without keeping the ReLU output (the larger tensor) for the
    /// backward pass or passing over it.
    fn relu_mask_after_pool(&self, i: usize) -> bool {
        i > 0
            && matches!(self.kinds.get(i), Some(LayerKind::MaxPooling2D(_)))
            && match self.kinds[i - 1] {
                LayerKind::Conv2D(c) => c.activation == Activation::Relu,
                LayerKind::Dense(d) => d.activation == Activation::Relu,
                _ => false,
            }
    }

    /// A per-pixel channel map as a `Dense` over every pixel of the batch.
    fn pixel_geom(input: Shape, batch: usize) -> kernels::DenseGeom {
        let c = match input {
            Shape::Image { c, .. } => c,
            Shape::Flat(_) => 1,
        };
        kernels::DenseGeom {
            batch: batch * input.len() / c,
            inputs: c,
            outputs: c,
        }
    }

    /// Applies the model's output activation to logits of `batch` rows.
    pub fn output_activation(&self, logits: &B::Tensor, batch: usize) -> B::Tensor {
        let b = self.backend;
        let last = self.kinds.last().expect("a model has layers");
        match last.activation() {
            Some(Activation::Softmax) => {
                let classes = b.len(logits) / batch.max(1);
                b.softmax(logits, batch, classes)
            }
            Some(Activation::Sigmoid) => b.sigmoid(logits),
            _ => b.copy(logits),
        }
    }

    /// Float inference over `images` (whole examples, NHWC), `batch_size` at a time: the
    /// model's outputs, with the output activation applied.
    pub fn predict(&self, images: &[f32], batch_size: usize) -> Vec<f32> {
        let per = self.inputs[0].len();
        let n = images.len() / per;
        let mut out = Vec::new();
        let bs = batch_size.max(1);
        let mut start = 0;
        while start < n {
            let end = (start + bs).min(n);
            let x = self.backend.from_slice(&images[start * per..end * per]);
            let (logits, _) = self.forward(x, end - start, None);
            let y = self.output_activation(&logits, end - start);
            out.extend(self.backend.to_vec(&y));
            start = end;
        }
        out
    }
}
