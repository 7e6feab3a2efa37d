//! The [`Backend`] implementation of [`GpuBackend`]: shape checks on the host, then kernel
//! launches (queued; only reads wait for the device).

use cubecl::prelude::*;

use super::conv;
use super::elementwise;
use super::gemm::GemmShape;
use super::launch::{grid_1d, u32_of};
use super::loss;
use super::pool::{self, PoolDimsLaunch};
use super::resample;
use super::runner::{AOperand, GpuBackend};
use super::tensor::{GpuIndex, GpuTensor};
use crate::backend::{Backend, LossOutput};
use crate::dropout::{dropout_keys, dropout_scale};
use crate::geometry::{Conv2dGeom, DenseGeom, ImageGeom, Pool2dGeom};

impl<R: Runtime> GpuBackend<R> {
    fn pool_dims(&self, g: &Pool2dGeom) -> PoolDimsLaunch<R> {
        let u = |v| u32_of("pool2d", v);
        PoolDimsLaunch::new(
            u(g.in_h),
            u(g.in_w),
            u(g.c),
            u(g.out_h()),
            u(g.out_w()),
            u(g.pool_h),
            u(g.pool_w),
            u(g.stride_h),
            u(g.stride_w),
            u(g.pad_top()),
            u(g.pad_left()),
        )
    }

    /// A same-length output of a one-input elementwise kernel.
    fn map1(
        &self,
        x: &GpuTensor,
        f: impl FnOnce(CubeCount, CubeDim, ArrayArg<R>, ArrayArg<R>),
    ) -> GpuTensor {
        let out = self.alloc(x.len);
        if x.len > 0 {
            let (count, dim) = grid_1d(x.len);
            f(count, dim, self.arg(x), self.arg(&out));
        }
        out
    }

    /// A same-length output of a two-input elementwise kernel.
    fn map2(
        &self,
        op: &str,
        a: &GpuTensor,
        b: &GpuTensor,
        f: impl FnOnce(CubeCount, CubeDim, ArrayArg<R>, ArrayArg<R>, ArrayArg<R>),
    ) -> GpuTensor {
        assert_eq!(a.len, b.len, "{op}: operand lengths differ");
        let out = self.alloc(a.len);
        if a.len > 0 {
            let (count, dim) = grid_1d(a.len);
            f(count, dim, self.arg(a), self.arg(b), self.arg(&out));
        }
        out
    }

    /// Reads `[loss_sum, hits]` and packages a [`LossOutput`].
    fn finish_loss(
        &self,
        grad: GpuTensor,
        row_loss: &GpuTensor,
        row_hit: &GpuTensor,
        rows: usize,
    ) -> LossOutput<GpuTensor> {
        let out = self.alloc(2);
        loss::reduce_loss::launch::<f32, R>(
            &self.client,
            CubeCount::Static(1, 1, 1),
            CubeDim::new_1d(1),
            self.arg(row_loss),
            self.arg(row_hit),
            self.arg(&out),
        );
        let sums = self.read_f32(&out);
        LossOutput {
            loss: sums[0] / rows as f32,
            correct: sums[1].round() as usize,
            grad,
        }
    }
}

impl<R: Runtime> Backend for GpuBackend<R> {
    type Tensor = GpuTensor;
    type Index = GpuIndex;

    fn name(&self) -> String {
        format!("{}: {}", R::name(&self.client), self.adapter_info())
    }

    fn from_slice(&self, data: &[f32]) -> GpuTensor {
        self.upload(data)
    }

    fn index_from_slice(&self, data: &[u32]) -> GpuIndex {
        self.upload_index(data)
    }

    fn zeros(&self, len: usize) -> GpuTensor {
        self.filled(len, 0.0)
    }

    fn to_vec(&self, t: &GpuTensor) -> Vec<f32> {
        self.read_f32(t)
    }

    fn index_to_vec(&self, t: &GpuIndex) -> Vec<u32> {
        self.read_u32(t)
    }

    fn sync(&self, _t: &GpuTensor) {
        GpuBackend::sync(self);
    }

    fn len(&self, t: &GpuTensor) -> usize {
        t.len
    }

    fn copy(&self, t: &GpuTensor) -> GpuTensor {
        self.map1(t, |count, dim, x, out| {
            elementwise::copy::launch::<f32, R>(&self.client, count, dim, x, out)
        })
    }

