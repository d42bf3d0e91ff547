//! Benchmarks of sansfilm, and test data they share with integration tests.
//!
//! - [`synth`]: distinct copies of a real instance (new UIDs, same pixels), to
//!   send hundreds of different instances from one fixture.
//! - [`compare`]: element-by-element comparison of two data sets, for checking
//!   that the archive stored what a peer sent.
//! - [`proc_stats`]: resident memory of a process, read from `/proc`.

pub mod compare;
pub mod proc_stats;
pub mod synth;

/// The repository's `fixtures/dicom` directory.
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/dicom")
}
