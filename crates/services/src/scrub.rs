//! The scrub as the services run it: a pass, repairs from a backup, a dated
//! report for the practice's quality binder (text and JSON in
//! `DATA_DIR/scrub-reports/`), a Security Alert when something is wrong,
//! and the nightly schedule of `sansfilm serve`.
//!
//! ```toml
//! [scrub]
//! at = "03:30"          # daily in sansfilm serve; "" for none
//! period_days = 30      # the whole archive is read once in 30 days
//! decode_share = 0.1    # a tenth of the compressed images checked decode
//! repair_from = "disque2"   # a backup target to repair from (optional)
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sansfilm_archive::{Archive, ScrubPolicy, ScrubReport};
use sansfilm_audit::AuditLog;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::Config;

/// Why a pass could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScrubError {
    /// The archive could not be read.
    #[error(transparent)]
    Archive(#[from] sansfilm_archive::Error),
    /// The backup target to repair from could not be opened.
    #[error(transparent)]
    Backup(#[from] sansfilm_backup::Error),
    /// The report could not be written.
    #[error("writing the scrub report {path}: {source}")]
    Report {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Directory of the reports, in the data directory.
pub const REPORTS_DIR: &str = "scrub-reports";

/// `[scrub]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrubConfig {
    /// Time of day (local, `HH:MM`) of the pass in `sansfilm serve`; empty:
    /// no scheduled pass.
    pub at: String,
    /// The whole archive is read once in this many days.
    pub period_days: u32,
    /// Share (0 to 1) of the checked compressed images also decoded.
    pub decode_share: f64,
    /// Backup target to repair damaged objects from, in scheduled passes.
    pub repair_from: Option<String>,
}

impl Eq for ScrubConfig {}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            at: "03:30".into(),
            period_days: 30,
            decode_share: 0.1,
            repair_from: None,
        }
    }
}

impl ScrubConfig {
    /// Checks the settings.
    pub fn validate(&self, backup: &sansfilm_backup::BackupConfig) -> Result<(), String> {
        if !self.at.is_empty() {
            sansfilm_backup::target::parse_time_of_day(&self.at)
                .map_err(|e| e.to_string().replace("[backup] at", "[scrub] at"))?;
        }
        if !(0.0..=1.0).contains(&self.decode_share) {
            return Err(format!(
                "[scrub] decode_share = {}: between 0 and 1",
                self.decode_share
            ));
        }
        if let Some(t) = &self.repair_from {
            backup
                .target(t)
                .map_err(|e| format!("[scrub] repair_from: {e}"))?;
        }
        Ok(())
    }
}

/// One repair attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Repair {
    /// The object.
    pub path: PathBuf,
    /// `None` when it was put back whole; otherwise why not.
    pub failed: Option<String>,
}

/// A pass with what was repaired, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ScrubOutcome {
    /// The pass.
    #[serde(flatten)]
    pub report: ScrubReport,
    /// Repairs tried (with `--repair-from` or `repair_from`).
    pub repairs: Vec<Repair>,
    /// The backup target repairs came from.
    pub repaired_from: Option<String>,
}

impl ScrubOutcome {
    /// Whether the archive is whole after the pass (nothing found, or
    /// everything found repaired).
    pub fn is_whole(&self) -> bool {
        let unrepaired = self.report.damaged.len() + self.report.missing.len()
            - self.repairs.iter().filter(|r| r.failed.is_none()).count();
        unrepaired == 0 && self.report.decode_failures.is_empty()
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let r = &self.report;
        let mut out = format!(
            "sansfilm scrub, {}: {}\n{} of {} instances read ({:.1} MB) and checked against their SHA-256; {} images decoded; {} not checked within the period\n",
            r.started,
            if self.is_whole() {
                "archive whole"
            } else {
                "PROBLEMS FOUND"
            },
            r.checked,
            r.instances,
            r.bytes as f64 / 1e6,
            r.decoded,
            r.overdue
        );
        for p in &r.damaged {
            out.push_str(&format!("DAMAGED  {}\n", p.display()));
        }
        for p in &r.missing {
            out.push_str(&format!("MISSING  {}\n", p.display()));
        }
        for d in &r.decode_failures {
            out.push_str(&format!("NOT DECODED  {d}\n"));
        }
        for rep in &self.repairs {
            match &rep.failed {
                None => out.push_str(&format!(
                    "REPAIRED {} from backup {}\n",
                    rep.path.display(),
                    self.repaired_from.as_deref().unwrap_or("")
                )),
                Some(why) => out.push_str(&format!("NOT REPAIRED {}: {why}\n", rep.path.display())),
            }
        }
        out
    }
}

