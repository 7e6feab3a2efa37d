//! The feature cache: features of a frozen base round-trip through the cache file, a second
//! run reads them, and a change of the images, the weights or the file recomputes them.

use host::applications::vgg16;
use host::dataset::Dataset;
use host::vision::features::{extract_features, features_cached, CacheOutcome};
use kernels::CpuBackend;
use rand::{Rng, SeedableRng};

fn images(n: usize, seed: u64) -> Dataset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Dataset {
        shape: [32, 32, 3],
        images: (0..n * 32 * 32 * 3)
            .map(|_| rng.gen_range(0.0..255.0))
            .collect(),
        labels: (0..n).map(|i| (i % 2) as u32).collect(),
    }
}

#[test]
fn cache_round_trips_and_is_recomputed_when_inputs_change() {
    let b = CpuBackend::new();
    let base = vgg16::conv_base(32, 32, [2, 2, 4, 4, 8]).build(3).unwrap();
    let data = images(5, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.safetensors");
    let run = |base: &host::Model, data: &Dataset| {
        features_cached(&b, base, data, 2, &path, "train", false).unwrap()
    };

    let direct = extract_features(&b, &base, &data, 5, "train", false).unwrap();
    assert_eq!(direct.shape, [1, 1, 8]);
    assert_eq!(direct.len(), 5);
    let (first, how) = run(&base, &data);
    assert_eq!(how, CacheOutcome::Computed);
    assert!(path.exists());
    // Batching does not change the features, and the file gives back exactly what was written.
    assert_eq!(first, direct);
    let (again, how) = run(&base, &data);
    assert_eq!(how, CacheOutcome::Hit);
    assert_eq!(again, first);

    // One pixel changed: recomputed.
    let mut other = data.clone();
    other.images[100] += 1.0;
    assert_eq!(run(&base, &other).1, CacheOutcome::Computed);
    assert_eq!(run(&base, &other).1, CacheOutcome::Hit);
    // A label changed: recomputed.
    let mut relabelled = other.clone();
    relabelled.labels[0] ^= 1;
    let (f, how) = run(&base, &relabelled);
    assert_eq!(how, CacheOutcome::Computed);
    assert_eq!(f.labels, relabelled.labels);
    // Other weights: recomputed, and the features differ.
    let base2 = vgg16::conv_base(32, 32, [2, 2, 4, 4, 8]).build(4).unwrap();
    let (f2, how) = run(&base2, &relabelled);
    assert_eq!(how, CacheOutcome::Computed);
    assert_ne!(f2.images, f.images);
    // A damaged cache file is recomputed, not an error.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (f3, how) = run(&base2, &relabelled);
    assert_eq!(how, CacheOutcome::Computed);
    assert_eq!(f3, f2);
}
