//! Query/Retrieve C-FIND of `sansfilm serve`, by real peers: DCMTK's findscu
//! (Study Root and Patient Root, every level) and pynetdicom.

mod common;

use std::path::Path;

use common::*;
use dicom_dictionary_std::tags;

/// A server holding: patient 1CT1 (two CT studies), 4MR1 (one MR study of
/// two instances), SCSFREN "Buc^Jérôme".
fn server_with_studies(dir: &Path) -> Server {
    // Workstations must be named to query and retrieve: accept_any here.
    let server = Server::with_config(dir, "[dicom.access]\naccept_any = true\n");
    let files: Vec<String> = [
        "nema-wg04/CT1_UNC.dcm",
        "pydicom/CT_small.dcm",
        "nema-wg04/MR1_UNC.dcm",
        "pydicom/MR_small.dcm",
        "pydicom/charset/chrFren.dcm",
    ]
    .iter()
    .map(|f| fixtures().join(f).to_string_lossy().into_owned())
    .collect();
    let port = server.port.to_string();
    let mut args = vec!["send", "--called-aet", "SANSFILM", "127.0.0.1", &port];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = sansfilm(&args);
    assert_eq!(code, 0, "{out}{err}");
    server
}

/// Runs findscu with `args` and the keys; returns the answers (read back
/// from the files findscu extracts) and findscu's output.
fn findscu(
    server: &Server,
    dir: &Path,
    args: &[&str],
    keys: &[&str],
) -> (Vec<dicom_object::DefaultDicomObject>, String) {
    let out_dir = tempfile::tempdir_in(dir).unwrap();
    let mut cmd = dcmtk("findscu");
    cmd.args(["-v", "-aec", "SANSFILM", "-aet", "WS01", "-X", "-od"])
        .arg(out_dir.path())
        .args(args);
    for k in keys {
        cmd.args(["-k", k]);
    }
    let out = cmd
        .args(["127.0.0.1", &server.port.to_string()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let mut files: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let answers = files
        .iter()
        .map(|f| {
            dicom_object::OpenFileOptions::new()
                .read_preamble(dicom_object::file::ReadPreamble::Auto)
                .open_file(f)
                .unwrap()
        })
        .collect();
    (answers, text)
}

fn text(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.get(tag)
        .map(|e| e.to_str().unwrap().trim().to_string())
        .unwrap_or_default()
}

#[test]
fn dcmtk_findscu_at_every_level_of_both_models() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_studies(dir.path());

    // Study Root, STUDY level, by Patient ID, with computed attributes.
    let (studies, log) = findscu(
        &server,
        dir.path(),
        &["-S"],
        &[
            "QueryRetrieveLevel=STUDY",
            "PatientID=1CT1",
            "StudyInstanceUID",
            "StudyDate",
            "ModalitiesInStudy",
            "NumberOfStudyRelatedSeries",
            "NumberOfStudyRelatedInstances",
            "PatientName",
        ],
    );
    assert_eq!(studies.len(), 2, "{log}");
    for s in &studies {
        assert_eq!(text(s, tags::MODALITIES_IN_STUDY), "CT");
        assert_eq!(text(s, tags::NUMBER_OF_STUDY_RELATED_INSTANCES), "1");
        assert_eq!(text(s, tags::PATIENT_NAME), "CompressedSamples^CT1");
        assert_eq!(text(s, tags::QUERY_RETRIEVE_LEVEL), "STUDY");
        // Only what was asked comes back (and the level).
        assert!(s.get(tags::STUDY_DESCRIPTION).is_none());
    }

    // Study Root, SERIES then IMAGE level under one study.
    let (mr, _) = findscu(
        &server,
        dir.path(),
        &["-S"],
        &[
            "QueryRetrieveLevel=STUDY",
            "PatientID=4MR1",
            "StudyInstanceUID",
        ],
    );
    let study_uid = text(&mr[0], tags::STUDY_INSTANCE_UID);
    let (series, log) = findscu(
        &server,
        dir.path(),
        &["-S"],
        &[
            "QueryRetrieveLevel=SERIES",
            &format!("StudyInstanceUID={study_uid}"),
            "SeriesInstanceUID",
            "Modality",
            "NumberOfSeriesRelatedInstances",
        ],
    );
    assert_eq!(series.len(), 1, "{log}");
    assert_eq!(text(&series[0], tags::MODALITY), "MR");
    assert_eq!(
        text(&series[0], tags::NUMBER_OF_SERIES_RELATED_INSTANCES),
        "2"
    );
    let series_uid = text(&series[0], tags::SERIES_INSTANCE_UID);
    let (images, log) = findscu(
        &server,
        dir.path(),
        &["-S"],
        &[
            "QueryRetrieveLevel=IMAGE",
            &format!("StudyInstanceUID={study_uid}"),
            &format!("SeriesInstanceUID={series_uid}"),
            "SOPInstanceUID",
            "SOPClassUID",
            "InstanceNumber",
        ],
    );
    assert_eq!(images.len(), 2, "{log}");

    // Patient Root, PATIENT level, with the related counts.
    let (patients, log) = findscu(
        &server,
        dir.path(),
        &["-P"],
        &[
            "QueryRetrieveLevel=PATIENT",
            "PatientID",
            "PatientName",
            "NumberOfPatientRelatedStudies",
        ],
    );
    assert_eq!(patients.len(), 3, "{log}");
    let ct = patients
        .iter()
        .find(|p| text(p, tags::PATIENT_ID) == "1CT1")
        .unwrap();
    assert_eq!(text(ct, tags::NUMBER_OF_PATIENT_RELATED_STUDIES), "2");

    // A name typed without accents finds the accented one; answered in the
    // default profile's Latin-1.
    let (found, log) = findscu(
        &server,
        dir.path(),
        &["-S"],
        &[
            "QueryRetrieveLevel=STUDY",
            "PatientName=BUC^JER*",
            "PatientID",
        ],
    );
    assert_eq!(found.len(), 1, "{log}");
    assert_eq!(text(&found[0], tags::PATIENT_ID), "SCSFREN");

    // PATIENT level does not exist in Study Root: A900, no answer.
    let (none, log) = findscu(
        &server,
        dir.path(),
        &["-S"],
        &["QueryRetrieveLevel=PATIENT", "PatientID"],
    );
    assert!(none.is_empty());
    // A900 (DCMTK names it after C-STORE's meaning of the same code).
    assert!(log.contains("DataSetDoesNotMatchSOPClass"), "{log}");
}

#[test]
fn pynetdicom_queries_both_models() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_studies(dir.path());
    let run = |args: &[&str]| -> String {
        let out = python()
            .arg(script("pynetdicom_qr_find.py"))
            .args(["127.0.0.1", &server.port.to_string(), "SANSFILM"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&[
        "study",
        "STUDY",
        "StudyDate=20040801-20040831",
        "PatientID=",
        "ModalitiesInStudy=",
    ]);
    assert!(out.contains("COUNT|2"), "{out}");
    assert!(out.contains("STATUS|0000"), "{out}");
    assert!(
        out.contains("ModalitiesInStudy=MR") && out.contains("ModalitiesInStudy=CT"),
        "{out}"
    );
    let out = run(&[
        "patient",
        "STUDY",
        "PatientID=4MR1",
        "NumberOfStudyRelatedInstances=",
    ]);
    assert!(
        out.contains("COUNT|1") && out.contains("NumberOfStudyRelatedInstances=2"),
        "{out}"
    );
    let out = run(&["study", "SERIES", "Modality=CT", "SeriesInstanceUID="]);
    assert!(out.contains("COUNT|2"), "{out}");
}

/// A free TCP port on loopback (bound then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// DCMTK's storescp receiving into `dir` as AE `DEST` on `port`.
struct DcmtkStoreScp(std::process::Child);

impl DcmtkStoreScp {
    fn start(dir: &Path, port: u16) -> Self {
        Self::start_with(dir, port, &[])
    }

    /// With more options (`+xa`: every syntax DCMTK decodes).
    fn start_with(dir: &Path, port: u16, options: &[&str]) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let child = dcmtk("storescp")
            .args(options)
            .args(["-aet", "DEST", "-od"])
            .arg(dir)
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it listens.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "storescp did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        DcmtkStoreScp(child)
    }
}

impl Drop for DcmtkStoreScp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn movescu(server: &Server, destination: &str, keys: &[&str]) -> String {
    let mut cmd = dcmtk("movescu");
    cmd.args([
        "-v",
        "-S",
        "-aec",
        "SANSFILM",
        "-aet",
        "WS01",
        "-aem",
        destination,
    ]);
    for k in keys {
        cmd.args(["-k", k]);
    }
    let out = cmd
        .args(["127.0.0.1", &server.port.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout)
}

#[test]
fn dcmtk_movescu_sends_a_study_to_a_dcmtk_storescp_and_failures_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let dest_port = free_port();
    let down_port = free_port();
    let config = format!(
        "[dicom.access]\naccept_any = true\n\
         [dicom.destinations.DEST]\nhost = \"127.0.0.1\"\nport = {dest_port}\n\
         [dicom.destinations.DOWN]\nhost = \"127.0.0.1\"\nport = {down_port}\n"
    );
    std::fs::write(dir.path().join("sansfilm.toml"), config).unwrap();
    let config_path = dir.path().join("sansfilm.toml");
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config_path.to_str().unwrap()],
    );
    let files: Vec<String> = [
        "nema-wg04/CT1_UNC.dcm",
        "pydicom/CT_small.dcm",
        "nema-wg04/MR1_UNC.dcm",
    ]
    .iter()
    .map(|f| fixtures().join(f).to_string_lossy().into_owned())
    .collect();
    let port = server.port.to_string();
    let mut args = vec!["send", "--called-aet", "SANSFILM", "127.0.0.1", &port];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = sansfilm(&args);
    assert_eq!(code, 0, "{out}{err}");
    let received = dir.path().join("received");
    let _scp = DcmtkStoreScp::start(&received, dest_port);

    // Patient 1CT1 (two studies, one instance each), Patient Root.
    let mut cmd = dcmtk("movescu");
    let out = cmd
        .args([
            "-v", "-P", "-aec", "SANSFILM", "-aet", "WS01", "-aem", "DEST",
        ])
        .args(["-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=1CT1"])
        .args(["127.0.0.1", &server.port.to_string()])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        log.contains("Received Final Move Response (Success)"),
        "{log}"
    );
    let mut got: Vec<_> = std::fs::read_dir(&received)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    got.sort();
    assert_eq!(got.len(), 2, "{log}");
    for f in &got {
        let obj = dicom_object::open_file(f).unwrap();
        let uid = text(&obj, tags::SOP_INSTANCE_UID);
        let original = ["nema-wg04/CT1_UNC.dcm", "pydicom/CT_small.dcm"]
            .iter()
            .map(|f| fixtures().join(f))
            .find(|p| text(&dicom_object::open_file(p).unwrap(), tags::SOP_INSTANCE_UID) == uid)
            .expect("a sent instance");
        sansfilm_benches::compare::same_dataset(&original, f).unwrap();
    }

    // The MR study by its Study Instance UID, Study Root.
    let study_uid = {
        let obj = dicom_object::open_file(fixtures().join("nema-wg04/MR1_UNC.dcm")).unwrap();
        text(&obj, tags::STUDY_INSTANCE_UID)
    };
    let log = movescu(
        &server,
        "DEST",
        &[
            "QueryRetrieveLevel=STUDY",
            &format!("StudyInstanceUID={study_uid}"),
        ],
    );
    assert!(
        log.contains("Received Final Move Response (Success)"),
        "{log}"
    );
    assert_eq!(std::fs::read_dir(&received).unwrap().count(), 3);

    // Unknown destination: A801 at once.
    let log = movescu(
        &server,
        "NOBODY",
        &[
            "QueryRetrieveLevel=STUDY",
            &format!("StudyInstanceUID={study_uid}"),
        ],
    );
    assert!(
        log.contains("MoveDestinationUnknown") || log.contains("a801"),
        "{log}"
    );

    // Destination down: every sub-operation failed, reported with the list.
    let log = movescu(
        &server,
        "DOWN",
        &[
            "QueryRetrieveLevel=STUDY",
            &format!("StudyInstanceUID={study_uid}"),
        ],
    );
    // A702 (DCMTK: OutOfResourcesSubOperations); the failed instance is
    // named in the response's list and in the server's log.
    assert!(log.contains("OutOfResourcesSubOperations"), "{log}");
    let server_log = server.log_text();
    assert!(
        server_log.contains("C-MOVE sub-operation failed"),
        "{server_log}"
    );
    assert!(server_log.contains("failed=1"), "{server_log}");

    // The server keeps serving.
    let (_, found) = findscu(
        &server,
        dir.path(),
        &["-S"],
        &["QueryRetrieveLevel=STUDY", "StudyInstanceUID"],
    );
    assert!(
        found.contains("Success") || found.contains("Final Find Response"),
        "{found}"
    );
}

