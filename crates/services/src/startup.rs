//! The consistency check a server runs when it starts.
//!
//! A server starts after damage (a disk that lost its last writes, files
//! removed by hand, an audit database restored from an older copy): it must
//! not keep quiet about it. In the background of the start, the archive is
//! checked quickly (every indexed file exists, every stored file is indexed:
//! no hashing) and the audit chain is verified; what is wrong is logged as a
//! warning and recorded as a Security Alert, pointing to `sansfilm verify
//! --repair` and `sansfilm audit verify`.

use sansfilm_archive::Archive;
use sansfilm_audit::AuditLog;

/// Runs the check on a blocking thread; returns at once.
pub fn spawn_check(archive: Archive, audit: Option<AuditLog>) {
    tokio::task::spawn_blocking(move || check(&archive, audit.as_ref()));
}

/// The check itself; `true` when nothing is wrong.
pub fn check(archive: &Archive, audit: Option<&AuditLog>) -> bool {
    let mut clean = true;
    match archive.quick_check() {
        Ok(report) if report.is_clean() => {
            tracing::info!(
                instances = report.checked,
                "start-up check: archive consistent"
            );
        }
        Ok(report) => {
            clean = false;
            let example = report
                .missing
                .iter()
                .chain(&report.orphans)
                .next()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let detail = format!(
                "{} indexed file(s) missing, {} stored file(s) not indexed (e.g. {example}); \
                 run `sansfilm verify --repair`",
                report.missing.len(),
                report.orphans.len()
            );
            tracing::warn!("start-up check: archive inconsistent: {detail}");
            if let Some(log) = audit {
                crate::audit::alert(log, "archive inconsistent at start", detail);
            }
        }
        Err(e) => {
            clean = false;
            tracing::error!("start-up check of the archive failed: {e}");
        }
    }
    if let Some(log) = audit {
        match log.verify(None) {
            Ok(report) if report.problems.is_empty() => {
                tracing::info!(
                    records = report.records,
                    "start-up check: audit chain intact"
                )
            }
            Ok(report) => {
                clean = false;
                let first = report
                    .problems
                    .first()
                    .map(|p| format!("record {}: {}", p.seq, p.what))
                    .unwrap_or_default();
                let detail = format!(
                    "{} problem(s) in the audit chain (first: {first}); run `sansfilm audit verify`",
                    report.problems.len()
                );
                tracing::warn!("start-up check: audit chain broken: {detail}");
                crate::audit::alert(log, "audit chain broken at start", detail);
            }
            Err(e) => {
                clean = false;
                tracing::error!("start-up check of the audit chain failed: {e}");
            }
        }
    }
    clean
}
