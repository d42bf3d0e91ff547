//! The Modality Worklist as modalities meet it: `sansfilm serve` answers
//! DCMTK's findscu and pynetdicom on its one DICOM port.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use sansfilm_worklist::{WorklistItem, WorklistStore};

fn worklist_fixtures() -> PathBuf {
    fixtures().join("../worklist")
}

/// Expected number of matches of each DCMTK corpus query over the 10 entries.
const CORPUS: &[(&str, usize)] = &[
    ("wlistqry0.dcm", 10),
    ("wlistqry1.dcm", 10),
    ("wlistqry2.dcm", 0),
    ("wlistqry3.dcm", 10),
    ("wlistqry4.dcm", 0),
    ("wlistqry5.dcm", 6),
    ("wlistqry6.dcm", 0),
    ("wlistqry7.dcm", 0),
    ("wlistqry8.dcm", 0),
    ("wlistqry9.dcm", 0),
    ("wlistqry10.dcm", 10),
    ("wlistqry11.dcm", 10),
    ("wlistqry12.dcm", 0),
];

fn import_corpus(data: &Path) {
    let dir = worklist_fixtures().join("orthanc");
    let (code, out, err) = sansfilm(&[
        "worklist",
        "import",
        "--data-dir",
        data.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported 10 entries"), "{out}");
}

/// Runs the pynetdicom MWL client; returns its output lines.
fn pyfind(server: &Server, calling: &str, args: &[&str]) -> Vec<String> {
    let out = python()
        .arg(script("pynetdicom_find.py"))
        .args(["127.0.0.1", &server.port.to_string(), "SANSFILM", calling])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pynetdicom: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn field<'a>(lines: &'a [String], key: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{key}|")))
}

#[test]
fn dcmtk_findscu_gets_what_ps3_4_requires_for_every_corpus_query() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_corpus(&data);
    let server = Server::start(&data, &[]);
    for (query, expected) in CORPUS {
        let out = dcmtk("findscu")
            .args([
                "-W",
                "-v",
                "-aec",
                "SANSFILM",
                "127.0.0.1",
                &server.port.to_string(),
            ])
            .arg(worklist_fixtures().join("derived").join(query))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{query}: {text}");
        let pending = text.matches("(Pending)").count();
        assert_eq!(pending, *expected, "{query}: {text}");
        assert!(text.contains("(Success)"), "{query}: {text}");
        assert!(
            !text.lines().any(|l| l.starts_with("E:")),
            "{query}: {text}"
        );
    }
}

#[test]
fn pynetdicom_gets_what_ps3_4_requires_for_every_corpus_query() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_corpus(&data);
    let server = Server::start(&data, &[]);
    for (query, expected) in CORPUS {
        let file = worklist_fixtures().join("derived").join(query);
        let lines = pyfind(&server, "PYNETDICOM", &["query", file.to_str().unwrap()]);
        assert_eq!(
            field(&lines, "COUNT"),
            Some(expected.to_string().as_str()),
            "{query}: {lines:?}"
        );
        assert_eq!(
            field(&lines, "STATUS").map(|s| &s[..4]),
            Some("0000"),
            "{query}: {lines:?}"
        );
    }
}

const PROFILES: &str = r#"
[worklist.profiles.MODERN]
charset = "ISO_IR 192"
hide_statuses = []

[worklist.profiles.LATIN]
charset = "ISO_IR 100"

[worklist.profiles.OLD_ECHO]
charset = "ASCII"
uppercase = true
max_length = { PN = 12 }
filter_by_station_ae = true
"#;

fn french_entries(data: &Path) {
    let store = WorklistStore::open(data).unwrap();
    let base = WorklistItem {
        patient_id: "FR001".into(),
        patient_name: "Müller^Hélène Éloïse".into(),
        birth_date: "19800214".into(),
        sex: "F".into(),
        accession_number: "ACC1".into(),
        study_uid: "1.2.826.0.1.3680043.10.1".into(),
        requested_procedure_id: "RP1".into(),
        sps_id: "SPS1".into(),
        modality: "US".into(),
        station_aes: vec!["OLD_ECHO".into()],
        start_date: "20261123".into(),
        start_time: "090000".into(),
        ..Default::default()
    };
    store.insert(&base).unwrap();
    let other = WorklistItem {
        patient_id: "FR002".into(),
        patient_name: "Lefèvre^Zoé".into(),
        accession_number: "ACC2".into(),
        station_aes: vec!["CT_SALLE1".into()],
        modality: "CT".into(),
        ..base.clone()
    };
    store.insert(&other).unwrap();
    let done = WorklistItem {
        patient_id: "FR003".into(),
        patient_name: "Dupont^Jean".into(),
        accession_number: "ACC3".into(),
        status: "COMPLETED".into(),
        ..base
    };
    store.insert(&done).unwrap();
}

