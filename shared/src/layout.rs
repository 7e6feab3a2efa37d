//! Weight layout conversions from Keras to the int8 kernels' layouts (used by the host's
//! quantizer before encoding an int8 blob; no allocation: the caller provides the output).

/// A layout conversion's buffers do not match the given shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("layout conversion: expected {expected} elements, input has {input}, output has {output}")]
pub struct LayoutError {
    /// Elements the shape implies.
    pub expected: usize,
    /// Input length.
    pub input: usize,
    /// Output length.
    pub output: usize,
}

fn check<T>(expected: usize, src: &[T], dst: &[T]) -> Result<(), LayoutError> {
    if src.len() == expected && dst.len() == expected {
        Ok(())
    } else {
        Err(LayoutError {
            expected,
            input: src.len(),
            output: dst.len(),
        })
    }
}

/// Reorders a conv kernel from Keras HWIO `[kh][kw][ci][co]` to OHWI `[co][kh][kw][ci]`, the
/// layout of int8 conv kernels in a blob.
pub fn hwio_to_ohwi<T: Copy>(
    src: &[T],
    kh: usize,
    kw: usize,
    ci: usize,
    co: usize,
    dst: &mut [T],
) -> Result<(), LayoutError> {
    check(kh * kw * ci * co, src, dst)?;
    for y in 0..kh {
        for x in 0..kw {
            for i in 0..ci {
                for o in 0..co {
                    dst[((o * kh + y) * kw + x) * ci + i] = src[((y * kw + x) * ci + i) * co + o];
                }
            }
        }
    }
    Ok(())
}

/// Reorders a dense kernel from Keras `[in][out]` to `[out][in]`, the layout of int8 dense
/// kernels in a blob.
pub fn io_to_oi<T: Copy>(
    src: &[T],
    inputs: usize,
    outputs: usize,
    dst: &mut [T],
) -> Result<(), LayoutError> {
    check(inputs * outputs, src, dst)?;
    for i in 0..inputs {
        for o in 0..outputs {
            dst[o * inputs + i] = src[i * outputs + o];
        }
    }
    Ok(())
}