    fn conv2d(
        &self,
        x: &GpuTensor,
        w: &GpuTensor,
        bias: Option<&GpuTensor>,
        g: &Conv2dGeom,
    ) -> GpuTensor {
        assert_eq!(x.len, g.input_len(), "conv2d: input length");
        assert_eq!(w.len, g.weight_len(), "conv2d: kernel length");
        if let Some(b) = bias {
            assert_eq!(b.len, g.out_c, "conv2d: bias length");
        }
        let m = g.batch * g.out_h() * g.out_w();
        let k = g.kh * g.kw * g.in_c;
        let n = g.out_c;
        self.gemm(
            x,
            AOperand::Patches(g),
            w,
            bias,
            GemmShape {
                m,
                n,
                k,
                a_rs: k,
                a_cs: 1,
                b_rs: n,
                b_cs: 1,
            },
        )
    }

    fn conv2d_backward_input(&self, dy: &GpuTensor, w: &GpuTensor, g: &Conv2dGeom) -> GpuTensor {
        assert_eq!(
            dy.len,
            g.output_len(),
            "conv2d_backward_input: gradient length"
        );
        assert_eq!(
            w.len,
            g.weight_len(),
            "conv2d_backward_input: kernel length"
        );
        let plane = self.plane_gemm_size().unwrap_or(0) as usize;
        // Narrow inputs (fewer channels than plane lanes) would idle most lanes: col2im then.
        if plane > 0 && g.in_c >= plane && g.stride_h == 1 && g.stride_w == 1 {
            // A full correlation of dy with the flipped kernel, as one implicit GEMM.
            let s = GemmShape {
                m: g.batch * g.in_h * g.in_w,
                n: g.in_c,
                k: g.kh * g.kw * g.out_c,
                a_rs: 0,
                a_cs: 0,
                b_rs: g.out_c,
                b_cs: g.out_c,
            };
            return self.gemm(dy, AOperand::GradPatches(g), w, None, s);
        }
        let m = g.batch * g.out_h() * g.out_w();
        let kk = g.kh * g.kw * g.in_c;
        let n = g.out_c;
        // dcols[m, kk] = dy[m, n] · wᵀ, wᵀ(o, j) = w[j · n + o].
        let dcols = self.gemm(
            dy,
            AOperand::Matrix,
            w,
            None,
            GemmShape {
                m,
                n: kk,
                k: n,
                a_rs: n,
                a_cs: 1,
                b_rs: 1,
                b_cs: n,
            },
        );
        let dx = self.alloc(g.input_len());
        if dx.len > 0 {
            let dcols = if dcols.len == 0 {
                self.filled(1, 0.0)
            } else {
                dcols
            };
            let pixels = g.batch * g.in_h * g.in_w;
            let (count, dim) = grid_1d(pixels);
            conv::col2im::launch::<f32, R>(
                &self.client,
                count,
                dim,
                self.arg(&dcols),
                self.arg(&dx),
                self.conv_dims(g),
                u32_of("conv2d_backward_input", pixels),
            );
        }
        dx
    }

    fn conv2d_backward_weight(&self, x: &GpuTensor, dy: &GpuTensor, g: &Conv2dGeom) -> GpuTensor {
        assert_eq!(x.len, g.input_len(), "conv2d_backward_weight: input length");
        assert_eq!(
            dy.len,
            g.output_len(),
            "conv2d_backward_weight: gradient length"
        );
        let m = g.batch * g.out_h() * g.out_w();
        let kk = g.kh * g.kw * g.in_c;
        let n = g.out_c;
        if m == 0 {
            return self.filled(kk * n, 0.0);
        }
        // dw[kk, n] = colsᵀ · dy.
        self.gemm(
            x,
            AOperand::PatchesT(g),
            dy,
            None,
            GemmShape {
                m: kk,
                n,
                k: m,
                a_rs: 1,
                a_cs: kk,
                b_rs: n,
                b_cs: 1,
            },
        )
    }

    fn bias_grad(&self, dy: &GpuTensor, channels: usize) -> GpuTensor {
        assert!(
            channels > 0 && dy.len.is_multiple_of(channels),
            "bias_grad: length not a multiple of channels"
        );
        let rows = dy.len / channels;
        if rows == 0 {
            return self.filled(channels, 0.0);
        }
        let u = |v| u32_of("bias_grad", v);
        let per_chunk = 256usize;
        let chunks = rows.div_ceil(per_chunk);
        let partial = self.alloc(chunks * channels);
        let cubes_x = channels.div_ceil(64);
        conv::column_sum_partial::launch::<f32, R>(
            &self.client,
            CubeCount::Static(u(cubes_x), u(chunks), 1),
            CubeDim::new_1d(64),
            self.arg(dy),
            self.arg(&partial),
            u(rows),
            u(channels),
            u(per_chunk),
        );
        let out = self.alloc(channels);
        conv::column_sum_partial::launch::<f32, R>(
            &self.client,
            CubeCount::Static(u(cubes_x), 1, 1),
            CubeDim::new_1d(64),
            self.arg(&partial),
            self.arg(&out),
            u(chunks),
            u(channels),
            u(chunks),
        );
        out
    }

