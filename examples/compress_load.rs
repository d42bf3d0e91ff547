//! The archive's compression pass on a real archive, with 1 and 2 worker
//! threads: instances per second, MB/s of files compressed (verification of
//! the written bytes included), ratio, and the CPU the process used per
//! second of wall time (2.0 = both cores busy).
//!
//! ```sh
//! cargo run --release -p sansfilm-benches --example compress_load -- [COPIES]
//! ```
//!
//! COPIES (default 100) distinct copies each of NEMA CT1, MR2 and RG3 and of
//! the GE mammogram are stored, then compressed to JPEG-LS.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use sansfilm_archive::{Archive, CompressionPolicy, IncomingMeta};
use sansfilm_benches::{fixtures_dir, synth};
use sansfilm_codec::transcode::{Target, transcode};

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (fields 14 and 15).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn store_all(archive: &Archive, files: &[std::path::PathBuf]) {
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        let (meta, offset) = sansfilm_dicom::part10::read_meta(&bytes[..]).unwrap();
        let mut incoming = archive
            .begin(IncomingMeta {
                sop_class_uid: meta.media_storage_sop_class_uid().to_string(),
                sop_instance_uid: meta.media_storage_sop_instance_uid().to_string(),
                transfer_syntax: meta.transfer_syntax().to_string(),
                calling_ae: "LOAD".into(),
                called_ae: "SANSFILM".into(),
                max_bytes: None,
            })
            .unwrap();
        incoming.write(&bytes[offset as usize..]).unwrap();
        incoming.commit().unwrap();
    }
}

fn main() {
    let copies: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let work = tempfile::tempdir().unwrap();
    // The mammogram is stored JPEG Lossless; the archive compresses native
    // pixels only, so it is decoded once first.
    let mg = work.path().join("MG.dcm");
    let jpeg = dicom_object::open_file(fixtures_dir().join("fo-dicom/GH133.dcm")).unwrap();
    transcode(&jpeg, Target::Explicit)
        .unwrap()
        .write_to_file(&mg)
        .unwrap();
    let mut files = vec![];
    for (name, template) in [
        ("CT1", fixtures_dir().join("nema-wg04/CT1_UNC.dcm")),
        ("MR2", fixtures_dir().join("nema-wg04/MR2_UNC.dcm")),
        ("RG3", fixtures_dir().join("nema-wg04/RG3_UNC.dcm")),
        ("MG", mg.clone()),
    ] {
        files.extend(synth::write_distinct_copies(
            &template,
            &work.path().join(name),
            copies,
        ));
    }
    println!(
        "| threads | instances | MB before | MB after | ratio | s | inst/s | MB/s | CPU s per s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for threads in [1, 2] {
        let data = work.path().join(format!("data-{threads}"));
        let archive = Archive::open(&data).unwrap();
        store_all(&archive, &files);
        let policy = CompressionPolicy {
            min_age_minutes: 0,
            threads,
            ..Default::default()
        };
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let r = archive
            .compress(&policy, &AtomicBool::new(false), |_, _| {})
            .unwrap();
        let (cpu, secs) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
        assert_eq!(r.failed, 0);
        println!(
            "| {threads} | {} | {:.1} | {:.1} | {:.2} | {secs:.1} | {:.1} | {:.1} | {:.2} |",
            r.compressed,
            r.bytes_before as f64 / 1e6,
            r.bytes_after as f64 / 1e6,
            r.ratio(),
            r.compressed as f64 / secs,
            r.bytes_before as f64 / 1e6 / secs,
            cpu / secs
        );
    }
}
