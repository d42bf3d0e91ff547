//! `sansfilm compress` on a real archive: every compressible instance is
//! replaced by a verified JPEG-LS version, the index and the files agree, the
//! pixels are the same for pydicom (an independent decoder) and for DCMTK's
//! dcmdjpls, lossy and subsampled instances are left alone, and the audit
//! trail records the access.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// Native images of every kind (signed, 8/12/16 bits, MONOCHROME1, RGB
/// planar 0 and 1, YBR_FULL, odd sizes, multi-frame, big endian), plus
/// instances that must stay as they are (lossy JPEG, subsampled YBR, already
/// JPEG-LS).
const FILES: &[&str] = &[
    "nema-wg04/CT1_UNC.dcm",
    "nema-wg04/MR2_UNC.dcm",
    "nema-wg04/RG3_UNC.dcm",
    "nema-wg04/US1_UNC.dcm",
    "nema-wg04/NM1_UNC.dcm",
    "pydicom/MR_small.dcm",
    "pydicom/SC_rgb_small_odd.dcm",
    "pydicom/ExplVR_BigEnd.dcm",
    "pydicom-data/color-pl.dcm",
    "pydicom-data/SC_ybr_full_uncompressed.dcm",
    "pydicom/SC_ybr_full_422_uncompressed.dcm",
    "pydicom-data/emri_small.dcm",
    "nema-wg04/CT1_JLSL.dcm",
    "nema-wg04/MR1_J2KI.dcm",
];

fn stored(data: &Path) -> Vec<(i64, PathBuf, String)> {
    let conn = index(data);
    let mut stmt = conn
        .prepare("SELECT id, path, transfer_syntax FROM instances ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, data.join(r.get::<_, String>(1)?), r.get(2)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn compress_replaces_native_instances_with_verified_jpeg_ls() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for (i, f) in FILES.iter().enumerate() {
        std::fs::copy(fixtures().join(f), src.join(format!("{i:02}.dcm"))).unwrap();
    }
    let mut server = Server::with_config(dir.path(), "[compression]\nenabled = false\n");
    let (code, out, err) = sansfilm(&[
        "send",
        "127.0.0.1",
        &server.port.to_string(),
        src.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(20)), Some(0));

    let before = stored(&data);
    assert_eq!(before.len(), FILES.len());
    let paths: Vec<PathBuf> = before.iter().map(|(_, p, _)| p.clone()).collect();
    let md5_before = pydicom_pixel_md5s(&paths);
    let size_before: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();

    let data_arg = data.to_str().unwrap();
    // Too young for the default minimum age: nothing happens.
    let (code, out, _) = sansfilm(&["compress", "--data-dir", data_arg]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("0 instances considered"), "{out}");

    let (code, out, err) =
        sansfilm(&["compress", "--data-dir", data_arg, "--min-age-minutes", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "12 instances considered: 11 compressed to jpegls, 1 left as they are, 0 failed"
        ),
        "{out}"
    );
    assert!(out.contains("verified bit for bit"), "{out}");

    let after = stored(&data);
    assert_eq!(after.len(), before.len());
    for ((id, old, ts_before), (id2, new, ts)) in before.iter().zip(&after) {
        assert_eq!(id, id2);
        let name = new.file_name().unwrap().to_string_lossy().into_owned();
        if ts_before == "1.2.840.10008.1.2.1"
            || ts_before == "1.2.840.10008.1.2"
            || ts_before == "1.2.840.10008.1.2.2"
        {
            if name.contains("422") || old == new {
                continue;
            }
            assert_eq!(ts, "1.2.840.10008.1.2.4.80", "{}", new.display());
            assert!(name.ends_with(".jls.dcm"), "{name}");
            assert!(!old.exists(), "the original {} is removed", old.display());
        } else {
            assert_eq!(ts, ts_before, "compressed input is left as received");
            assert_eq!(old, new);
        }
    }
    let new_paths: Vec<PathBuf> = after.iter().map(|(_, p, _)| p.clone()).collect();
    let size_after: u64 = new_paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        size_after * 2 < size_before,
        "{size_before} -> {size_after}"
    );
    let md5_after = pydicom_pixel_md5s(&new_paths);
    for (i, (b, a)) in md5_before.iter().zip(&md5_after).enumerate() {
        assert!(!a.starts_with("ERROR"), "{}: {a}", new_paths[i].display());
        assert_eq!(
            b,
            a,
            "pydicom sees other pixels in {}",
            new_paths[i].display()
        );
    }

    // DCMTK decodes every JPEG-LS file to the same pixels.
    let mut decoded = vec![];
    for (i, p) in new_paths.iter().enumerate() {
        if !p.to_string_lossy().ends_with(".jls.dcm") {
            continue;
        }
        let out = dir.path().join(format!("dcmtk-{i}.dcm"));
        let status = dcmtk("dcmdjpls").arg(p).arg(&out).status().unwrap();
        assert!(status.success(), "dcmdjpls {}", p.display());
        decoded.push((i, out));
    }
    let md5_dcmtk = pydicom_pixel_md5s(&decoded.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>());
    for ((i, p), m) in decoded.iter().zip(&md5_dcmtk) {
        assert_eq!(
            &md5_before[*i],
            m,
            "DCMTK decodes {} to other pixels",
            p.display()
        );
    }

    let (code, out, _) = sansfilm(&["verify", "--data-dir", data_arg]);
    assert_eq!(code, 0, "verify after compression: {out}");
    // Declined instances are noted and not tried again.
    let (code, out, _) = sansfilm(&["compress", "--data-dir", data_arg, "--min-age-minutes", "0"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("0 instances considered"), "{out}");
    assert_eq!(
        count(
            &data,
            "SELECT count(*) FROM instances WHERE compression_note LIKE '%subsampled%'"
        ),
        1
    );
    let (code, out, _) = sansfilm(&[
        "audit",
        "show",
        "--data-dir",
        data_arg,
        "--type",
        "InstancesAccessed",
        "--json",
    ]);
    assert_eq!(code, 0);
    assert!(out.matches("compression").count() >= 10, "{out}");
}