    fn max_pool2d(&self, x: &GpuTensor, g: &Pool2dGeom) -> (GpuTensor, GpuIndex) {
        assert_eq!(x.len, g.input_len(), "max_pool2d: input length");
        let y = self.alloc(g.output_len());
        let arg = self.alloc_index(g.output_len());
        if y.len > 0 {
            let pixels = g.batch * g.out_h() * g.out_w();
            let (count, dim) = grid_1d(pixels);
            pool::max_pool::launch::<f32, R>(
                &self.client,
                count,
                dim,
                self.arg(x),
                self.arg(&y),
                self.iarg(&arg),
                self.pool_dims(g),
                u32_of("max_pool2d", pixels),
            );
        }
        (y, arg)
    }

    fn max_pool2d_backward(&self, dy: &GpuTensor, argmax: &GpuIndex, g: &Pool2dGeom) -> GpuTensor {
        assert_eq!(
            dy.len,
            g.output_len(),
            "max_pool2d_backward: gradient length"
        );
        assert_eq!(
            argmax.len,
            g.output_len(),
            "max_pool2d_backward: arg-max length"
        );
        let dx = self.alloc(g.input_len());
        if dx.len > 0 && dy.len > 0 {
            let pixels = g.batch * g.in_h * g.in_w;
            let (count, dim) = grid_1d(pixels);
            pool::max_pool_backward::launch::<f32, R>(
                &self.client,
                count,
                dim,
                self.arg(dy),
                self.iarg(argmax),
                self.arg(&dx),
                self.pool_dims(g),
                u32_of("max_pool2d_backward", pixels),
            );
        } else if dx.len > 0 {
            return self.filled(dx.len, 0.0);
        }
        dx
    }

    fn avg_pool2d(&self, x: &GpuTensor, g: &Pool2dGeom) -> GpuTensor {
        assert_eq!(x.len, g.input_len(), "avg_pool2d: input length");
        let y = self.alloc(g.output_len());
        if y.len > 0 {
            let pixels = g.batch * g.out_h() * g.out_w();
            let (count, dim) = grid_1d(pixels);
            pool::avg_pool::launch::<f32, R>(
                &self.client,
                count,
                dim,
                self.arg(x),
                self.arg(&y),
                self.pool_dims(g),
                u32_of("avg_pool2d", pixels),
            );
        }
        y
    }

    fn avg_pool2d_backward(&self, dy: &GpuTensor, g: &Pool2dGeom) -> GpuTensor {
        assert_eq!(
            dy.len,
            g.output_len(),
            "avg_pool2d_backward: gradient length"
        );
        let dx = self.alloc(g.input_len());
        if dx.len > 0 && dy.len > 0 {
            let pixels = g.batch * g.in_h * g.in_w;
            let (count, dim) = grid_1d(pixels);
            pool::avg_pool_backward::launch::<f32, R>(
                &self.client,
                count,
                dim,
                self.arg(dy),
                self.arg(&dx),
                self.pool_dims(g),
                u32_of("avg_pool2d_backward", pixels),
            );
        } else if dx.len > 0 {
            return self.filled(dx.len, 0.0);
        }
        dx
    }

    fn dense(
        &self,
        x: &GpuTensor,
        w: &GpuTensor,
        bias: Option<&GpuTensor>,
        g: &DenseGeom,
    ) -> GpuTensor {
        assert_eq!(x.len, g.batch * g.inputs, "dense: input length");
        assert_eq!(w.len, g.inputs * g.outputs, "dense: kernel length");
        if let Some(b) = bias {
            assert_eq!(b.len, g.outputs, "dense: bias length");
        }
        let (m, k, n) = (g.batch, g.inputs, g.outputs);
        self.gemm(
            x,
            AOperand::Matrix,
            w,
            bias,
            GemmShape {
                m,
                n,
                k,
                a_rs: k,
                a_cs: 1,
                b_rs: n,
                b_cs: 1,
            },
        )
    }

