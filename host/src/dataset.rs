//! An in-memory labelled image dataset, the input of training and evaluation.

/// Images (NHWC `f32`, already preprocessed) with one integer label each.
///
/// For a sigmoid/binary model the labels are 0 or 1; for a softmax model they are class
/// indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Image shape `[height, width, channels]`.
    pub shape: [usize; 3],
    /// `len * h * w * c` values, image after image.
    pub images: Vec<f32>,
    /// One label per image.
    pub labels: Vec<u32>,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The first `n` examples (all of them when `n >= len`).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            shape: self.shape,
            images: self.images[..n * self.image_len()].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    /// Copies the examples at `indices` into one batch: (images, labels).
    pub fn gather(&self, indices: &[usize]) -> (Vec<f32>, Vec<u32>) {
        let il = self.image_len();
        let mut images = Vec::with_capacity(indices.len() * il);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(&self.images[i * il..(i + 1) * il]);
            labels.push(self.labels[i]);
        }
        (images, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_and_gather() {
        let d = Dataset {
            shape: [1, 2, 1],
            images: vec![0., 1., 2., 3., 4., 5.],
            labels: vec![7, 8, 9],
        };
        assert_eq!(d.take(2).images, vec![0., 1., 2., 3.]);
        assert_eq!(d.take(10).len(), 3);
        assert_eq!(d.gather(&[2, 0]), (vec![4., 5., 0., 1.], vec![9, 7]));
    }
}
