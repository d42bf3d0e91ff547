//! DICOMweb as viewers and scripts meet it: `sansfilm serve` with its web
//! server, a practice user made with `sansfilm user add`, images sent over
//! DICOM and compressed by the archive, then dicomweb-client (PyPI) as the
//! outside client: search, retrieve, metadata, frames, rendered, STOW-RS.

mod common;

use std::path::PathBuf;

use common::*;

fn originals() -> Vec<PathBuf> {
    [
        "nema-wg04/CT1_UNC.dcm",
        "nema-wg04/MR1_JLSL.dcm",
        "nema-wg04/US1_UNC.dcm",
        "pydicom-data/emri_small.dcm",
    ]
    .iter()
    .map(|f| fixtures().join(f))
    .collect()
}

#[test]
fn dicomweb_client_searches_retrieves_and_stores() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "dr.martin", "radiologist", "un mot de passe long");
    let config = dir.path().join("sansfilm.toml");
    std::fs::write(&config, "[compression]\nenabled = false\n").unwrap();
    let server = Server::start_web(&data, &["--config", config.to_str().unwrap()]);
    let files = originals();
    send_to(
        &server,
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
    // The archive compresses what came uncompressed (JPEG-LS): the client
    // must get the original pixels back all the same.
    let (code, out, err) = sansfilm(&[
        "compress",
        "--data-dir",
        data.to_str().unwrap(),
        "--min-age-minutes",
        "0",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        count(
            &data,
            "SELECT count(*) FROM instances WHERE transfer_syntax = '1.2.840.10008.1.2.4.80'"
        ),
        4,
        "every instance is kept in JPEG-LS"
    );
    let url = format!("http://127.0.0.1:{}", server.web_port);
    let out = python()
        .arg(script("dicomweb_check.py"))
        .args([&url, "dr.martin", "un mot de passe long"])
        .arg(fixtures().join("pydicom/CT_small.dcm"))
        .args(&files)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(
        out.status.success() && text.contains("ALL OK"),
        "{text}\n--- server log ---\n{}",
        server.log_text()
    );
    // What the client did is in the audit trail, queries and reads alike.
    assert!(audit_count(&data, "QIDO-RS") > 0);
    assert!(audit_count(&data, "WADO-RS") > 0);
    assert_eq!(audit_count(&data, "STOW-RS"), 1);
}

#[test]
fn dicomweb_refuses_callers_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "secretariat", "secretary", "encore un long mot");
    let server = Server::start_web(&data, &[]);
    let port = server.web_port;
    let status = |path: &str, user: Option<&str>| -> u16 {
        let auth = user.map(basic);
        let headers: Vec<&str> = auth.iter().map(String::as_str).collect();
        http(port, "GET", path, &headers, b"").status
    };
    assert_eq!(status("/dicom-web/studies", None), 401);
    assert_eq!(
        status("/dicom-web/studies", Some("secretariat:wrong password")),
        401
    );
    assert_eq!(
        status("/dicom-web/studies", Some("secretariat:encore un long mot")),
        200
    );
    assert_eq!(
        status(
            "/dicom-web/studies/1.2.3/metadata",
            Some("secretariat:encore un long mot")
        ),
        404
    );
    // The practice page sends strangers to the login page.
    assert_eq!(status("/", None), 303);
    assert_eq!(status("/login", None), 200);
    // Checked credentials are remembered, but not past a change of
    // password or the removal of the user.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sansfilm"))
        .args(["user", "passwd", "secretariat", "--data-dir"])
        .arg(&data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "un tout autre mot").unwrap();
    }
    assert!(child.wait().unwrap().success());
    let (old, new) = (
        "secretariat:encore un long mot",
        "secretariat:un tout autre mot",
    );
    assert_eq!(
        status("/dicom-web/studies", Some(old)),
        401,
        "the old password"
    );
    assert_eq!(status("/dicom-web/studies", Some(new)), 200);
    let (code, _, _) = sansfilm(&[
        "user",
        "del",
        "secretariat",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        status("/dicom-web/studies", Some(new)),
        401,
        "a removed user"
    );
}