    fn dense_backward_input(&self, dy: &GpuTensor, w: &GpuTensor, g: &DenseGeom) -> GpuTensor {
        assert_eq!(
            dy.len,
            g.batch * g.outputs,
            "dense_backward_input: gradient length"
        );
        assert_eq!(
            w.len,
            g.inputs * g.outputs,
            "dense_backward_input: kernel length"
        );
        let (m, n, k) = (g.batch, g.inputs, g.outputs);
        // dx[b, i] = Σ_o dy[b, o] w[i, o].
        self.gemm(
            dy,
            AOperand::Matrix,
            w,
            None,
            GemmShape {
                m,
                n,
                k,
                a_rs: k,
                a_cs: 1,
                b_rs: 1,
                b_cs: k,
            },
        )
    }

    fn dense_backward_weight(&self, x: &GpuTensor, dy: &GpuTensor, g: &DenseGeom) -> GpuTensor {
        assert_eq!(
            x.len,
            g.batch * g.inputs,
            "dense_backward_weight: input length"
        );
        assert_eq!(
            dy.len,
            g.batch * g.outputs,
            "dense_backward_weight: gradient length"
        );
        let (m, n, k) = (g.inputs, g.outputs, g.batch);
        // dw[i, o] = Σ_b x[b, i] dy[b, o].
        self.gemm(
            x,
            AOperand::Matrix,
            dy,
            None,
            GemmShape {
                m,
                n,
                k,
                a_rs: 1,
                a_cs: m,
                b_rs: n,
                b_cs: 1,
            },
        )
    }

    fn relu(&self, x: &GpuTensor) -> GpuTensor {
        self.map1(x, |count, dim, x, out| {
            elementwise::relu::launch::<f32, R>(&self.client, count, dim, x, out)
        })
    }

    fn relu_backward(&self, y: &GpuTensor, dy: &GpuTensor) -> GpuTensor {
        self.map2("relu_backward", y, dy, |count, dim, y, dy, out| {
            elementwise::relu_backward::launch::<f32, R>(&self.client, count, dim, y, dy, out)
        })
    }

    fn scale_shift(&self, x: &GpuTensor, scale: f32, offset: f32) -> GpuTensor {
        self.map1(x, |count, dim, x, out| {
            elementwise::scale_shift::launch::<f32, R>(
                &self.client,
                count,
                dim,
                x,
                out,
                scale,
                offset,
            )
        })
    }

    fn mul(&self, a: &GpuTensor, b: &GpuTensor) -> GpuTensor {
        self.map2("mul", a, b, |count, dim, a, b, out| {
            elementwise::mul::launch::<f32, R>(&self.client, count, dim, a, b, out)
        })
    }

    fn add(&self, a: &GpuTensor, b: &GpuTensor) -> GpuTensor {
        self.map2("add", a, b, |count, dim, a, b, out| {
            elementwise::add::launch::<f32, R>(&self.client, count, dim, a, b, out)
        })
    }

    fn dropout_mask(&self, len: usize, rate: f32, seed: u64) -> GpuTensor {
        let out = self.alloc(len);
        if len > 0 {
            let (k1, k2) = dropout_keys(seed);
            let (count, dim) = grid_1d(len);
            elementwise::dropout_mask::launch::<f32, R>(
                &self.client,
                count,
                dim,
                self.arg(&out),
                k1,
                k2,
                rate,
                dropout_scale(rate),
            );
        }
        out
    }

    fn softmax(&self, logits: &GpuTensor, batch: usize, classes: usize) -> GpuTensor {
        assert_eq!(logits.len, batch * classes, "softmax: logits length");
        let out = self.alloc(logits.len);
        if out.len > 0 {
            let (count, dim) = grid_1d(batch);
            loss::softmax::launch::<f32, R>(
                &self.client,
                count,
                dim,
                self.arg(logits),
                self.arg(&out),
                u32_of("softmax", batch),
                u32_of("softmax", classes),
            );
        }
        out
    }

    fn sigmoid(&self, x: &GpuTensor) -> GpuTensor {
        self.map1(x, |count, dim, x, out| {
            elementwise::sigmoid::launch::<f32, R>(&self.client, count, dim, x, out)
        })
    }