#[test]
fn each_device_gets_names_in_its_character_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    french_entries(&data);
    let config = dir.path().join("sansfilm.toml");
    std::fs::write(&config, PROFILES).unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);

    // UTF-8 device: everything, the completed step too (it hides nothing).
    let lines = pyfind(&server, "MODERN", &["name", "", ""]);
    assert_eq!(field(&lines, "COUNT"), Some("3"), "{lines:?}");
    assert!(
        lines.contains(&"MATCH|Müller^Hélène Éloïse|ISO_IR 192".to_string()),
        "{lines:?}"
    );

    // Latin-1 device (and the default profile): completed steps hidden.
    let lines = pyfind(&server, "LATIN", &["name", "", ""]);
    assert_eq!(field(&lines, "COUNT"), Some("2"), "{lines:?}");
    assert!(
        lines.contains(&"MATCH|Müller^Hélène Éloïse|ISO_IR 100".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"MATCH|Lefèvre^Zoé|ISO_IR 100".to_string()),
        "{lines:?}"
    );

    // Old ultrasound: ASCII, upper case, names cut to 12 characters, and only
    // the steps scheduled on its own AE title.
    let lines = pyfind(&server, "OLD_ECHO", &["name", "", ""]);
    assert_eq!(field(&lines, "COUNT"), Some("1"), "{lines:?}");
    assert!(
        lines.contains(&"MATCH|MULLER^HELEN|".to_string()),
        "{lines:?}"
    );
}

#[test]
fn a_query_in_one_character_set_matches_names_stored_in_another() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    french_entries(&data);
    let server = Server::start(&data, &[]);
    // Plain ASCII, upper case, as an old device types it.
    let lines = pyfind(&server, "ANY", &["name", "MULLER*", ""]);
    assert_eq!(field(&lines, "COUNT"), Some("1"), "{lines:?}");
    // ISO 8859-1 encoded query with accents.
    let lines = pyfind(&server, "ANY", &["name", "Lefèvre*", "ISO_IR 100"]);
    assert_eq!(field(&lines, "COUNT"), Some("1"), "{lines:?}");
    assert!(
        lines.contains(&"MATCH|Lefèvre^Zoé|ISO_IR 100".to_string()),
        "{lines:?}"
    );
    // UTF-8 encoded query.
    let lines = pyfind(&server, "ANY", &["name", "müller^hélène*", "ISO_IR 192"]);
    assert_eq!(field(&lines, "COUNT"), Some("1"), "{lines:?}");
}

#[test]
fn bad_queries_get_a900_with_a_comment_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_corpus(&data);
    let server = Server::start(&data, &[]);
    for kind in ["two-items", "top-level-station", "bad-range", "wrong-vr"] {
        let lines = pyfind(&server, "ANY", &["bad", kind]);
        let status = field(&lines, "STATUS").unwrap_or_else(|| panic!("{kind}: {lines:?}"));
        let (code, comment) = status.split_once('|').unwrap();
        assert_eq!(code, "A900", "{kind}: {lines:?}");
        assert!(comment.len() > 10, "{kind}: {lines:?}");
        assert_eq!(field(&lines, "COUNT"), Some("0"));
    }
    let lines = pyfind(&server, "ANY", &["name", "", ""]);
    assert_eq!(field(&lines, "COUNT"), Some("10"), "{lines:?}");
    assert!(server.log_text().contains("C-FIND refused"));
}

#[test]
fn c_cancel_stops_the_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = WorklistStore::open(&data).unwrap();
    let items: Vec<WorklistItem> = (0..20_000)
        .map(|i| WorklistItem {
            patient_id: format!("P{i}"),
            patient_name: format!("PATIENT^{i}"),
            accession_number: format!("A{i}"),
            modality: "CT".into(),
            station_aes: vec!["CT01".into()],
            start_date: "20261123".into(),
            comments: "x".repeat(400),
            ..Default::default()
        })
        .collect();
    store.insert_many(&items).unwrap();
    drop(store);
    let config = dir.path().join("sansfilm.toml");
    std::fs::write(&config, "[worklist]\nmax_answers = 0\n").unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let lines = pyfind(&server, "ANY", &["cancel"]);
    let count: usize = field(&lines, "COUNT").unwrap().parse().unwrap();
    assert!(count < 20_000, "{count}");
    assert_eq!(
        field(&lines, "STATUS").map(|s| &s[..4]),
        Some("FE00"),
        "{lines:?}"
    );
}

#[test]
fn preview_prints_what_a_device_would_receive() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    french_entries(&data);
    let config = dir.path().join("sansfilm.toml");
    std::fs::write(&config, PROFILES).unwrap();
    let query = worklist_fixtures().join("derived/wlistqry1.dcm");
    let (code, out, err) = sansfilm(&[
        "worklist",
        "preview",
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--aet",
        "OLD_ECHO",
        query.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("[MULLER^HELEN]") && out.contains("1 answers"),
        "{out}"
    );
}
