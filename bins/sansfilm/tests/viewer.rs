//! The viewer and the practice page in a real browser: headless Chromium
//! (Debian's `chromium`) driven by playwright-core (npm) logs in, finds a
//! CT study on the practice page with its thumbnail, opens it in OHIF and
//! checks that the image is drawn; then opens a share link as the referring
//! physician would and checks it shows that study only. Screenshots are
//! left in `target/viewer-screenshots/`. The test command fetches OHIF
//! (`scripts/fetch-viewer.sh`), playwright-core and Chromium.

mod common;

use std::path::Path;

use common::*;

#[test]
fn a_user_and_a_share_holder_see_the_study_in_ohif() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let viewer = root.join("viewer");
    let node_modules = root.join(".node/node_modules");
    assert!(
        viewer.join("index.html").is_file() && node_modules.join("playwright-core").is_dir(),
        "the viewer or playwright-core is missing: run the README's test command \
         (scripts/fetch-viewer.sh, npm install --prefix .node playwright-core)"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "dr.martin", "radiologist", "un mot de passe long");
    let config = dir.path().join("sansfilm.toml");
    std::fs::write(
        &config,
        format!("[web]\nviewer_dir = {:?}\n", viewer.to_str().unwrap()),
    )
    .unwrap();
    let server = Server::start_web(&data, &["--config", config.to_str().unwrap()]);
    let (ct, mr) = (
        fixtures().join("nema-wg04/CT1_UNC.dcm"),
        fixtures().join("nema-wg04/MR1_JLSL.dcm"),
    );
    send_to(&server, &[&ct, &mr]);
    // Kept in JPEG-LS, as the archive keeps images: OHIF asks frames with
    // transfer-syntax=* and decodes them in the browser.
    let (code, out, err) = sansfilm(&[
        "compress",
        "--data-dir",
        data.to_str().unwrap(),
        "--min-age-minutes",
        "0",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let study = "1.3.6.1.4.1.5962.1.2.1.20040826185059.5457";
    let other = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457";
    let (code, out, err) = sansfilm(&[
        "share",
        "create",
        "--data-dir",
        data.to_str().unwrap(),
        "--study",
        study,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let token = out
        .split("/share/")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_string();
    let shots = root.join("target/viewer-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let out = std::process::Command::new("node")
        .arg(script("viewer_check.cjs"))
        .args([
            &format!("http://127.0.0.1:{}", server.web_port),
            "dr.martin",
            "un mot de passe long",
            study,
            "CompressedSamples CT1",
            &token,
            other,
            shots.to_str().unwrap(),
        ])
        .env("NODE_PATH", &node_modules)
        .env("CHROMIUM", chromium)
        .output()
        .expect("node (Node.js) must be installed: run the README's test command");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}\nscreenshots in {}", shots.display());
    assert!(
        out.status.success() && text.contains("ALL OK"),
        "{text}\n--- server log ---\n{}",
        server.log_text()
    );
    assert!(
        text.contains("frames as stored: 1.2.840.10008.1.2.4.80"),
        "the viewer took the JPEG-LS frames as stored: {text}"
    );
}
