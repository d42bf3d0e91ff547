//! Backups run by the services: one target at a time with its audit record
//! and its line in `last-backup.json`, and the nightly schedule of
//! `sansfilm serve` (`[backup] at = "02:00"`).

use std::sync::Arc;
use std::time::Duration;

use sansfilm_audit::AuditLog;
use sansfilm_backup::{BackupOptions, BackupSummary, Progress, TargetConfig, state};
use tokio_util::sync::CancellationToken;

use crate::Config;

/// Backs up the data directory to one target: the snapshot, its record in
/// `last-backup.json`, a Data Export audit event (success or failure), and a
/// Security Alert when objects had to be left out (damaged in the archive).
pub fn run_target(
    config: &Config,
    target: &TargetConfig,
    audit: Option<&AuditLog>,
    progress: &(dyn Fn(Progress) + Sync),
) -> sansfilm_backup::Result<BackupSummary> {
    let result = (|| {
        let repo = target.open_repository(true)?;
        let options = BackupOptions {
            wait_for_compression: (target.waits_for_compression() && config.compression.enabled)
                .then(|| config.compression.policy()),
            ..BackupOptions::default()
        };
        let summary = sansfilm_backup::backup(&config.data_dir, &repo, &options, progress)?;
        state::record(
            &config.data_dir,
            &target.name,
            state::LastBackup {
                snapshot: summary.snapshot.id.clone(),
                at: chrono::Utc::now().timestamp(),
                objects: summary.objects,
                bytes: summary.snapshot.bytes(),
                problems: summary.snapshot.problems.len() as u64,
                deferred: summary.snapshot.deferred.len() as u64,
            },
        )?;
        Ok(summary)
    })();
    if let Some(log) = audit {
        match &result {
            Ok(s) => {
                crate::audit::backup_run(
                    log,
                    &target.name,
                    Ok(format!(
                        "snapshot {}: {} objects, {} sent, {} bytes sent, {} waiting for \
                         compression",
                        s.snapshot.id,
                        s.objects,
                        s.objects_sent,
                        s.bytes_sent,
                        s.snapshot.deferred.len()
                    )),
                );
                if !s.snapshot.problems.is_empty() {
                    crate::audit::alert(
                        log,
                        "archive integrity",
                        format!(
                            "backup to {}: {} objects left out (damaged in the archive?)",
                            target.name,
                            s.snapshot.problems.len()
                        ),
                    );
                }
            }
            Err(sansfilm_backup::Error::NotConnected(_)) => {}
            Err(e) => crate::audit::backup_run(log, &target.name, Err(e.to_string())),
        }
    }
    result
}

/// Every target, one after the other, logged; a removable disk that is not
/// plugged in is skipped with a note.
pub fn run_all(config: &Config, audit: Option<&AuditLog>) {
    for target in &config.backup.targets {
        match run_target(config, target, audit, &|_| {}) {
            Ok(s) => tracing::info!(
                target = %target.name,
                snapshot = %s.snapshot.id,
                objects = s.objects,
                sent = s.objects_sent,
                mb_per_s = format!("{:.0}", s.mb_per_s()),
                problems = s.snapshot.problems.len(),
                "backup done"
            ),
            Err(sansfilm_backup::Error::NotConnected(_)) => {
                tracing::info!(target = %target.name, "backup skipped: disk not connected")
            }
            Err(e) => tracing::error!(target = %target.name, "backup failed: {e}"),
        }
    }
}

/// Time until the next `hour:minute`, local time.
pub fn until_next(hour: u32, minute: u32, now: chrono::DateTime<chrono::Local>) -> Duration {
    use chrono::{Days, TimeZone};
    let today = now.date_naive();
    for day in [today, today + Days::new(1), today + Days::new(2)] {
        let Some(naive) = day.and_hms_opt(hour, minute, 0) else {
            continue;
        };
        // A time skipped by a DST change falls back to the next day.
        if let Some(at) = chrono::Local.from_local_datetime(&naive).earliest()
            && at > now
        {
            return (at - now).to_std().unwrap_or_default();
        }
    }
    Duration::from_secs(24 * 3600)
}

/// Runs every target's backup each day at `[backup] at`, until `stop`.
/// A backup in progress at shutdown is left unfinished: it leaves no
/// snapshot, and the next run sends only what is still missing.
pub async fn run_scheduled(config: Arc<Config>, audit: Option<AuditLog>, stop: CancellationToken) {
    let Some(at) = config.backup.at.clone() else {
        return;
    };
    let Ok((hour, minute)) = sansfilm_backup::target::parse_time_of_day(&at) else {
        return; // refused by Config::validate already
    };
    if config.backup.targets.is_empty() {
        tracing::warn!("[backup] at is set but there is no [[backup.targets]]: no backup will run");
        return;
    }
    loop {
        let wait = until_next(hour, minute, chrono::Local::now());
        tracing::info!(in_minutes = wait.as_secs() / 60, "next backup at {at}");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
        let (c, a) = (config.clone(), audit.clone());
        let run = tokio::task::spawn_blocking(move || run_all(&c, a.as_ref()));
        tokio::select! {
            _ = run => {}
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_next_run_is_later_today_or_tomorrow() {
        let now = chrono::Local
            .with_ymd_and_hms(2026, 6, 10, 1, 30, 0)
            .unwrap();
        assert_eq!(until_next(2, 0, now), Duration::from_secs(30 * 60));
        let now = chrono::Local
            .with_ymd_and_hms(2026, 6, 10, 2, 0, 0)
            .unwrap();
        assert_eq!(until_next(2, 0, now), Duration::from_secs(24 * 3600));
    }
}

#[cfg(test)]
mod names {
    /// The backup crate names the data directory's files without depending
    /// on the crates that own them: the names must stay the same.
    #[test]
    fn every_database_and_key_of_the_data_directory_is_backed_up() {
        let dbs = sansfilm_backup::backup::DATABASES;
        for owned in [
            sansfilm_archive::layout::INDEX_FILE,
            sansfilm_worklist::store::WORKLIST_FILE,
            sansfilm_audit::log::AUDIT_FILE,
            sansfilm_web::accounts::ACCOUNTS_FILE,
        ] {
            assert!(dbs.contains(&owned), "{owned} is not backed up");
        }
        assert!(sansfilm_backup::backup::SMALL_FILES.contains(&sansfilm_audit::log::KEY_FILE));
    }
}