/// A share made with `sansfilm share create`: (id, token, code, pin).
fn create_share(data: &std::path::Path, args: &[&str]) -> (i64, String, String, String) {
    let mut all = vec!["share", "create", "--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = sansfilm(&all);
    assert_eq!(code, 0, "{out}{err}");
    let id = out
        .split("share #")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let token = out
        .split("/share/")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_string();
    let code_ = out
        .split("code: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let pin = out
        .split("PIN: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    (id, token, code_, pin)
}

fn session_of(reply: &HttpReply) -> String {
    let cookie = reply.header("set-cookie").expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    format!("Cookie: {}", cookie.split(';').next().unwrap())
}

fn uid_of(path: &std::path::Path, tag: dicom_core::Tag) -> String {
    dicom_object::open_file(path)
        .unwrap()
        .element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .to_string()
}

#[test]
fn a_share_reaches_its_study_only_and_its_code_resists_guessing() {
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_web(&data, &[]);
    let (ct, mr) = (
        fixtures().join("nema-wg04/CT1_UNC.dcm"),
        fixtures().join("nema-wg04/MR1_JLSL.dcm"),
    );
    send_to(&server, &[&ct, &mr]);
    let (mine, other) = (
        uid_of(&ct, tags::STUDY_INSTANCE_UID),
        uid_of(&mr, tags::STUDY_INSTANCE_UID),
    );
    let other_series = uid_of(&mr, tags::SERIES_INSTANCE_UID);
    let other_sop = uid_of(&mr, tags::SOP_INSTANCE_UID);
    let (code, _, err) = sansfilm(&[
        "share",
        "create",
        "--data-dir",
        data.to_str().unwrap(),
        "--study",
        "1.2.3.4",
    ]);
    assert_eq!(code, 1, "a study the archive does not hold: {err}");
    let (id, token, short, pin) = create_share(&data, &["--study", &mine, "--days", "7"]);
    assert!(token.len() >= 22, "{token}");
    let web = server.web_port;

    // The link: a session for that study, and the viewer on it.
    let opened = http(web, "GET", &format!("/share/{token}"), &[], b"");
    assert_eq!(opened.status, 303);
    assert_eq!(
        opened.header("location"),
        Some(format!("/viewer?StudyInstanceUIDs={mine}").as_str())
    );
    let cookie = session_of(&opened);
    let get = |path: &str| http(web, "GET", path, &[&cookie], b"");
    let found = get("/dicom-web/studies");
    assert_eq!(found.status, 200);
    let body = String::from_utf8_lossy(&found.body);
    assert!(body.contains(&mine) && !body.contains(&other), "{body}");
    for path in ["/dicom-web/series", "/dicom-web/instances"] {
        let b = String::from_utf8_lossy(&get(path).body).to_string();
        assert!(b.contains(&mine) && !b.contains(&other), "{path}: {b}");
    }
    assert_eq!(
        get(&format!("/dicom-web/studies?StudyInstanceUID={other}")).body,
        b"[]"
    );
    assert_eq!(
        get(&format!("/dicom-web/studies/{other}/series")).body,
        b"[]"
    );
    let inst = format!("/dicom-web/studies/{other}/series/{other_series}/instances/{other_sop}");
    for path in [
        format!("/dicom-web/studies/{other}"),
        format!("/dicom-web/studies/{other}/metadata"),
        format!("/dicom-web/studies/{other}/series/{other_series}/metadata"),
        format!("/dicom-web/studies/{other}/thumbnail"),
        inst.clone(),
        format!("{inst}/metadata"),
        format!("{inst}/frames/1"),
        format!("{inst}/rendered"),
        format!("{inst}/bulkdata/7FE00010"),
        format!("/practice/studies/{other}.zip"),
    ] {
        assert_eq!(
            get(&path).status,
            404,
            "{path} reached through a share of another study"
        );
    }
    assert_eq!(
        get(&format!("/dicom-web/studies/{mine}/metadata")).status,
        200
    );
    let zip = get(&format!("/practice/studies/{mine}.zip"));
    assert_eq!(zip.status, 200);
    assert!(zip.body.starts_with(b"PK"), "a zip of the study");
    // No path from a share to what practice users do.
    let form = format!("study={mine}");
    let r = http(
        web,
        "POST",
        "/practice/share",
        &[&cookie, "Content-Type: application/x-www-form-urlencoded"],
        form.as_bytes(),
    );
    assert_eq!(r.status, 403, "a share holder makes no share");
    let r = http(
        web,
        "POST",
        "/dicom-web/studies",
        &[
            &cookie,
            "Content-Type: multipart/related; type=\"application/dicom\"; boundary=x",
        ],
        b"--x--\r\n",
    );
    assert_eq!(r.status, 403, "a share holder stores nothing");

    // The short code with its PIN opens the same share; wrong PINs lock it.
    let post_code = |pin: &str| {
        let form = format!("code={}&pin={pin}", short.to_lowercase());
        http(
            web,
            "POST",
            "/code",
            &["Content-Type: application/x-www-form-urlencoded"],
            form.as_bytes(),
        )
    };
    let r = post_code(&pin);
    assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.body));
    let wrong = if pin == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(post_code(wrong).status, 401);
    }
    assert_eq!(
        post_code(&pin).status,
        429,
        "locked after five wrong PINs, even for the right one"
    );

    // Guessing links from one address is stopped.
    for i in 0..20 {
        let s = http(web, "GET", &format!("/share/guess{i}"), &[], b"").status;
        assert!(s == 401 || s == 429, "{s}");
    }
    assert_eq!(
        http(web, "GET", &format!("/share/{token}"), &[], b"").status,
        429
    );

    // Revoked: the session and the link stop at once.
    let (code, out, err) = sansfilm(&[
        "share",
        "revoke",
        "--data-dir",
        data.to_str().unwrap(),
        &id.to_string(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(get("/dicom-web/studies").status, 401);

    // Every access went into the audit trail with the share's number.
    assert!(audit_count(&data, &format!("share #{id}")) >= 3);
}

#[test]
fn an_expired_share_is_refused() {
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_web(&data, &[]);
    let ct = fixtures().join("nema-wg04/CT1_UNC.dcm");
    send_to(&server, &[&ct]);
    let study = uid_of(&ct, tags::STUDY_INSTANCE_UID);
    let (id, token, short, pin) = create_share(&data, &["--study", &study]);
    let opened = http(server.web_port, "GET", &format!("/share/{token}"), &[], b"");
    let cookie = session_of(&opened);
    rusqlite::Connection::open(data.join("web.sqlite"))
        .unwrap()
        .execute("UPDATE shares SET expires_at = 1 WHERE id = ?1", [id])
        .unwrap();
    assert_eq!(
        http(server.web_port, "GET", &format!("/share/{token}"), &[], b"").status,
        403
    );
    assert_eq!(
        http(
            server.web_port,
            "GET",
            "/dicom-web/studies",
            &[&cookie],
            b""
        )
        .status,
        401
    );
    let form = format!("code={short}&pin={pin}");
    let r = http(
        server.web_port,
        "POST",
        "/code",
        &["Content-Type: application/x-www-form-urlencoded"],
        form.as_bytes(),
    );
    assert_eq!(r.status, 403);
}

#[test]
fn series_metadata_is_kept_gzip_until_the_series_changes() {
    use dicom_dictionary_std::tags;
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "dr.martin", "radiologist", "un mot de passe long");
    let config = dir.path().join("sansfilm.toml");
    std::fs::write(&config, "[compression]\nenabled = false\n").unwrap();
    let server = Server::start_web(&data, &["--config", config.to_str().unwrap()]);
    let ct = fixtures().join("nema-wg04/CT1_UNC.dcm");
    send_to(&server, &[&ct]);
    let path = format!(
        "/dicom-web/studies/{}/series/{}/metadata",
        uid_of(&ct, tags::STUDY_INSTANCE_UID),
        uid_of(&ct, tags::SERIES_INSTANCE_UID)
    );
    let auth = basic("dr.martin:un mot de passe long");
    let fetch = |gzip: bool| -> String {
        let mut headers = vec![auth.as_str()];
        if gzip {
            headers.push("Accept-Encoding: gzip");
        }
        let r = http(server.web_port, "GET", &path, &headers, b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/dicom+json"));
        if gzip {
            assert_eq!(r.header("content-encoding"), Some("gzip"));
            let mut s = String::new();
            flate2::read::GzDecoder::new(&r.body[..])
                .read_to_string(&mut s)
                .unwrap();
            s
        } else {
            assert_eq!(r.header("content-encoding"), None);
            String::from_utf8(r.body).unwrap()
        }
    };
    let first = fetch(true);
    assert!(first.contains("\"1.2.840.10008.1.2.1\""), "{first}");
    assert_eq!(
        fetch(false),
        first,
        "the same document, unpacked for a client without gzip"
    );
    let (code, out, err) = sansfilm(&[
        "compress",
        "--data-dir",
        data.to_str().unwrap(),
        "--min-age-minutes",
        "0",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let after = fetch(true);
    assert!(
        after.contains("\"1.2.840.10008.1.2.4.80\"") && !after.contains("\"1.2.840.10008.1.2.1\""),
        "the compressed series has a new document: {after}"
    );
}

#[test]
fn https_with_a_certificate_of_the_practice() {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let dir = tempfile::tempdir().unwrap();
    // A practice CA and a server certificate it signed (distinct names:
    // OpenSSL takes a leaf named like its issuer for self-signed).
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Cabinet test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &ca).unwrap();
    let (ca_pem, cert_pem, key_pem) = (
        dir.path().join("ca.pem"),
        dir.path().join("web.pem"),
        dir.path().join("web.key"),
    );
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "dr.martin", "radiologist", "un mot de passe long");
    let config = dir.path().join("sansfilm.toml");
    std::fs::write(
        &config,
        format!("[web]\ntls_cert = {cert_pem:?}\ntls_key = {key_pem:?}\n"),
    )
    .unwrap();
    let server = Server::start_web(&data, &["--config", config.to_str().unwrap()]);
    assert!(
        server.log_text().is_empty() || !server.log_text().contains("ERROR"),
        "{}",
        server.log_text()
    );
    let out = python()
        .arg(script("https_check.py"))
        .args([
            &format!("https://localhost:{}", server.web_port),
            ca_pem.to_str().unwrap(),
            "dr.martin",
            "un mot de passe long",
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(
        out.status.success() && text.contains("ALL OK"),
        "{text}\n{}",
        server.log_text()
    );
}

#[test]
fn a_practice_user_logs_in_and_shares_from_the_page() {
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "secretariat", "secretary", "encore un long mot");
    let server = Server::start_web(&data, &[]);
    let ct = fixtures().join("nema-wg04/CT1_UNC.dcm");
    send_to(&server, &[&ct]);
    let study = uid_of(&ct, tags::STUDY_INSTANCE_UID);
    let web = server.web_port;
    let form = "Content-Type: application/x-www-form-urlencoded";
    let wrong = http(
        web,
        "POST",
        "/login",
        &[form],
        b"user=secretariat&password=nope&next=/",
    );
    assert_eq!(wrong.status, 401);
    // Only local paths are followed after a login.
    let ok = http(
        web,
        "POST",
        "/login",
        &[form],
        b"user=secretariat&password=encore+un+long+mot&next=//evil.example",
    );
    assert_eq!(ok.status, 303);
    assert_eq!(ok.header("location"), Some("/"));
    let cookie = session_of(&ok);
    let page = http(web, "GET", "/?name=compressed", &[&cookie], b"");
    let html = String::from_utf8_lossy(&page.body).to_string();
    assert!(
        html.contains("CompressedSamples CT1") && html.contains(&study),
        "{html}"
    );
    let shared = http(
        web,
        "POST",
        "/practice/share",
        &[&cookie, form],
        format!("study={study}&days=3").as_bytes(),
    );
    assert_eq!(shared.status, 200);
    let html = String::from_utf8_lossy(&shared.body).to_string();
    let token = html
        .split("/share/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(html.contains("PIN"), "{html}");
    assert_eq!(
        http(web, "GET", &format!("/share/{token}"), &[], b"").status,
        303
    );
    // Logged out: the session no longer opens anything.
    assert_eq!(http(web, "POST", "/logout", &[&cookie], b"").status, 303);
    assert_eq!(
        http(web, "GET", "/dicom-web/studies", &[&cookie], b"").status,
        401
    );
    assert!(audit_count(&data, "share created") >= 1);
}

/// A `multipart/related; type="application/dicom"` body of `parts`.
fn multipart_body(parts: &[&[u8]]) -> Vec<u8> {
    let mut body = vec![];
    for p in parts {
        body.extend_from_slice(b"--xyzzy\r\nContent-Type: application/dicom\r\n\r\n");
        body.extend_from_slice(p);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--xyzzy--\r\n");
    body
}

#[test]
fn stow_refuses_what_it_cannot_store_and_keeps_nothing_of_it() {
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "dr.martin", "radiologist", "un mot de passe long");
    let server = Server::start_web(&data, &[]);
    let auth = basic("dr.martin:un mot de passe long");
    let ct = "Content-Type: multipart/related; type=\"application/dicom\"; boundary=xyzzy";
    let stow = |path: &str, body: &[u8]| http(server.web_port, "POST", path, &[&auth, ct], body);
    let instances = || count(&data, "SELECT count(*) FROM instances");
    let good = std::fs::read(fixtures().join("pydicom/CT_small.dcm")).unwrap();

    let r = http(
        server.web_port,
        "POST",
        "/dicom-web/studies",
        &[&auth, "Content-Type: text/plain"],
        b"x",
    );
    assert_eq!(r.status, 415);
    // Not DICOM: failed with C000 (49152), nothing stored.
    let r = stow(
        "/dicom-web/studies",
        &multipart_body(&[b"not a DICOM file at all"]),
    );
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, 409, "{body}");
    assert!(
        body.contains("00081198") && body.contains("49152"),
        "{body}"
    );
    // Cut in half: the data set cannot be read; nothing is kept of it.
    let r = stow(
        "/dicom-web/studies",
        &multipart_body(&[&good[..good.len() / 2]]),
    );
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    // Into another study than its own: A900 (43264).
    let r = stow("/dicom-web/studies/1.2.3.4", &multipart_body(&[&good]));
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, 409, "{body}");
    assert!(body.contains("43264"), "{body}");
    assert_eq!(instances(), 0);
    let leftovers = std::fs::read_dir(data.join("tmp")).unwrap().count();
    assert_eq!(leftovers, 0, "no temporary file left behind");
    // One good, one bad: 202, the good one stored and listed.
    let r = stow("/dicom-web/studies", &multipart_body(&[&good, b"garbage"]));
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, 202, "{body}");
    assert!(
        body.contains("00081199") && body.contains("00081198"),
        "{body}"
    );
    assert_eq!(instances(), 1);

    // Frames: past the last one, 404; a syntax that cannot be made, 406.
    let path = fixtures().join("pydicom/CT_small.dcm");
    let inst = format!(
        "/dicom-web/studies/{}/series/{}/instances/{}",
        uid_of(&path, tags::STUDY_INSTANCE_UID),
        uid_of(&path, tags::SERIES_INSTANCE_UID),
        uid_of(&path, tags::SOP_INSTANCE_UID)
    );
    let get = |p: &str, accept: &str| http(server.web_port, "GET", p, &[&auth, accept], b"").status;
    let any = "Accept: multipart/related; type=application/octet-stream; transfer-syntax=*";
    assert_eq!(get(&format!("{inst}/frames/1"), any), 200);
    assert_eq!(get(&format!("{inst}/frames/2"), any), 404);
    assert_eq!(get(&format!("{inst}/frames/0"), any), 400);
    let j2k = "Accept: multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.90";
    assert_eq!(get(&inst, j2k), 406);
    let j2k_frames =
        "Accept: multipart/related; type=image/jp2; transfer-syntax=1.2.840.10008.1.2.4.90";
    assert_eq!(get(&format!("{inst}/frames/1"), j2k_frames), 406);
}
