//! Query/Retrieve C-FIND latency as a workstation sees it: DCMTK's findscu
//! (process start and association included) against `sansfilm serve`
//! holding 10,000 and 100,000 indexed instances, with the server's own time
//! from its log.
//!
//! The index is filled directly through the archive's API (the query
//! answers from the index alone, never from the files): 50 instances per
//! study in 2 series, 2 studies per patient, study dates spread over years.
//!
//! ```sh
//! cargo build --release -p sansfilm
//! cargo run --release -p sansfilm-benches --example qr_load [INSTANCES...]
//! ```

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sansfilm_archive::Archive;
use sansfilm_archive::index::InstanceRecord;
use sansfilm_dicom::{InstanceSummary, PatientKeys, SeriesKeys, StudyKeys};

const PER_STUDY: usize = 50;

fn record(i: usize) -> InstanceRecord {
    let study = i / PER_STUDY;
    let series = i / (PER_STUDY / 2);
    let patient = study / 2;
    let day = study % (365 * 8);
    let date = format!(
        "{}{:02}{:02}",
        2018 + day / 365,
        1 + (day % 365) / 31 % 12,
        1 + day % 28
    );
    let summary = InstanceSummary {
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        sop_instance_uid: format!("1.2.826.0.1.3680043.10.543.3.{i}"),
        instance_number: Some((i % PER_STUDY) as i64 + 1),
        transfer_syntax: "1.2.840.10008.1.2.4.80".into(),
        specific_character_set: "ISO_IR 192".into(),
        patient: PatientKeys {
            patient_id: format!("PAT{patient:07}"),
            name: format!("NOM{}^Prénom{}", patient % 5000, patient % 97),
            birth_date: "19700101".into(),
            sex: "F".into(),
            ..Default::default()
        },
        study: StudyKeys {
            study_uid: format!("1.2.826.0.1.3680043.10.543.1.{study}"),
            study_date: date,
            study_time: "101500".into(),
            accession_number: format!("ACC{study:08}"),
            description: "SCANNER THORAX".into(),
            ..Default::default()
        },
        series: SeriesKeys {
            series_uid: format!("1.2.826.0.1.3680043.10.543.2.{series}"),
            modality: ["CT", "MR", "US", "CR", "MG"][study % 5].into(),
            series_number: Some((series % 2) as i64 + 1),
            ..Default::default()
        },
    };
    InstanceRecord {
        summary,
        path: PathBuf::from(format!("objects/{study}/{series}/{i}.dcm")),
        size: 1,
        sha256: String::new(),
        content_sha256: format!("{i}"),
        calling_ae: "LOAD".into(),
        conflict: false,
    }
}

fn fill(data: &Path, n: usize) {
    let archive = Archive::open(data).unwrap();
    let threads = 16;
    std::thread::scope(|s| {
        for t in 0..threads {
            let archive = archive.clone();
            s.spawn(move || {
                for i in (t..n).step_by(threads) {
                    archive.index().insert(record(i)).unwrap();
                }
            });
        }
    });
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = root.join("target/release/sansfilm");
    assert!(
        bin.exists(),
        "build it first: cargo build --release -p sansfilm"
    );
    let work = tempfile::tempdir().unwrap();
    println!(
        "{:>9} {:>11} {:>8} {:>12} {:>12}",
        "instances", "query", "answers", "findscu ms", "server ms"
    );
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    for n in sizes {
        // Queries about one study in the middle of the archive.
        let probe = record(n / 2);
        let (p, st) = (&probe.summary.patient, &probe.summary.study);
        let date = &st.study_date;
        let month = format!("{0}01-{0}28", &date[..6]);
        let owned: Vec<(&str, Vec<String>)> = vec![
            (
                "patient id",
                vec![
                    format!("PatientID={}", p.patient_id),
                    "StudyInstanceUID".into(),
                    "ModalitiesInStudy".into(),
                    "NumberOfStudyRelatedInstances".into(),
                ],
            ),
            (
                "name*",
                vec![
                    format!("PatientName={}*", p.name.split('^').next().unwrap_or("")),
                    "StudyInstanceUID".into(),
                    "StudyDate".into(),
                ],
            ),
            (
                "date day",
                vec![
                    format!("StudyDate={date}"),
                    "PatientName".into(),
                    "StudyInstanceUID".into(),
                ],
            ),
            (
                "date month",
                vec![
                    format!("StudyDate={month}"),
                    "PatientName".into(),
                    "ModalitiesInStudy".into(),
                ],
            ),
            (
                "series",
                vec![
                    "QueryRetrieveLevel=SERIES".into(),
                    format!("StudyInstanceUID={}", st.study_uid),
                    "SeriesInstanceUID".into(),
                    "Modality".into(),
                    "NumberOfSeriesRelatedInstances".into(),
                ],
            ),
        ];
        let queries: Vec<(&str, Vec<String>)> = owned
            .into_iter()
            .map(|(name, keys)| {
                let mut args = vec!["-S".to_string()];
                if !keys[0].starts_with("QueryRetrieveLevel") {
                    args.extend(["-k".into(), "QueryRetrieveLevel=STUDY".into()]);
                }
                for k in keys {
                    args.extend(["-k".into(), k]);
                }
                (name, args)
            })
            .collect();
        let data = work.path().join(format!("data{n}"));
        let started = Instant::now();
        fill(&data, n);
        eprintln!(
            "indexed {n} instances in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let config = work.path().join(format!("config{n}.toml"));
        std::fs::write(
            &config,
            "[dicom.access]\naccept_any = true\n[compression]\nenabled = false\n",
        )
        .unwrap();
        let mut child = Command::new(&bin)
            .args([
                "serve",
                "--data-dir",
                data.to_str().unwrap(),
                "--port",
                "0",
                "--hl7-port",
                "0",
            ])
            .args(["--config", config.to_str().unwrap()])
            .env("SANSFILM_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = stdout
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.contains("listening on"))
            .unwrap();
        // Keep reading: the server prints more, and a closed pipe stops it.
        std::thread::spawn(move || for _ in stdout {});
        let port = line
            .split("listening on ")
            .nth(1)
            .unwrap()
            .split([',', ' '])
            .next()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string();
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("C-FIND")
                    && let Some(ms) = line
                        .split("ms=")
                        .nth(1)
                        .and_then(|s| s.split_whitespace().next())
                {
                    let _ = tx.send(ms.parse().unwrap_or(0));
                }
            }
        });
        for (name, args) in &queries {
            let (mut times, mut server, mut answers) = (vec![], vec![], 0);
            for _ in 0..11 {
                let start = Instant::now();
                let out = Command::new("findscu")
                    .args(["-v", "-aec", "SANSFILM", "-aet", "BENCH"])
                    .args(args)
                    .args(["127.0.0.1", &port])
                    .output()
                    .expect("findscu (DCMTK)");
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                let text = String::from_utf8_lossy(&out.stderr);
                answers = text.matches("(Pending)").count();
                if !text.contains("Final Find Response (Success)") {
                    eprintln!("{name}: {}", &text[text.len().saturating_sub(400)..]);
                }
                if let Ok(ms) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
                    server.push(ms as f64);
                }
            }
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            server.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "{:>9} {:>11} {:>8} {:>12.1} {:>12.1}",
                n,
                name,
                answers,
                times[times.len() / 2],
                server.get(server.len() / 2).copied().unwrap_or(f64::NAN),
            );
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
