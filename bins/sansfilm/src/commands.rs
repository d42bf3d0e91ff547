//! The verbs of `sansfilm`: parse nothing, print results, return exit codes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use sansfilm_archive::Archive;
use sansfilm_dimse::client::{self, ClientOptions, SendOutcome};
use sansfilm_dimse::status;
use sansfilm_services::{Config, WorklistFind, run_everything, shutdown};
use sansfilm_worklist::{WorklistStore, import};

/// `sansfilm serve`.
#[tokio::main]
pub async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let archive = Archive::open(&config.data_dir)
        .with_context(|| format!("cannot open the archive in {}", config.data_dir.display()))?;
    // Held while serving: `sansfilm reindex` refuses to swap the index under us.
    let _running = sansfilm_archive::reindex::server_lock(&config.data_dir)?;
    let worklist =
        Arc::new(WorklistStore::open(&config.data_dir).with_context(|| {
            format!("cannot open the worklist in {}", config.data_dir.display())
        })?);
    let addr = SocketAddr::new(config.bind, config.serve.port);
    let dicom = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let hl7_addr = SocketAddr::new(config.bind, config.serve.hl7_port);
    let hl7 = tokio::net::TcpListener::bind(hl7_addr)
        .await
        .with_context(|| format!("cannot listen on {hl7_addr} (HL7)"))?;
    let web = if config.web.port != 0 {
        let web_addr = SocketAddr::new(config.web.bind, config.web.port);
        Some(
            tokio::net::TcpListener::bind(web_addr)
                .await
                .with_context(|| format!("cannot listen on {web_addr} (web)"))?,
        )
    } else {
        None
    };
    let local = dicom.local_addr()?;
    let hl7_local = hl7.local_addr()?;
    tracing::info!(ae_title = %config.dicom.ae_title, data_dir = %config.data_dir.display(),
        "DICOM storage and worklist listening on {local}, HL7 on {hl7_local}");
    println!(
        "sansfilm DICOM listening on {local} as {}",
        config.dicom.ae_title
    );
    println!("sansfilm HL7 listening on {hl7_local}");
    if let Some(w) = &web {
        let scheme = if config.web.tls() { "https" } else { "http" };
        println!("sansfilm web listening on {scheme}://{}", w.local_addr()?);
    }
    let audit = sansfilm_services::audit::open(&config)?;
    sansfilm_services::audit::application(audit.as_ref(), "sansfilm serve", true);
    sansfilm_services::audit::configuration(audit.as_ref(), &config, "sansfilm serve");
    let config = Arc::new(config);
    run_everything(
        sansfilm_services::storage_scp::Listeners { dicom, hl7, web },
        config,
        archive,
        worklist,
        audit.clone(),
        shutdown::signal(),
    )
    .await?;
    sansfilm_services::audit::application(audit.as_ref(), "sansfilm serve", false);
    tracing::info!("sansfilm stopped");
    Ok(ExitCode::SUCCESS)
}

/// `sansfilm send`.
#[tokio::main]
pub async fn send(
    aet: &str,
    called: &str,
    assocs: usize,
    host: &str,
    port: u16,
    paths: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let files = expand(paths)?;
    let total_files = files.len() as u64;
    let bar = indicatif::ProgressBar::new(total_files);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} {msg}")
            .expect("valid template"),
    );
    let bar2 = bar.clone();
    let on_done = Arc::new(move |o: &SendOutcome| {
        if !o.is_ok() {
            let line = format!(
                "FAILED {}: {}{}",
                o.path.display(),
                o.status
                    .map(|s| format!("{s:04X} {} ", status::describe(s)))
                    .unwrap_or_default(),
                o.comment.as_deref().unwrap_or("")
            );
            if bar2.is_hidden() {
                eprintln!("{line}");
            } else {
                bar2.println(line);
            }
        }
        bar2.inc(1);
    });
    let options = ClientOptions {
        calling_ae: aet.into(),
        called_ae: called.into(),
        ..Default::default()
    };
    let report =
        client::send_files(&format!("{host}:{port}"), &options, files, assocs, on_done).await?;
    bar.finish_and_clear();
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "sent {} of {} files ({:.1} MB) in {:.2} s: {:.1} inst/s, {:.1} MB/s; {} failed",
        report.succeeded(),
        report.outcomes.len(),
        report.bytes() as f64 / 1e6,
        secs,
        report.succeeded() as f64 / secs,
        report.bytes() as f64 / 1e6 / secs,
        report.failed()
    );
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sansfilm echo`.
#[tokio::main]
pub async fn echo(aet: &str, called: &str, host: &str, port: u16) -> anyhow::Result<ExitCode> {
    let options = ClientOptions {
        calling_ae: aet.into(),
        called_ae: called.into(),
        ..Default::default()
    };
    let s = client::echo(&format!("{host}:{port}"), &options).await?;
    println!(
        "C-ECHO {host}:{port} ({called}): {s:04X} {}",
        status::describe(s)
    );
    Ok(if s == status::SUCCESS {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sansfilm verify`.
