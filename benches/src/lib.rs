//! Benchmarks of sansfilm, and test data they share with integration tests.
//!
//! - [`synth`]: distinct copies of a real instance (new UIDs, same pixels), to
//!   send hundreds of different instances from one fixture.
//! - [`compare`]: element-by-element comparison of two data sets, for checking
//!   that the archive stored what a peer sent.
//! - [`proc_stats`]: resident memory of a process, read from `/proc`.
//! - [`harness`]: a server binary started on port 0 for a test, its port,
//!   log, signals and exit.

pub mod compare;
pub mod harness;
pub mod proc_stats;
pub mod synth;

/// The repository's `fixtures/dicom` directory.
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/dicom")
}

/// Synthetic worklists for benches.
pub mod worklist_data {
    use sansfilm_worklist::WorklistItem;

    /// `n` entries spread over 10 station AE titles (`STATION0`..`STATION9`)
    /// and 100 entries a day from 2026-01-01: a query on one station and one
    /// day matches about 10 entries.
    pub fn entries(n: usize) -> Vec<WorklistItem> {
        (0..n)
            .map(|i| {
                let day = i / 100;
                let date = format!("2026{:02}{:02}", 1 + (day / 28) % 12, 1 + day % 28);
                let year_shift = day / (28 * 12);
                let date = format!("{}{}", 2026 + year_shift, &date[4..]);
                WorklistItem {
                    patient_id: format!("PAT{i:07}"),
                    patient_name: format!("NOM{}^Prénom{}", i % 5000, i % 97),
                    birth_date: "19700101".into(),
                    sex: if i % 2 == 0 { "F" } else { "M" }.into(),
                    accession_number: format!("ACC{i:08}"),
                    study_uid: format!("1.2.826.0.1.3680043.10.543.{i}"),
                    requested_procedure_id: format!("RP{i}"),
                    requested_procedure_description: "IRM GENOU".into(),
                    sps_id: format!("SPS{i}"),
                    modality: ["CT", "MR", "US", "CR", "MG"][i % 5].into(),
                    station_aes: vec![format!("STATION{}", i % 10)],
                    start_date: date,
                    start_time: format!("{:02}{:02}00", 8 + (i % 100) / 10, (i % 10) * 5),
                    ..Default::default()
                }
            })
            .collect()
    }
}
