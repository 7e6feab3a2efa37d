//! [`GpuBackend`]: a CubeCL compute client plus the launch logic shared by the ops.

use std::panic::{catch_unwind, AssertUnwindSafe};

use cubecl::prelude::*;
use cubecl::server::Handle;

use super::conv::{self, ConvDimsLaunch};
use super::gemm::{self, GemmShape};
use crate::geometry::Conv2dGeom;

/// The A operand of [`GpuBackend::gemm`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum AOperand<'g> {
    /// A strided matrix (strides in the [`GemmShape`]).
    Matrix,
    /// The im2col patch matrix `[b·oh·ow, kh·kw·in_c]` of an NHWC input.
    Patches(&'g Conv2dGeom),
    /// Its transpose `[kh·kw·in_c, b·oh·ow]`.
    PatchesT(&'g Conv2dGeom),
    /// The patches of `dy` for the input gradient of a stride-1 convolution, with the kernel
    /// as B (see [`gemm::A_GRAD_PATCHES`]); plane GEMM only.
    GradPatches(&'g Conv2dGeom),
}
use super::launch::{grid_1d, u32_of, MAX_CUBES};
use super::tensor::{alloc_bytes, array_arg, GpuIndex, GpuTensor};

/// The training ops on one CubeCL device (runtime `R`).
pub struct GpuBackend<R: Runtime> {
    pub(crate) client: ComputeClient<R>,
    adapter: String,
    /// Plane size for [`gemm::gemm_plane`], when the device passed the self-test.
    plane: Option<u32>,
    /// A one-element buffer bound where a kernel takes an unused optional operand.
    dummy: Handle,
}

impl<R: Runtime> GpuBackend<R> {
    /// Wraps a client; `adapter` describes the device for [`GpuBackend::adapter_info`].
    /// Runs the plane-GEMM self-test (a few small launches).
    pub(crate) fn new(client: ComputeClient<R>, adapter: String) -> Self {
        let dummy = client.create_from_slice(f32::as_bytes(&[0.0]));
        let mut backend = Self {
            client,
            adapter,
            plane: None,
            dummy,
        };
        backend.plane = backend.probe_plane_gemm();
        backend
    }

    /// The device, as reported by the runtime (name, driver, type).
    pub fn adapter_info(&self) -> String {
        self.adapter.clone()
    }

    /// The plane size used by the plane-sharing GEMM, or `None` when the portable register-tile
    /// GEMM is used (the plane size is not fixed, or the self-test failed). The environment
    /// variable `TINYCONV_GPU_PLANE` overrides the detection at backend creation: `0` forces
    /// the portable GEMM, `8` (say) tries planes of 8 lanes (still self-tested).
    pub fn plane_gemm_size(&self) -> Option<u32> {
        self.plane
    }

    /// Forces the portable GEMM (`false`) or re-runs the plane self-test (`true`); for
    /// benchmarks comparing the two.
    pub fn set_plane_gemm(&mut self, enabled: bool) {
        self.plane = if enabled {
            self.probe_plane_gemm()
        } else {
            None
        };
    }

    /// Waits for all queued work.
    pub fn sync(&self) {
        // A failed sync surfaces again on the next read, which reports it.
        let _ = cubecl::future::block_on(self.client.sync());
    }

    pub(crate) fn alloc(&self, len: usize) -> GpuTensor {
        GpuTensor {
            handle: self.client.empty(alloc_bytes(len)),
            len,
        }
    }

    pub(crate) fn alloc_index(&self, len: usize) -> GpuIndex {
        GpuIndex {
            handle: self.client.empty(alloc_bytes(len)),
            len,
        }
    }

    pub(crate) fn arg(&self, t: &GpuTensor) -> ArrayArg<R> {
        array_arg(&t.handle, t.len)
    }

    pub(crate) fn iarg(&self, t: &GpuIndex) -> ArrayArg<R> {
        array_arg(&t.handle, t.len)
    }

    pub(crate) fn dummy_arg(&self) -> ArrayArg<R> {
        array_arg(&self.dummy, 1)
    }

    pub(crate) fn upload(&self, data: &[f32]) -> GpuTensor {
        if data.is_empty() {
            return self.alloc(0);
        }
        GpuTensor {
            handle: self.client.create_from_slice(f32::as_bytes(data)),
            len: data.len(),
        }
    }

    pub(crate) fn upload_index(&self, data: &[u32]) -> GpuIndex {
        if data.is_empty() {
            return self.alloc_index(0);
        }
        GpuIndex {
            handle: self.client.create_from_slice(u32::as_bytes(data)),
            len: data.len(),
        }
    }

    /// Reads `len` 4-byte words back; a device failure is a panic (the API has no error path
    /// for it: it means the device was lost).
    pub(crate) fn read_words(&self, handle: &Handle, len: usize) -> Vec<[u8; 4]> {
        if len == 0 {
            return Vec::new();
        }
        let bytes = self
            .client
            .read_one(handle.clone())
            .unwrap_or_else(|e| panic!("reading a buffer back from the device failed: {e:?}"));
        bytes[..len * 4]
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect()
    }

    pub(crate) fn read_f32(&self, t: &GpuTensor) -> Vec<f32> {
        self.read_words(&t.handle, t.len)
            .into_iter()
            .map(f32::from_le_bytes)
            .collect()
    }

    pub(crate) fn read_u32(&self, t: &GpuIndex) -> Vec<u32> {
        self.read_words(&t.handle, t.len)
            .into_iter()
            .map(u32::from_le_bytes)
            .collect()
    }

    /// A tensor of `len` copies of `value`.
    pub(crate) fn filled(&self, len: usize, value: f32) -> GpuTensor {
        let out = self.alloc(len);
        if len > 0 {
            let (count, dim) = grid_1d(len);
            super::elementwise::fill::launch::<f32, R>(
                &self.client,
                count,
                dim,
                self.arg(&out),
                value,
            );
        }
        out
    }

    /// `C = A·B (+ bias)` for the strided operands of `s` (see [`gemm`]); `C` is `[m, n]`.
    /// Long reductions with few output tiles are split over `k` and summed by a second kernel.
    pub(crate) fn conv_dims(&self, g: &Conv2dGeom) -> ConvDimsLaunch<R> {
        let u = |v| u32_of("conv2d", v);
        ConvDimsLaunch::new(
            u(g.in_h),
            u(g.in_w),
            u(g.in_c),
            u(g.out_h()),
            u(g.out_w()),
            u(g.kh),
            u(g.kw),
            u(g.stride_h),
            u(g.stride_w),
            u(g.pad_top()),
            u(g.pad_left()),
        )
    }

    /// The im2col patch matrix `[b·oh·ow, kh·kw·in_c]` of `x`.
    pub(crate) fn im2col(&self, x: &GpuTensor, g: &Conv2dGeom) -> GpuTensor {
        let rows = g.batch * g.out_h() * g.out_w();
        let cols = self.alloc(rows * g.kh * g.kw * g.in_c);
        if cols.len > 0 {
            let (count, dim) = grid_1d(rows);
            conv::im2col::launch::<f32, R>(
                &self.client,
                count,
                dim,
                self.arg(x),
                self.arg(&cols),
                self.conv_dims(g),
                u32_of("conv2d", rows),
            );
        }
        cols
    }

    /// `C = A·B (+ bias)`, `C` `[m, n]`: see [`GpuBackend::gemm_strided`]. Patch operands are
    /// formed on the fly by the plane GEMM, or materialised with `im2col` for the portable one.
    pub(crate) fn gemm(
        &self,
        a: &GpuTensor,
        a_op: AOperand<'_>,
        b: &GpuTensor,
        bias: Option<&GpuTensor>,
        s: GemmShape,
    ) -> GpuTensor {
        match (a_op, self.plane) {
            (AOperand::Matrix, _) | (_, Some(_)) => self.gemm_strided(a, a_op, b, bias, s),
            (AOperand::Patches(g), None) => {
                let cols = self.im2col(a, g);
                let s = GemmShape {
                    a_rs: s.k,
                    a_cs: 1,
                    ..s
                };
                self.gemm_strided(&cols, AOperand::Matrix, b, bias, s)
            }
            (AOperand::PatchesT(g), None) => {
                let cols = self.im2col(a, g);
                let s = GemmShape {
                    a_rs: 1,
                    a_cs: s.m,
                    ..s
                };
                self.gemm_strided(&cols, AOperand::Matrix, b, bias, s)
            }
            (AOperand::GradPatches(_), None) => {
                unreachable!("gradient patches are only requested with the plane GEMM")
            }
        }
    }

    /// The GEMM launch: strided (or, with the plane kernel, patch) A operand; `C` `[m, n]`.
    fn gemm_strided(
        &self,
        a: &GpuTensor,
        a_op: AOperand<'_>,
        b: &GpuTensor,
        bias: Option<&GpuTensor>,
        s: GemmShape,
    ) -> GpuTensor {
        let GemmShape {
            m,
            n,
            k,
            a_rs,
            a_cs,
            b_rs,
            b_cs,
        } = s;
        if m == 0 || n == 0 {
            return self.alloc(0);
        }
        if k == 0 {
            return match bias {
                Some(bias) => self.broadcast_rows(bias, m, n),
                None => self.filled(m * n, 0.0),
            };
        }
        // Every address the kernels form (clamped to the last row/column/k) is inside the
        // operands: this is what makes the unchecked launches below sound.
        let (a_mode, dims) = match a_op {
            AOperand::Matrix => {
                assert!(
                    (m - 1) * a_rs + (k - 1) * a_cs < a.len,
                    "gemm: A operand too short"
                );
                (gemm::A_MATRIX, None)
            }
            AOperand::Patches(g) => {
                assert_eq!(a.len, g.input_len(), "gemm: patch input length");
                assert_eq!(m, g.batch * g.out_h() * g.out_w(), "gemm: patch rows");
                assert_eq!(k, g.kh * g.kw * g.in_c, "gemm: patch columns");
                (gemm::A_PATCHES, Some(g))
            }
            AOperand::GradPatches(g) => {
                assert_eq!(a.len, g.output_len(), "gemm: gradient patch input length");
                assert_eq!(b.len, g.weight_len(), "gemm: gradient patch kernel length");
                assert!(
                    g.stride_h == 1 && g.stride_w == 1,
                    "gemm: gradient patches need stride 1"
                );
                assert_eq!(m, g.batch * g.in_h * g.in_w, "gemm: gradient patch rows");
                assert_eq!(k, g.kh * g.kw * g.out_c, "gemm: gradient patch columns");
                assert!(
                    n == g.in_c && b_rs == g.out_c && b_cs == g.out_c,
                    "gemm: kernel view"
                );
                (gemm::A_GRAD_PATCHES, Some(g))
            }
            AOperand::PatchesT(g) => {
                assert_eq!(a.len, g.input_len(), "gemm: patch input length");
                assert_eq!(k, g.batch * g.out_h() * g.out_w(), "gemm: patch rows");
                assert_eq!(m, g.kh * g.kw * g.in_c, "gemm: patch columns");
                (gemm::A_PATCHES_T, Some(g))
            }
        };
        let dims = match dims {
            Some(g) => self.conv_dims(g),
            None => ConvDimsLaunch::new(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0),
        };
        assert!(
            matches!(a_op, AOperand::GradPatches(_)) || (k - 1) * b_rs + (n - 1) * b_cs < b.len,
            "gemm: B operand too short"
        );
        if let Some(bias) = bias {
            assert!(bias.len >= n, "gemm: bias shorter than the output columns");
        }
        let u = |v| u32_of("gemm", v);
        // Rows per lane: 32 where a plane is one CPU SIMD register (lavapipe: 8 lanes, spills
        // are cheap L1 traffic), 8 on wide-plane GPUs, where accumulators must fit registers.
        let plane_m = match self.plane {
            Some(p) if p >= 32 => gemm::PLANE_M_WIDE,
            _ => gemm::PLANE_M,
        };
        // Columns per lane: as many as the output has per lane, up to PLANE_N, so narrow
        // outputs do not leave lanes idle.
        let plane_n = match self.plane {
            Some(p) => match n.div_ceil(p as usize) {
                0..=1 => 1,
                2 => 2,
                3..=4 => 4,
                _ => gemm::PLANE_N,
            },
            None => 0,
        };

        let (cube_dim, cubes_x, row_cubes, tile_m, tile_n) = match self.plane {
            Some(p) => {
                let rows = plane_m * gemm::PLANES_PER_CUBE as usize;
                (
                    CubeDim::new_2d(p, gemm::PLANES_PER_CUBE),
                    n.div_ceil(p as usize * plane_n),
                    m.div_ceil(rows),
                    plane_m,
                    p as usize * plane_n,
                )
            }
            None => {
                let (cx, cy) = gemm::TILE_CUBE;
                (
                    CubeDim::new_2d(cx, cy),
                    n.div_ceil(gemm::TILE_N * cx as usize),
                    m.div_ceil(gemm::TILE_M * cy as usize),
                    gemm::TILE_M,
                    gemm::TILE_N,
                )
            }
        };
        assert!(
            row_cubes <= MAX_CUBES && cubes_x <= MAX_CUBES,
            "gemm: {m}x{n} output exceeds the launch grid"
        );
        // Split k when the output has too few tiles to occupy the device.
        let tiles = m.div_ceil(tile_m) * n.div_ceil(tile_n);
        let splits = (k / 256).min(1024usize.div_ceil(tiles)).clamp(1, 64);
        let k_chunk = k.div_ceil(splits);
        let splits = k.div_ceil(k_chunk);

        let out = self.alloc(m * n * splits);
        let direct_bias = splits == 1 && bias.is_some();
        let bias_arg = match (direct_bias, bias) {
            (true, Some(bias)) => self.arg(bias),
            _ => self.dummy_arg(),
        };
        let count = CubeCount::Static(
            u32_of("gemm", cubes_x),
            u32_of("gemm", row_cubes),
            u(splits),
        );
        // Unchecked launches: ~15% faster than checked ones on lavapipe over the MNIST conv
        // shapes (noisy shared machine: 271 vs 319 ms summed over 9 conv ops, 2 runs each).
        // SAFETY: the asserts above bound every operand address the kernels form; outputs are
        // written at `split · m · n + r · n + c` with r < m, c < n, split < splits, inside
        // `out`; the bias is read at c < n <= bias.len, or not at all (dummy).
        unsafe {
            match self.plane {
                Some(p) => gemm::gemm_plane::launch_unchecked::<f32, R>(
                    &self.client,
                    count,
                    cube_dim,
                    self.arg(a),
                    self.arg(b),
                    bias_arg,
                    self.arg(&out),
                    u(m),
                    u(n),
                    u(k),
                    u(k_chunk),
                    u(a_rs),
                    u(a_cs),
                    u(b_rs),
                    u(b_cs),
                    dims,
                    p as usize,
                    plane_m,
                    plane_n,
                    direct_bias,
                    a_mode,
                ),
                None => gemm::gemm_tile::launch_unchecked::<f32, R>(
                    &self.client,
                    count,
                    cube_dim,
                    self.arg(a),
                    self.arg(b),
                    bias_arg,
                    self.arg(&out),
                    u(m),
                    u(n),
                    u(k),
                    u(k_chunk),
                    u(a_rs),
                    u(a_cs),
                    u(b_rs),
                    u(b_cs),
                    gemm::TILE_M,
                    gemm::TILE_N,
                    direct_bias,
                ),
            }
        }
        if splits == 1 {
            return out;
        }
        let sum = self.alloc(m * n);
        let (count, dim) = grid_1d(m * n);
        let bias_arg = match bias {
            Some(bias) => self.arg(bias),
            None => self.dummy_arg(),
        };
        gemm::sum_splits::launch::<f32, R>(
            &self.client,
            count,
            dim,
            self.arg(&out),
            bias_arg,
            self.arg(&sum),
            u(splits),
            u(n),
            bias.is_some(),
        );
        sum
    }

    /// `[m, n]` with every row equal to `bias[..n]`.
    fn broadcast_rows(&self, bias: &GpuTensor, m: usize, n: usize) -> GpuTensor {
        let zeros = self.filled(m * n, 0.0);
        let out = self.alloc(m * n);
        let (count, dim) = grid_1d(m * n);
        gemm::sum_splits::launch::<f32, R>(
            &self.client,
            count,
            dim,
            self.arg(&zeros),
            self.arg(bias),
            self.arg(&out),
            1,
            u32_of("gemm", n),
            true,
        );
        out
    }

    /// Runs the plane GEMM against the portable one on awkward sizes; returns the plane size
    /// when they agree. Any panic inside the runtime (an unsupported instruction) counts as a
    /// failure.
    fn probe_plane_gemm(&mut self) -> Option<u32> {
        let hw = &self.client.properties().hardware;
        let p = hw.plane_size_min;
        let forced = std::env::var("TINYCONV_GPU_PLANE")
            .ok()
            .and_then(|v| v.parse::<u32>().ok());
        let p = match forced {
            Some(0) => return None,
            Some(f) => f,
            None if p == hw.plane_size_max && matches!(p, 4 | 8 | 16 | 32 | 64) => p,
            None => return None,
        };
        let (m, n, k) = (70, 45, 37);
        let av: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 32.0)
            .collect();
        let bv: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 16.0)
            .collect();
        let shape = GemmShape {
            m,
            n,
            k,
            a_rs: k,
            a_cs: 1,
            b_rs: n,
            b_cs: 1,
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            let a = self.upload(&av);
            let b = self.upload(&bv);
            self.plane = None;
            let reference = self.read_f32(&self.gemm(&a, AOperand::Matrix, &b, None, shape));
            self.plane = Some(p);
            let got = self.read_f32(&self.gemm(&a, AOperand::Matrix, &b, None, shape));
            self.plane = None;
            reference
                .iter()
                .zip(&got)
                .all(|(r, g)| (r - g).abs() <= 1e-4 * (1.0 + r.abs()))
        }));
        self.plane = None;
        match result {
            Ok(true) => Some(p),
            _ => None,
        }
    }
}
