//! f32 forward pass of [`Dense`].

use crate::blob::Activation;
use crate::float::params::DenseWeights;
use crate::layers::Dense;
use crate::tensor::{TensorMut, TensorRef};
use crate::weights::WeightStore;

impl<const IN: usize, const OUT: usize> Dense<IN, OUT> {
    /// `out = bias + input · kernel`, then ReLU when fused (softmax is left to the caller).
    pub fn forward<Ws: WeightStore>(
        &self,
        weights: &DenseWeights<Ws, IN, OUT>,
        input: TensorRef<'_, f32, 1, 1, IN>,
        mut output: TensorMut<'_, f32, 1, 1, OUT>,
    ) {
        let kernel = weights.kernel();
        let bias = weights.bias();
        let out = output.data_mut();
        for (o, v) in out.iter_mut().enumerate() {
            *v = bias.get(o);
        }
        for (i, &xv) in input.data().iter().enumerate() {
            kernel.axpy(i * OUT, xv, out);
        }
        if self.activation() == Activation::Relu {
            super::activation::relu(out);
        }
    }
}