/// The pixel data bytes of a file, decoded by dicom-rs when native.
fn pixel_bytes(path: &Path) -> Vec<u8> {
    let obj = dicom_object::open_file(path).unwrap();
    obj.get(tags::PIXEL_DATA)
        .unwrap()
        .to_bytes()
        .unwrap()
        .into_owned()
}

#[test]
fn compressed_instances_reach_an_uncompressed_only_peer_decoded_and_a_jpegls_peer_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (plain_port, jls_port) = (free_port(), free_port());
    let config = format!(
        "[compression]\nenabled = false\n[dicom.access]\naccept_any = true\n\
         [dicom.destinations.PLAIN]\nhost = \"127.0.0.1\"\nport = {plain_port}\n\
         [dicom.destinations.JLS]\nhost = \"127.0.0.1\"\nport = {jls_port}\n"
    );
    let config_path = dir.path().join("sansfilm.toml");
    std::fs::write(&config_path, config).unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--config", config_path.to_str().unwrap()]);
    let original = fixtures().join("nema-wg04/CT1_UNC.dcm");
    let port = server.port.to_string();
    let (code, out, err) = sansfilm(&[
        "send",
        "--called-aet",
        "SANSFILM",
        "127.0.0.1",
        &port,
        original.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = sansfilm(&[
        "compress",
        "--data-dir",
        data.to_str().unwrap(),
        "--min-age-minutes",
        "0",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let stored: String = index(&data)
        .query_row("SELECT path FROM instances", [], |r| r.get(0))
        .unwrap();
    assert!(stored.ends_with(".jls.dcm"), "{stored}");
    let stored = data.join(stored);

    // DCMTK's storescp with its defaults takes uncompressed syntaxes only.
    let plain_dir = dir.path().join("plain");
    let _plain = DcmtkStoreScp::start(&plain_dir, plain_port);
    let log = movescu(
        &server,
        "PLAIN",
        &["QueryRetrieveLevel=PATIENT", "PatientID=1CT1"],
    );
    assert!(log.contains("Final Move Response (Success)"), "{log}");
    let got: Vec<_> = std::fs::read_dir(&plain_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(got.len(), 1);
    let received = dicom_object::open_file(&got[0]).unwrap();
    let ts = received
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    assert!(
        ts == "1.2.840.10008.1.2.1" || ts == "1.2.840.10008.1.2",
        "received as {ts}"
    );
    assert!(
        pixel_bytes(&got[0]) == pixel_bytes(&original),
        "decoded pixels differ"
    );

    // With +xa it takes JPEG-LS: the stored data set, not decoded.
    let jls_dir = dir.path().join("jls");
    let jls = DcmtkStoreScp::start_with(&jls_dir, jls_port, &["+xa"]);
    let log = movescu(
        &server,
        "JLS",
        &["QueryRetrieveLevel=PATIENT", "PatientID=1CT1"],
    );
    drop(jls);
    assert!(log.contains("Final Move Response (Success)"), "{log}");
    let got: Vec<_> = std::fs::read_dir(&jls_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(got.len(), 1);
    let received = dicom_object::open_file(&got[0]).unwrap();
    assert_eq!(
        received.meta().transfer_syntax().trim_end_matches('\0'),
        "1.2.840.10008.1.2.4.80"
    );
    // The same data set, compressed pixels included (DCMTK writes what it
    // parsed, so the file's bytes need not be ours).
    sansfilm_benches::compare::same_dataset(&stored, &got[0]).unwrap();
}

#[test]
fn query_and_retrieve_need_a_named_workstation_and_refusals_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    // Default access: nobody named. Then a workstation that may query but
    // not move.
    let server = Server::start(&dir.path().join("data"), &[]);
    let (found, log) = findscu(
        &server,
        dir.path(),
        &["-S"],
        &["QueryRetrieveLevel=STUDY", "StudyInstanceUID"],
    );
    assert!(found.is_empty());
    assert!(log.contains("0x124"), "{log}");
    drop(server);
    let dir2 = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir2.path(),
        "[dicom.access]\nallow = [{ ae_title = \"WS01\", move = false }]\n",
    );
    let (_, log) = findscu(
        &server,
        dir2.path(),
        &["-S"],
        &["QueryRetrieveLevel=STUDY", "StudyInstanceUID"],
    );
    assert!(log.contains("Final Find Response (Success)"), "{log}");
    let log = movescu(
        &server,
        "WS01",
        &["QueryRetrieveLevel=STUDY", "StudyInstanceUID=1.2.3"],
    );
    assert!(log.contains("0x124"), "{log}");
    // Refusals are recorded without holding up the answer.
    let refused = audit_count_eventually(&server.data_dir, "not permitted to this AE", 1);
    assert_eq!(refused, 1, "the refused C-MOVE is audited");
}

fn getscu(server: &Server, out: &Path, args: &[&str]) -> String {
    std::fs::create_dir_all(out).unwrap();
    let o = dcmtk("getscu")
        .args(["-v", "-aec", "SANSFILM", "-aet", "WS01", "-od"])
        .arg(out)
        .args(args)
        .args(["127.0.0.1", &server.port.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout)
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

#[test]
fn dcmtk_getscu_fetches_on_its_association_decoded_and_despite_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir.path(),
        "[compression]\nenabled = false\n[dicom.access]\naccept_any = true\n",
    );
    let data = server.data_dir.clone();
    let port = server.port.to_string();
    let ct = fixtures().join("nema-wg04/CT1_UNC.dcm");
    let ct_small = fixtures().join("pydicom/CT_small.dcm");
    let (code, out, err) = sansfilm(&[
        "send",
        "--called-aet",
        "SANSFILM",
        "127.0.0.1",
        &port,
        ct.to_str().unwrap(),
        ct_small.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");

    // Patient Root, PATIENT level: both instances, as stored.
    let got_dir = dir.path().join("get1");
    let log = getscu(
        &server,
        &got_dir,
        &[
            "-P",
            "-k",
            "QueryRetrieveLevel=PATIENT",
            "-k",
            "PatientID=1CT1",
        ],
    );
    assert!(log.contains("Received C-GET Response (Success)"), "{log}");
    let got = files_in(&got_dir);
    assert_eq!(got.len(), 2, "{log}");
    for f in &got {
        let uid = text(&dicom_object::open_file(f).unwrap(), tags::SOP_INSTANCE_UID);
        let original = [&ct, &ct_small]
            .into_iter()
            .find(|p| text(&dicom_object::open_file(p).unwrap(), tags::SOP_INSTANCE_UID) == uid)
            .unwrap();
        sansfilm_benches::compare::same_dataset(original, f).unwrap();
    }

    // Compressed to JPEG-LS: getscu (uncompressed syntaxes by default)
    // receives the decoded pixels.
    let (code, out, err) = sansfilm(&[
        "compress",
        "--data-dir",
        data.to_str().unwrap(),
        "--min-age-minutes",
        "0",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let got_dir = dir.path().join("get2");
    let log = getscu(
        &server,
        &got_dir,
        &[
            "-P",
            "-k",
            "QueryRetrieveLevel=PATIENT",
            "-k",
            "PatientID=1CT1",
        ],
    );
    let got = files_in(&got_dir);
    assert_eq!(got.len(), 2, "{log}");
    for f in &got {
        let received = dicom_object::open_file(f).unwrap();
        let ts = received
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_string();
        assert!(
            ts == "1.2.840.10008.1.2.1" || ts == "1.2.840.10008.1.2",
            "{ts}"
        );
        let uid = text(&received, tags::SOP_INSTANCE_UID);
        let original = [&ct, &ct_small]
            .into_iter()
            .find(|p| text(&dicom_object::open_file(p).unwrap(), tags::SOP_INSTANCE_UID) == uid)
            .unwrap();
        assert!(
            pixel_bytes(f) == pixel_bytes(original),
            "decoded pixels differ"
        );
    }

    // A stored file gone: the other instance still comes, the failure is
    // reported (B000), and verify names the missing file.
    let victim: String = index(&data)
        .query_row("SELECT path FROM instances ORDER BY id LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    std::fs::remove_file(data.join(&victim)).unwrap();
    let got_dir = dir.path().join("get3");
    let log = getscu(
        &server,
        &got_dir,
        &[
            "-P",
            "-k",
            "QueryRetrieveLevel=PATIENT",
            "-k",
            "PatientID=1CT1",
        ],
    );
    assert_eq!(files_in(&got_dir).len(), 1, "{log}");
    assert!(
        log.contains("Number of Failed Suboperations    : 1"),
        "{log}"
    );
    assert!(
        log.contains("Number of Completed Suboperations : 1"),
        "{log}"
    );
    let (code, out, _) = sansfilm(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains(&victim) || out.contains("missing"), "{out}");
    // The server keeps serving.
    let (_, log) = findscu(
        &server,
        dir.path(),
        &["-S"],
        &["QueryRetrieveLevel=STUDY", "StudyInstanceUID"],
    );
    assert!(log.contains("Final Find Response (Success)"), "{log}");
}

#[test]
fn pynetdicom_gets_and_moves_a_study() {
    let dir = tempfile::tempdir().unwrap();
    let py_port = free_port();
    let server = Server::with_config(
        dir.path(),
        &format!(
            "[dicom.access]\naccept_any = true\n\
             [dicom.destinations.PYDEST]\nhost = \"127.0.0.1\"\nport = {py_port}\n"
        ),
    );
    let port = server.port.to_string();
    let mr = fixtures().join("nema-wg04/MR1_UNC.dcm");
    let (code, out, err) = sansfilm(&[
        "send",
        "--called-aet",
        "SANSFILM",
        "127.0.0.1",
        &port,
        mr.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let study = text(
        &dicom_object::open_file(&mr).unwrap(),
        tags::STUDY_INSTANCE_UID,
    );
    let run = |args: &[&str]| -> String {
        let out = python()
            .arg(script("pynetdicom_retrieve.py"))
            .args(["127.0.0.1", &port, "SANSFILM"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let got = dir.path().join("pyget");
    let out = run(&[
        "get",
        got.to_str().unwrap(),
        "QueryRetrieveLevel=STUDY",
        &format!("StudyInstanceUID={study}"),
    ]);
    assert!(
        out.contains("STATUS|0000") && out.contains("RECEIVED|1"),
        "{out}"
    );
    for f in files_in(&got) {
        sansfilm_benches::compare::same_dataset(&mr, &f).unwrap();
    }
    // A requester that aborts its association in the middle of a C-GET:
    // the server ends that association and keeps serving.
    let out = run(&[
        "get-abort",
        dir.path().join("pyabort").to_str().unwrap(),
        "QueryRetrieveLevel=STUDY",
        &format!("StudyInstanceUID={study}"),
    ]);
    assert!(out.contains("RECEIVED|1"), "{out}");
    let moved = dir.path().join("pymove");
    let out = run(&[
        "move",
        moved.to_str().unwrap(),
        "PYDEST",
        &py_port.to_string(),
        "QueryRetrieveLevel=STUDY",
        &format!("StudyInstanceUID={study}"),
    ]);
    assert!(
        out.contains("STATUS|0000") && out.contains("RECEIVED|1"),
        "{out}"
    );
    for f in files_in(&moved) {
        sansfilm_benches::compare::same_dataset(&mr, &f).unwrap();
    }
    assert!(
        server.log_text().contains("aborted"),
        "{}",
        server.log_text()
    );
}

#[test]
fn sansfilm_find_and_move_as_a_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_studies(dir.path());
    let port = server.port.to_string();
    let (code, out, err) = sansfilm(&[
        "find",
        "-k",
        "PatientID=1CT1",
        "-k",
        "StudyInstanceUID",
        "-k",
        "StudyDate",
        "127.0.0.1",
        &port,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.contains("StudyDate=20040119") && out.contains("StudyDate=20040826"),
        "{out}"
    );
    let (code, out, _) = sansfilm(&[
        "find",
        "--level",
        "patient",
        "--patient-root",
        "127.0.0.1",
        &port,
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("PatientName=Buc^Jérôme"), "{out}");
    let (code, _, err) = sansfilm(&["find", "-k", "NotAKeyword=1", "127.0.0.1", &port]);
    assert_ne!(code, 0);
    assert!(err.contains("not a DICOM keyword"), "{err}");
    // Move to a destination the archive does not know: A801, exit 1.
    let study = text(
        &dicom_object::open_file(fixtures().join("nema-wg04/MR1_UNC.dcm")).unwrap(),
        tags::STUDY_INSTANCE_UID,
    );
    let (code, out, _) = sansfilm(&[
        "move",
        "--study",
        &study,
        "--to",
        "NOWHERE",
        "127.0.0.1",
        &port,
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("A801"), "{out}");
}

#[test]
fn sansfilm_get_fetches_a_study_as_stored_and_uncompressed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir.path(),
        "[compression]\nenabled = false\n[dicom.access]\naccept_any = true\n",
    );
    let port = server.port.to_string();
    // One study: the same image sent uncompressed (compressed by the
    // archive) and compressed by its maker (kept as received).
    let originals = [
        fixtures().join("nema-wg04/MR1_UNC.dcm"),
        fixtures().join("nema-wg04/MR1_JLSL.dcm"),
    ];
    let study = text(
        &dicom_object::open_file(&originals[0]).unwrap(),
        tags::STUDY_INSTANCE_UID,
    );
    send_to(&server, &[&originals[0], &originals[1]]);
    let data = server.data_dir.to_str().unwrap().to_string();
    let (code, out, err) = sansfilm(&["compress", "--data-dir", &data, "--min-age-minutes", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    let stored: Vec<(String, String)> = {
        let db = index(&server.data_dir);
        let mut q = db
            .prepare(
                "SELECT sop_instance_uid, path FROM instances \
                 WHERE transfer_syntax = '1.2.840.10008.1.2.4.80'",
            )
            .unwrap();
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(stored.len(), 2, "both kept in JPEG-LS");

    // As stored: the archive's JPEG-LS data sets, byte for byte.
    let out_dir = dir.path().join("as-stored");
    let (code, out, err) = sansfilm(&[
        "get",
        "--study",
        &study,
        "--out",
        out_dir.to_str().unwrap(),
        "127.0.0.1",
        &port,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 received"), "{out}");
    for (uid, path) in &stored {
        let got = out_dir.join(format!("{uid}.dcm"));
        assert!(
            sansfilm_benches::compare::same_dataset_bytes(&server.data_dir.join(path), &got),
            "{uid}: not the stored bytes"
        );
    }
    // Uncompressed: decoded by the archive, the pixels that were sent.
    let out_dir = dir.path().join("plain");
    let (code, out, err) = sansfilm(&[
        "get",
        "--uncompressed",
        "--study",
        &study,
        "--out",
        out_dir.to_str().unwrap(),
        "127.0.0.1",
        &port,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for original in &originals {
        let uid = text(
            &dicom_object::open_file(original).unwrap(),
            tags::SOP_INSTANCE_UID,
        );
        let got = out_dir.join(format!("{uid}.dcm"));
        let obj = dicom_object::open_file(&got).unwrap();
        let ts = obj
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_string();
        assert!(
            ts == "1.2.840.10008.1.2.1" || ts == "1.2.840.10008.1.2",
            "{ts}"
        );
        assert!(
            pixel_bytes(&got) == pixel_bytes(&originals[0]),
            "{uid}: pixels differ"
        );
    }
    assert!(
        std::fs::read_dir(&out_dir)
            .unwrap()
            .flatten()
            .all(|e| e.file_name().to_string_lossy().ends_with(".dcm")),
        "no temporary file left"
    );
    // A study the archive does not hold: nothing comes, exit 1.
    let (code, _, err) = sansfilm(&[
        "get",
        "--study",
        "1.2.3.999",
        "--out",
        out_dir.to_str().unwrap(),
        "127.0.0.1",
        &port,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no instance of study 1.2.3.999"), "{err}");
}

#[test]
fn an_order_from_the_ris_sends_the_patients_priors_to_the_workstation() {
    let dir = tempfile::tempdir().unwrap();
    let dest_port = free_port();
    let server = Server::with_config(
        dir.path(),
        &format!(
            "[dicom.access]\naccept_any = true\n\
             [dicom.destinations.DEST]\nhost = \"127.0.0.1\"\nport = {dest_port}\n\
             [prefetch]\nenabled = true\ndestination = \"DEST\"\nstudies = 3\n"
        ),
    );
    let port = server.port.to_string();
    let files: Vec<String> = [
        "nema-wg04/CT1_UNC.dcm",
        "pydicom/CT_small.dcm",
        "nema-wg04/MR1_UNC.dcm",
    ]
    .iter()
    .map(|f| fixtures().join(f).to_string_lossy().into_owned())
    .collect();
    let mut args = vec!["send", "--called-aet", "SANSFILM", "127.0.0.1", &port];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = sansfilm(&args);
    assert_eq!(code, 0, "{out}{err}");
    let received = dir.path().join("received");
    let _scp = DcmtkStoreScp::start(&received, dest_port);
    // A new CT order for patient 1CT1.
    let orm = "MSH|^~\\&|RIS|CABINET|SANSFILM|CABINET|20261201080000||ORM^O01|PRE1|P|2.3.1\r\
               PID|||1CT1^^^CABINET||CompressedSamples^CT1||19700101|M\r\
               ORC|NW|ACC900|ACC900||SC||^^^20261201093000\r\
               OBR|1|ACC900|ACC900|CT^Scanner^LOCAL||||||||||||||ACC900|RP900|SPS900|CT01|||CT|||^^^20261201093000\r";
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.hl7_port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s.write_all(&[&[0x0b][..], orm.as_bytes(), &[0x1c, 0x0d]].concat())
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("MSA|AA|PRE1"));
    // The two CT studies arrive; the MR study (another patient) does not.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while files_in(&received).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let got = files_in(&received);
    assert_eq!(got.len(), 2, "{}", server.log_text());
    for f in &got {
        let obj = dicom_object::open_file(f).unwrap();
        assert_eq!(text(&obj, tags::PATIENT_ID), "1CT1");
    }
    // The server logs once the sub-operations are answered, which may be
    // just after the files are written.
    while !server.log_text().contains("prefetch of priors") && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let log = server.log_text();
    assert!(
        log.contains("prefetch of priors") && log.contains("sent=2"),
        "{log}"
    );
}
