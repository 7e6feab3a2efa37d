//! The subset tool: index ranges, refusing to overwrite, missing files.

use std::path::Path;

use host::vision::{make_subset, SubsetError, SubsetSpec};

fn kaggle_folder(root: &Path, per_class: usize) {
    std::fs::create_dir_all(root).unwrap();
    for class in ["cat", "dog"] {
        for i in 0..per_class {
            std::fs::write(root.join(format!("{class}.{i}.jpg")), format!("{class}{i}")).unwrap();
        }
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn cuts_the_ranges_into_split_and_class_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("train");
    kaggle_folder(&src, 12);
    let dst = tmp.path().join("small");
    let spec = SubsetSpec::cats_dogs(0..6, 6..9, 9..12);
    let report = make_subset(&src, &dst, &spec, false).unwrap();
    assert_eq!(report.linked + report.copied, 24);
    assert_eq!(names(&dst), vec!["test", "train", "validation"]);
    assert_eq!(names(&dst.join("train")), vec!["cat", "dog"]);
    let mut want: Vec<String> = (0..6).map(|i| format!("dog.{i}.jpg")).collect();
    want.sort();
    assert_eq!(names(&dst.join("train/dog")), want);
    assert_eq!(
        names(&dst.join("validation/cat")),
        vec!["cat.6.jpg", "cat.7.jpg", "cat.8.jpg"]
    );
    assert_eq!(
        names(&dst.join("test/cat")),
        vec!["cat.10.jpg", "cat.11.jpg", "cat.9.jpg"]
    );
    assert_eq!(
        std::fs::read_to_string(dst.join("test/dog/dog.10.jpg")).unwrap(),
        "dog10"
    );
    // No temporary folders left beside the destination.
    assert_eq!(names(tmp.path()), vec!["small", "train"]);
}

#[test]
fn refuses_to_overwrite_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("train");
    kaggle_folder(&src, 4);
    let dst = tmp.path().join("small");
    make_subset(&src, &dst, &SubsetSpec::cats_dogs(0..2, 2..3, 3..4), false).unwrap();
    std::fs::write(dst.join("marker"), "old").unwrap();
    let err = make_subset(&src, &dst, &SubsetSpec::cats_dogs(0..1, 1..2, 2..4), false).unwrap_err();
    assert!(matches!(err, SubsetError::DestinationExists(_)), "{err}");
    assert!(
        dst.join("marker").exists(),
        "refused run must not touch the old subset"
    );
    make_subset(&src, &dst, &SubsetSpec::cats_dogs(0..1, 1..2, 2..4), true).unwrap();
    assert!(!dst.join("marker").exists());
    assert_eq!(names(&dst.join("train/cat")), vec!["cat.0.jpg"]);
    assert_eq!(names(&dst.join("test/cat")), vec!["cat.2.jpg", "cat.3.jpg"]);
    assert_eq!(names(tmp.path()), vec!["small", "train"]);
}

#[test]
fn a_missing_file_is_named_and_nothing_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("train");
    kaggle_folder(&src, 10);
    std::fs::remove_file(src.join("dog.7.jpg")).unwrap();
    let dst = tmp.path().join("small");
    let err =
        make_subset(&src, &dst, &SubsetSpec::cats_dogs(0..5, 5..8, 8..10), false).unwrap_err();
    match &err {
        SubsetError::MissingFiles { count, first } => {
            assert_eq!(*count, 1);
            assert!(first.ends_with("dog.7.jpg"));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("dog.7.jpg"));
    assert!(!dst.exists());
    // Asking for more images than there are (the book's ranges on a small folder).
    let err = make_subset(&src, &dst, &SubsetSpec::book(), false).unwrap_err();
    assert!(matches!(err, SubsetError::MissingFiles { .. }));
    assert_eq!(names(tmp.path()), vec!["train"]);
}

#[test]
fn overlapping_ranges_and_missing_source_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let err = make_subset(
        &tmp.path().join("nope"),
        &tmp.path().join("x"),
        &SubsetSpec::small(),
        false,
    )
    .unwrap_err();
    assert!(matches!(err, SubsetError::NoSource(_)));
    let src = tmp.path().join("train");
    kaggle_folder(&src, 4);
    let err = make_subset(
        &src,
        &tmp.path().join("x"),
        &SubsetSpec::cats_dogs(0..3, 2..4, 3..4),
        false,
    )
    .unwrap_err();
    assert!(matches!(err, SubsetError::BadSpec(_)));
}