#[test]
fn serve_compresses_in_the_background_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::with_config(dir.path(), "[compression]\nenabled = false\n");
    let ct = fixtures().join("pydicom/CT_small.dcm");
    let (code, out, err) = sansfilm(&[
        "send",
        "127.0.0.1",
        &server.port.to_string(),
        ct.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(20)), Some(0));
    assert_eq!(
        count(
            &data,
            "SELECT count(*) FROM instances WHERE transfer_syntax = '1.2.840.10008.1.2.4.80'"
        ),
        0,
        "nothing compressed while disabled"
    );

    // Another pass holds the archive (`sansfilm compress`, say): the
    // background pass skips its round and touches nothing.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data.join("compress.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let mut server = Server::with_config(dir.path(), "[compression]\nmin_age_minutes = 0\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !server.log_text().contains("compression pass skipped") {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(20)), Some(0));
    assert!(
        server
            .log_text()
            .contains("another compression pass is running"),
        "{}",
        server.log_text()
    );
    assert_eq!(
        count(
            &data,
            "SELECT count(*) FROM instances WHERE transfer_syntax = '1.2.840.10008.1.2.4.80'"
        ),
        0,
        "nothing compressed while another pass holds the archive"
    );
    drop(lock);

    // Enabled (the default) with no minimum age: the first pass runs at start.
    let mut server = Server::with_config(dir.path(), "[compression]\nmin_age_minutes = 0\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count(
        &data,
        "SELECT count(*) FROM instances WHERE transfer_syntax = '1.2.840.10008.1.2.4.80'",
    ) == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(20)), Some(0));
    assert!(
        server.log_text().contains("compression pass done"),
        "{}",
        server.log_text()
    );
    let (code, out, _) = sansfilm(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn compress_exits_1_when_an_instance_fails_or_another_pass_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::with_config(dir.path(), "[compression]\nenabled = false\n");
    for f in ["pydicom/CT_small.dcm", "pydicom/MR_small.dcm"] {
        let path = fixtures().join(f);
        let (code, out, err) = sansfilm(&[
            "send",
            "127.0.0.1",
            &server.port.to_string(),
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{out}{err}");
    }
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(20)), Some(0));
    let data_arg = data.to_str().unwrap();
    let args = ["compress", "--data-dir", data_arg, "--min-age-minutes", "0"];

    // Another pass holds the archive: refused, nothing touched.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data.join("compress.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let (code, out, err) = sansfilm(&args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("another compression pass is running"), "{err}");
    drop(lock);

    // A stored file gone missing: the other instance is compressed, the
    // pass says which one failed and exits 1.
    let files = stored(&data);
    std::fs::remove_file(&files[0].1).unwrap();
    let (code, out, err) = sansfilm(&args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "2 instances considered: 1 compressed to jpegls, 0 left as they are, 1 failed"
        ),
        "{out}"
    );
    let name = files[0]
        .1
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(err.contains(&name), "the failure names the file: {err}");
    let after = stored(&data);
    assert_eq!(after[1].2, "1.2.840.10008.1.2.4.80");
}