/// Runs a pass (`period_days = 0`: the whole archive), repairs from
/// `repair_from` when given, writes the dated report, and raises a Security
/// Alert when anything was found. Returns the outcome and the report's path.
pub fn run_pass(
    config: &Config,
    archive: &Archive,
    policy: &ScrubPolicy,
    repair_from: Option<&str>,
    audit: Option<&AuditLog>,
    progress: impl FnMut(u64, u64),
) -> Result<(ScrubOutcome, PathBuf), ScrubError> {
    let report = archive.scrub(policy, progress)?;
    let mut repairs = Vec::new();
    let broken: Vec<&PathBuf> = report.damaged.iter().chain(&report.missing).collect();
    if let (Some(name), false) = (repair_from, broken.is_empty()) {
        let target = config.backup.target(name)?;
        let repo = target.open_repository(false)?;
        for path in broken {
            let expected = archive.index().instances_by_path(path)?.map(|i| i.sha256);
            let failed = match expected {
                None => Some("no longer in the index".to_string()),
                Some(sha) => {
                    sansfilm_backup::repair::repair_object(&repo, &config.data_dir, path, &sha)
                        .err()
                }
            };
            repairs.push(Repair {
                path: path.clone(),
                failed,
            });
        }
    }
    let outcome = ScrubOutcome {
        report,
        repairs,
        repaired_from: repair_from.map(str::to_string),
    };
    let written = write_report(&config.data_dir, &outcome)?;
    if let Some(log) = audit {
        let r = &outcome.report;
        if !r.is_clean() {
            crate::audit::alert(
                log,
                "archive integrity",
                format!(
                    "scrub: {} damaged, {} missing, {} not decoding, {} repaired from backup; report {}",
                    r.damaged.len(),
                    r.missing.len(),
                    r.decode_failures.len(),
                    outcome
                        .repairs
                        .iter()
                        .filter(|x| x.failed.is_none())
                        .count(),
                    written.display()
                ),
            );
        }
    }
    Ok((outcome, written))
}

/// Writes `scrub-YYYYMMDDTHHMMSSZ.txt` and `.json`; returns the text one.
fn write_report(data_dir: &Path, outcome: &ScrubOutcome) -> Result<PathBuf, ScrubError> {
    let dir = data_dir.join(REPORTS_DIR);
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let text = dir.join(format!("scrub-{stamp}.txt"));
    let json = dir.join(format!("scrub-{stamp}.json"));
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScrubError::Report { path, source }
    };
    fs::create_dir_all(&dir).map_err(err(&dir))?;
    fs::write(&text, outcome.to_text()).map_err(err(&text))?;
    let body = serde_json::to_vec_pretty(outcome).expect("report serialises");
    fs::write(&json, body).map_err(err(&json))?;
    Ok(text)
}

/// The nightly pass of `sansfilm serve`, at `[scrub] at`, until `stop`.
pub async fn run_scheduled(
    config: Arc<Config>,
    archive: Archive,
    audit: Option<AuditLog>,
    stop: CancellationToken,
) {
    let Ok((hour, minute)) = sansfilm_backup::target::parse_time_of_day(&config.scrub.at) else {
        return; // empty: no scheduled pass (anything else was refused at start)
    };
    let policy = ScrubPolicy {
        period_days: config.scrub.period_days,
        decode_share: config.scrub.decode_share,
    };
    loop {
        let wait = crate::backup::until_next(hour, minute, chrono::Local::now());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
        let (c, a, l, p) = (
            config.clone(),
            archive.clone(),
            audit.clone(),
            policy.clone(),
        );
        let pass = tokio::task::spawn_blocking(move || {
            run_pass(
                &c,
                &a,
                &p,
                c.scrub.repair_from.as_deref(),
                l.as_ref(),
                |_, _| {},
            )
        });
        tokio::select! {
            r = pass => match r {
                Ok(Ok((o, path))) => tracing::info!(
                    checked = o.report.checked,
                    damaged = o.report.damaged.len(),
                    missing = o.report.missing.len(),
                    report = %path.display(),
                    "scrub pass done"
                ),
                Ok(Err(e)) => tracing::error!("scrub pass failed: {e:#}"),
                Err(e) => tracing::error!("scrub pass crashed: {e}"),
            },
            _ = stop.cancelled() => return,
        }
    }
}