pub fn verify(config: &Config, repair: bool) -> anyhow::Result<ExitCode> {
    // With --repair an index may be rebuilt from the object files alone.
    let archive = if repair {
        anyhow::ensure!(
            config
                .data_dir
                .join(sansfilm_archive::layout::OBJECTS_DIR)
                .is_dir(),
            "no archive in {} (no objects directory); give --data-dir",
            config.data_dir.display()
        );
        Archive::open(&config.data_dir)?
    } else {
        open_existing(config)?
    };
    let bar = indicatif::ProgressBar::new(0);
    let report = archive.verify(|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    for p in &report.corrupt {
        println!("CORRUPT  {}", p.display());
    }
    for p in &report.missing {
        println!("MISSING  {}", p.display());
    }
    let mut orphans_left = report.orphans.len();
    for p in &report.orphans {
        if repair {
            match archive.index_existing(p) {
                Ok(_) => {
                    println!("INDEXED  {}", p.display());
                    orphans_left -= 1;
                }
                Err(e) => println!("ORPHAN   {} (cannot index: {e})", p.display()),
            }
        } else {
            println!("ORPHAN   {}", p.display());
        }
    }
    println!(
        "verified {} instances ({:.1} MB): {} corrupt, {} missing, {} orphans",
        report.checked,
        report.bytes as f64 / 1e6,
        report.corrupt.len(),
        report.missing.len(),
        orphans_left
    );
    let clean = report.corrupt.is_empty() && report.missing.is_empty() && orphans_left == 0;
    if let Err(e) = archive.record_verify(&report) {
        eprintln!("cannot record the verification: {e}");
    }
    if (!report.corrupt.is_empty() || !report.missing.is_empty())
        && let Ok(Some(log)) = sansfilm_services::audit::open(config)
    {
        sansfilm_services::audit::alert(
            &log,
            "archive integrity",
            format!(
                "{} corrupt, {} missing files",
                report.corrupt.len(),
                report.missing.len()
            ),
        );
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sansfilm status`.
pub fn status(config: &Config) -> anyhow::Result<ExitCode> {
    let archive = open_existing(config)?;
    let c = archive.index().counts()?;
    println!("data directory: {}", config.data_dir.display());
    println!(
        "{} patients, {} studies, {} series, {} instances ({:.1} MB), {} conflicting versions",
        c.patients,
        c.studies,
        c.series,
        c.instances,
        c.bytes as f64 / 1e6,
        c.conflicts
    );
    match archive.last_verify() {
        Some(v) => println!(
            "last verify: {} UTC, {} instances, {} problems",
            chrono::DateTime::from_timestamp(v.at, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
            v.checked,
            v.problems
        ),
        None => println!("last verify: never (run sansfilm verify)"),
    }
    for line in crate::backup_cmd::status_lines(config) {
        println!("{line}");
    }
    if config
        .data_dir
        .join(sansfilm_worklist::store::WORKLIST_FILE)
        .exists()
    {
        let wl = WorklistStore::open(&config.data_dir)?;
        println!(
            "worklist: {} entries, {} HL7 messages journaled",
            wl.len()?,
            wl.journal_len()?
        );
    }
    if config
        .data_dir
        .join(sansfilm_audit::log::AUDIT_FILE)
        .exists()
    {
        let log =
            sansfilm_audit::AuditLog::open(&config.data_dir, config.audit.key_file.as_deref())?;
        match log.head()? {
            Some(head) => println!("audit trail: head {head} (write it down as a checkpoint)"),
            None => println!("audit trail: empty"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn open_existing(config: &Config) -> anyhow::Result<Archive> {
    anyhow::ensure!(
        config
            .data_dir
            .join(sansfilm_archive::layout::INDEX_FILE)
            .exists(),
        "no archive in {} (no index file); give --data-dir",
        config.data_dir.display()
    );
    Ok(Archive::open(&config.data_dir)?)
}

/// Files of `paths`, directories searched recursively, in a stable order.
fn expand(paths: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = vec![];
    let mut stack: Vec<PathBuf> = paths.into_iter().rev().collect();
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).with_context(|| format!("{}", p.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            stack.extend(entries.into_iter().rev());
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

/// `sansfilm worklist import`.
pub fn worklist_import(config: &Config, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let store = WorklistStore::open(&config.data_dir)?;
    let files = import::wl_files(dir)?;
    anyhow::ensure!(!files.is_empty(), "no *.wl files in {}", dir.display());
    let mut items = vec![];
    let mut failed = 0;
    for f in &files {
        match import::read_wl_file(f) {
            Ok(item) => items.push(item),
            Err(e) => {
                eprintln!("SKIPPED  {e}");
                failed += 1;
            }
        }
    }
    store.insert_many(&items)?;
    println!(
        "imported {} entries from {} ({} skipped)",
        items.len(),
        dir.display(),
        failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sansfilm worklist preview`.
pub fn worklist_preview(
    config: &Config,
    aet: &str,
    query: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let store = Arc::new(WorklistStore::open(&config.data_dir)?);
    let identifier = dicom_object::open_file(query)
        .map(|f| f.into_inner())
        .or_else(|_| {
            // A bare identifier without file meta (as findscu takes them).
            let bytes = std::fs::read(query)?;
            let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
            dicom_object::InMemDicomObject::read_dataset_with_ts(&bytes[..], &ts)
                .map_err(|e| anyhow::anyhow!("{}: not a DICOM query: {e}", query.display()))
        })?;
    let find = WorklistFind::new(store, Arc::new(config.worklist.clone()), None);
    let profile = config.worklist.profile_for(aet);
    println!("profile for {aet}: {profile:?}");
    match find.answers(aet, &identifier) {
        Ok(answers) => {
            for (i, a) in answers.iter().enumerate() {
                println!("--- answer {} of {}", i + 1, answers.len());
                print_dataset(a, 0);
            }
            println!("{} answers", answers.len());
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => {
            println!("the device would receive {f}");
            Ok(ExitCode::from(1))
        }
    }
}

fn print_dataset(obj: &dicom_object::InMemDicomObject, depth: usize) {
    use dicom_core::header::Header;
    for e in obj.iter() {
        let pad = "  ".repeat(depth);
        let name = dicom_core::dictionary::DataDictionary::by_tag(
            &dicom_dictionary_std::StandardDataDictionary,
            e.tag(),
        )
        .map(|d| dicom_core::dictionary::DataDictionaryEntry::alias(d).to_string())
        .unwrap_or_default();
        if let Some(items) = e.items() {
            println!(
                "{pad}{} {} {name}: {} item(s)",
                e.tag(),
                e.vr(),
                items.len()
            );
            for item in items {
                print_dataset(item, depth + 1);
            }
        } else {
            let v = e.to_str().map(|s| s.into_owned()).unwrap_or_default();
            println!("{pad}{} {} {name}: [{v}]", e.tag(), e.vr());
        }
    }
}

/// `sansfilm hl7 replay`.
pub fn hl7_replay(config: &Config, files: &[std::path::PathBuf]) -> anyhow::Result<ExitCode> {
    let store = WorklistStore::open(&config.data_dir)?;
    let mut all_accepted = true;
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("{}", f.display()))?;
        // A file may hold several messages, each starting with MSH.
        for message in split_messages(&bytes) {
            let done = sansfilm_hl7::process(message, &store, &config.hl7);
            println!(
                "{}: {} {} {}",
                f.display(),
                done.code.as_str(),
                done.message_type,
                done.detail
            );
            let ack = String::from_utf8_lossy(&done.ack).replace('\r', "\n");
            println!("{}", ack.trim_end());
            all_accepted &= done.code == sansfilm_hl7::AckCode::AA;
        }
    }
    Ok(if all_accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Splits a file of messages at each segment that starts with `MSH`.
fn split_messages(bytes: &[u8]) -> Vec<&[u8]> {
    let mut starts = vec![];
    for i in 0..bytes.len() {
        let at_line_start = i == 0 || bytes[i - 1] == b'\r' || bytes[i - 1] == b'\n';
        if at_line_start && bytes[i..].starts_with(b"MSH") {
            starts.push(i);
        }
    }
    if starts.is_empty() {
        return vec![bytes];
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| &bytes[s..starts.get(n + 1).copied().unwrap_or(bytes.len())])
        .collect()
}

/// `sansfilm compress`: one compression pass now, with a progress bar and a
/// summary. Exit 1 if any instance failed (it stays as it was).
pub fn compress(
    config: &Config,
    to: Option<String>,
    min_age_minutes: Option<u64>,
    threads: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let archive = open_existing(config)?;
    let audit = sansfilm_services::audit::open(config)?;
    let mut policy = config.compression.policy();
    if let Some(t) = to {
        policy.target = t;
    }
    if let Some(m) = min_age_minutes {
        policy.min_age_minutes = m;
    }
    if let Some(n) = threads {
        policy.threads = n;
    }
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} instances, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let stop = std::sync::atomic::AtomicBool::new(false);
    let report = sansfilm_services::compression::run_pass(
        &archive,
        &policy,
        audit.as_ref(),
        &stop,
        |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} instances considered: {} compressed to {}, {} left as they are, {} failed",
        report.candidates, report.compressed, policy.target, report.declined, report.failed
    );
    println!(
        "{} -> {} bytes (ratio {:.2}) in {:.1} s ({:.1} MB/s), every result verified bit for bit",
        report.bytes_before,
        report.bytes_after,
        report.ratio(),
        secs,
        report.bytes_before as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(if report.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `sansfilm transcode`.
pub fn transcode(
    to: crate::cli::TranscodeTarget,
    input: &std::path::Path,
    output: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    use sansfilm_codec::transcode::{Target, is_native, transcode, transcode_to_file_bytes};
    let mut original =
        dicom_object::open_file(input).with_context(|| format!("{}", input.display()))?;
    let target = match to {
        crate::cli::TranscodeTarget::Jpegls => Target::JpegLs,
        crate::cli::TranscodeTarget::Jpeg2000 => Target::Jpeg2000,
        crate::cli::TranscodeTarget::Rle => Target::Rle,
        crate::cli::TranscodeTarget::Explicit => Target::Explicit,
    };
    let started = std::time::Instant::now();
    if target != Target::Explicit && !is_native(original.meta().transfer_syntax()) {
        original = transcode(&original, Target::Explicit)
            .with_context(|| format!("{}: decoding", input.display()))?;
    }
    // The bytes written are the bytes that were decoded and compared.
    let bytes = transcode_to_file_bytes(&original, target)
        .with_context(|| format!("{}", input.display()))?;
    write_whole(output, &bytes).with_context(|| format!("{}", output.display()))?;
    let before = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    let after = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    println!(
        "{} -> {}: {} -> {} bytes (ratio {:.2}) in {:.0} ms, {}",
        input.display(),
        output.display(),
        before,
        after,
        before as f64 / after.max(1) as f64,
        started.elapsed().as_secs_f64() * 1000.0,
        if target == Target::Explicit {
            "decoded"
        } else {
            "verified"
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `bytes` to `path` whole or not at all: a temporary file beside it,
/// flushed to disk, then renamed over it. A full disk leaves no half file.
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `sansfilm reindex`: a new index from the object files alone, swapped in
/// with the old one kept beside; refused while a server runs.
pub fn reindex(config: &Config) -> anyhow::Result<ExitCode> {
    let data = &config.data_dir;
    anyhow::ensure!(
        data.join(sansfilm_archive::layout::OBJECTS_DIR).is_dir(),
        "no archive in {} (no objects directory); give --data-dir",
        data.display()
    );
    let Some(_alone) = sansfilm_archive::reindex::exclusive_lock(data)? else {
        anyhow::bail!(
            "a sansfilm server is running on {}: stop it first (the index cannot be swapped under it)",
            data.display()
        );
    };
    let tmp = data.join(sansfilm_archive::layout::TMP_DIR);
    std::fs::create_dir_all(&tmp)?;
    let new = tmp.join(format!("reindex-{}.sqlite", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", new.display()));
    }
    let report = sansfilm_archive::reindex::rebuild_index(data, &new)?;
    for u in &report.unreadable {
        println!("NOT INDEXED  {u}");
    }
    let live = data.join(sansfilm_archive::layout::INDEX_FILE);
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let kept = data.join(format!("index.sqlite.before-reindex-{stamp}"));
    if live.exists() {
        // The old index and its WAL go aside together, never lost.
        for suffix in ["", "-wal", "-shm"] {
            let from = format!("{}{suffix}", live.display());
            if std::path::Path::new(&from).exists() {
                std::fs::rename(&from, format!("{}{suffix}", kept.display()))?;
            }
        }
    }
    std::fs::rename(&new, &live)?;
    sansfilm_archive::layout::sync_dir(data)?;
    println!(
        "reindexed {} instances from the files in {}{}",
        report.indexed,
        data.display(),
        if kept.exists() {
            format!("; the previous index is kept as {}", kept.display())
        } else {
            String::new()
        }
    );
    Ok(if report.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
