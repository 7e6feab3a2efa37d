//! Optimisers: Keras RMSprop and Adam, run on the backend.

use kernels::Backend;
use serde::{Deserialize, Serialize};

use crate::network::{LayerGrads, Network};

/// The `--optimizer` choice of the training commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerChoice {
    /// RMSprop (Keras defaults).
    Rmsprop,
    /// Adam (Keras defaults).
    Adam,
}

impl OptimizerChoice {
    /// The optimiser with Keras's defaults, at learning rate `lr` when given.
    pub fn optimizer(self, lr: Option<f32>) -> Optimizer {
        let base = match self {
            OptimizerChoice::Rmsprop => Optimizer::rmsprop(),
            OptimizerChoice::Adam => Optimizer::adam(),
        };
        lr.map_or(base, |lr| base.with_lr(lr))
    }
}

/// An optimiser and its hyper-parameters (Keras defaults from [`Optimizer::rmsprop`] and
/// [`Optimizer::adam`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum Optimizer {
    /// `keras.optimizers.RMSprop` (no momentum, not centred).
    RmsProp {
        /// Learning rate.
        lr: f32,
        /// Decay of the squared-gradient average.
        rho: f32,
        /// Added to the denominator.
        eps: f32,
    },
    /// `keras.optimizers.Adam`.
    Adam {
        /// Learning rate.
        lr: f32,
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the denominator.
        eps: f32,
    },
}

impl Optimizer {
    /// RMSprop with Keras's defaults: lr 1e-3, rho 0.9, eps 1e-7.
    pub fn rmsprop() -> Self {
        Optimizer::RmsProp {
            lr: 1e-3,
            rho: 0.9,
            eps: 1e-7,
        }
    }

    /// Adam with Keras's defaults: lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-7.
    pub fn adam() -> Self {
        Optimizer::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }

    /// The same optimiser with learning rate `lr`.
    pub fn with_lr(self, new: f32) -> Self {
        match self {
            Optimizer::RmsProp { rho, eps, .. } => Optimizer::RmsProp { lr: new, rho, eps },
            Optimizer::Adam {
                beta1, beta2, eps, ..
            } => Optimizer::Adam {
                lr: new,
                beta1,
                beta2,
                eps,
            },
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::RmsProp { lr, .. } | Optimizer::Adam { lr, .. } => lr,
        }
    }
}

/// One parameter's optimiser state: RMSprop's velocity, or Adam's first and second moments.
type Slot<B> = (<B as Backend>::Tensor, Option<<B as Backend>::Tensor>);

/// Per-parameter optimiser slots on the device.
pub struct OptimizerState<B: Backend> {
    optimizer: Optimizer,
    step: u32,
    /// For each layer and parameter: RMSprop's velocity, or Adam's (m, v).
    slots: Vec<Vec<Slot<B>>>,
}

impl<B: Backend> OptimizerState<B> {
    /// Zero slots for every trainable parameter of `net`.
    pub fn new(optimizer: Optimizer, net: &Network<'_, B>) -> Self {
        let b = net.backend();
        let slots = net
            .params
            .iter()
            .enumerate()
            .map(|(i, ps)| {
                if !net.is_trainable(i) {
                    return Vec::new();
                }
                ps.iter()
                    .map(|p| {
                        let n = b.len(p);
                        let second =
                            matches!(optimizer, Optimizer::Adam { .. }).then(|| b.zeros(n));
                        (b.zeros(n), second)
                    })
                    .collect()
            })
            .collect();
        Self {
            optimizer,
            step: 0,
            slots,
        }
    }

    /// Applies one update from `grads` (as returned by [`Network::backward`]).
    pub fn apply(&mut self, net: &mut Network<'_, B>, grads: Vec<LayerGrads<B::Tensor>>) {
        self.step += 1;
        let b = net.backend();
        for ((params, slots), grads) in net.params.iter_mut().zip(&mut self.slots).zip(grads) {
            let Some(grads) = grads else { continue };
            for ((p, (s1, s2)), g) in params.iter_mut().zip(slots.iter_mut()).zip(&grads) {
                match (self.optimizer, s2) {
                    (Optimizer::RmsProp { lr, rho, eps }, _) => {
                        b.rmsprop_update(p, g, s1, lr, rho, eps)
                    }
                    (
                        Optimizer::Adam {
                            lr,
                            beta1,
                            beta2,
                            eps,
                        },
                        Some(v),
                    ) => b.adam_update(p, g, s1, v, lr, beta1, beta2, eps, self.step),
                    (Optimizer::Adam { .. }, None) => {
                        unreachable!("Adam slots are created with a second moment")
                    }
                }
            }
        }
    }
}