    fn softmax_cross_entropy(
        &self,
        logits: &GpuTensor,
        labels: &GpuIndex,
        batch: usize,
        classes: usize,
    ) -> LossOutput<GpuTensor> {
        assert_eq!(
            logits.len,
            batch * classes,
            "softmax_cross_entropy: logits length"
        );
        assert_eq!(labels.len, batch, "softmax_cross_entropy: labels length");
        if batch == 0 || classes == 0 {
            return LossOutput {
                loss: 0.0,
                correct: 0,
                grad: self.alloc(logits.len),
            };
        }
        let grad = self.alloc(logits.len);
        let row_loss = self.alloc(batch);
        let row_hit = self.alloc(batch);
        let (count, dim) = grid_1d(batch);
        loss::softmax_xent_rows::launch::<f32, R>(
            &self.client,
            count,
            dim,
            self.arg(logits),
            self.iarg(labels),
            self.arg(&grad),
            self.arg(&row_loss),
            self.arg(&row_hit),
            u32_of("softmax_cross_entropy", batch),
            u32_of("softmax_cross_entropy", classes),
            1.0 / batch as f32,
        );
        self.finish_loss(grad, &row_loss, &row_hit, batch)
    }

    fn sigmoid_binary_cross_entropy(
        &self,
        logits: &GpuTensor,
        targets: &GpuTensor,
        batch: usize,
    ) -> LossOutput<GpuTensor> {
        assert_eq!(
            logits.len, batch,
            "sigmoid_binary_cross_entropy: logits length"
        );
        assert_eq!(
            targets.len, batch,
            "sigmoid_binary_cross_entropy: targets length"
        );
        if batch == 0 {
            return LossOutput {
                loss: 0.0,
                correct: 0,
                grad: self.alloc(0),
            };
        }
        let grad = self.alloc(batch);
        let row_loss = self.alloc(batch);
        let row_hit = self.alloc(batch);
        let (count, dim) = grid_1d(batch);
        loss::sigmoid_bce_rows::launch::<f32, R>(
            &self.client,
            count,
            dim,
            self.arg(logits),
            self.arg(targets),
            self.arg(&grad),
            self.arg(&row_loss),
            self.arg(&row_hit),
            1.0 / batch as f32,
        );
        self.finish_loss(grad, &row_loss, &row_hit, batch)
    }

    fn affine_resample(&self, x: &GpuTensor, g: &ImageGeom, transforms: &[[f32; 6]]) -> GpuTensor {
        assert_eq!(x.len, g.len(), "affine_resample: input length");
        assert_eq!(
            transforms.len(),
            g.batch,
            "affine_resample: one transform per image"
        );
        let out = self.alloc(g.len());
        if out.len > 0 {
            let flat: Vec<f32> = transforms.iter().flatten().copied().collect();
            let t = self.upload(&flat);
            let (count, dim) = grid_1d(out.len);
            let u = |v| u32_of("affine_resample", v);
            resample::affine_resample::launch::<f32, R>(
                &self.client,
                count,
                dim,
                self.arg(x),
                self.arg(&t),
                self.arg(&out),
                u(g.h),
                u(g.w),
                u(g.c),
            );
        }
        out
    }

    fn rmsprop_update(
        &self,
        param: &mut GpuTensor,
        grad: &GpuTensor,
        velocity: &mut GpuTensor,
        lr: f32,
        rho: f32,
        eps: f32,
    ) {
        assert_eq!(param.len, grad.len, "rmsprop_update: gradient length");
        assert_eq!(param.len, velocity.len, "rmsprop_update: velocity length");
        if param.len == 0 {
            return;
        }
        let (count, dim) = grid_1d(param.len);
        elementwise::rmsprop::launch::<f32, R>(
            &self.client,
            count,
            dim,
            self.arg(param),
            self.arg(grad),
            self.arg(velocity),
            lr,
            rho,
            eps,
        );
    }

    fn adam_update(
        &self,
        param: &mut GpuTensor,
        grad: &GpuTensor,
        m: &mut GpuTensor,
        v: &mut GpuTensor,
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        t: u32,
    ) {
        assert_eq!(param.len, grad.len, "adam_update: gradient length");
        assert_eq!(param.len, m.len, "adam_update: first-moment length");
        assert_eq!(param.len, v.len, "adam_update: second-moment length");
        if param.len == 0 {
            return;
        }
        let t = t.max(1) as i32;
        let lr_t = lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t));
        let (count, dim) = grid_1d(param.len);
        elementwise::adam::launch::<f32, R>(
            &self.client,
            count,
            dim,
            self.arg(param),
            self.arg(grad),
            self.arg(m),
            self.arg(v),
            lr_t,
            beta1,
            beta2,
            eps,
        );
    }
}
