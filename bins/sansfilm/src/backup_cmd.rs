//! `sansfilm backup`, `backup list`, `backup drill` and `restore`.

use std::path::Path;
use std::process::ExitCode;

use sansfilm_backup::{Error as BackupError, Repository, TargetConfig, state};
use sansfilm_services::{Config, ConfigError};

/// The targets named, or every target; a configuration error when none is
/// configured or the name is unknown (exit 2).
fn targets<'a>(config: &'a Config, name: Option<&str>) -> anyhow::Result<Vec<&'a TargetConfig>> {
    config
        .backup
        .validate()
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    match name {
        // A target named: its key file and credentials are read now, and a
        // problem there is the configuration's (exit 2). With every target,
        // one target's problem fails that target only, the others go on.
        Some(n) => {
            let t = config
                .backup
                .target(n)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
            t.check_secrets()
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
            Ok(vec![t])
        }
        None if config.backup.targets.is_empty() => Err(ConfigError::Invalid(
            "no backup target configured: add a [[backup.targets]] with a name and a url \
             (file:///mnt/backup, label:DISK-LABEL) to the configuration"
                .into(),
        )
        .into()),
        None => Ok(config.backup.targets.iter().collect()),
    }
}

/// The repository of a target that has had a backup (an error otherwise).
fn open_repo(target: &TargetConfig) -> anyhow::Result<Repository> {
    Ok(target.open_repository(false)?)
}

/// The snapshot named, or the latest.
fn snapshot_of(repo: &Repository, id: Option<&str>) -> anyhow::Result<sansfilm_backup::Snapshot> {
    Ok(match id {
        Some(id) => repo.load(id)?,
        None => repo
            .latest()?
            .ok_or_else(|| BackupError::NoSnapshot(format!("in {}", repo.describe())))?,
    })
}

fn bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("valid template"),
    );
    bar
}

/// `sansfilm backup [--target NAME]`: every target when none is named; a
/// removable disk that is not plugged in is skipped with a note (an error
/// when it was named).
pub fn backup(config: &Config, target: Option<&str>) -> anyhow::Result<ExitCode> {
    let targets = targets(config, target)?;
    let audit = sansfilm_services::audit::open(config)?;
    let mut ok = true;
    for t in targets {
        let bar = bar(false);
        let result = sansfilm_services::backup::run_target(config, t, audit.as_ref(), &|p| {
            bar.set_length(p.bytes_total);
            bar.set_position(p.bytes_done);
        });
        bar.finish_and_clear();
        match result {
            Ok(summary) => {
                println!(
                    "{}: snapshot {}: {} objects ({:.1} MB), {} sent ({:.1} MB) in {:.1} s, {:.0} MB/s",
                    t.name,
                    summary.snapshot.id,
                    summary.objects,
                    summary.snapshot.bytes() as f64 / 1e6,
                    summary.objects_sent,
                    summary.bytes_sent as f64 / 1e6,
                    summary.elapsed.as_secs_f64(),
                    summary.mb_per_s()
                );
                if !summary.snapshot.deferred.is_empty() {
                    println!(
                        "{}: {} instances waiting for compression, sent once compressed",
                        t.name,
                        summary.snapshot.deferred.len()
                    );
                }
                for p in &summary.snapshot.problems {
                    println!("LEFT OUT  {}: {}", p.path, p.reason);
                }
                if !summary.snapshot.problems.is_empty() {
                    ok = false;
                }
            }
            Err(e @ BackupError::NotConnected(_)) if target.is_none() => {
                println!("{}: skipped: {e}", t.name);
            }
            Err(e) => {
                ok = false;
                eprintln!("sansfilm: backup to {} failed: {e}", t.name);
                eprintln!(
                    "  nothing of this run counts as backed up; the earlier snapshots are intact"
                );
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sansfilm backup new-key FILE`.
pub fn new_key(file: &Path) -> anyhow::Result<ExitCode> {
    let key = sansfilm_backup::Key::write_new(file)?;
    println!("wrote a new backup key to {}", file.display());
    println!("public key: {}", key.recipient());
    println!(
        "Use it on a target with encrypt = true and key_file = \"{}\".\n\
         Keep a copy of this file apart from the server (printed, on a USB stick in the safe):\n\
         without it nobody can read the backups made with it, the practice included.",
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `sansfilm backup prune --target NAME --keep-…`.
pub fn prune(
    config: &Config,
    target: &str,
    options: &sansfilm_backup::PruneOptions,
) -> anyhow::Result<ExitCode> {
    let t = targets(config, Some(target))?[0];
    if options.keep.is_empty() {
        return Err(ConfigError::Invalid(
            "backup prune needs at least one rule: --keep-last, --keep-daily, --keep-weekly, \
             --keep-monthly or --keep-yearly"
                .into(),
        )
        .into());
    }
    let store = t.open_dir_store()?;
    let repo = open_repo(t)?;
    let report = sansfilm_backup::prune(&repo, &store, options)?;
    let (would, verb) = if report.dry_run {
        ("would be ", "would forget")
    } else {
        ("", "forgot")
    };
    for id in &report.forgotten {
        println!("{verb} {id}");
    }
    println!(
        "{}: {} snapshots kept, {} {would}forgotten; {} blobs {would}removed ({:.1} MB); \
         {} recent blobs kept",
        t.name,
        report.kept.len(),
        report.forgotten.len(),
        report.blobs_removed,
        report.bytes_freed as f64 / 1e6,
        report.recent_kept
    );
    Ok(ExitCode::SUCCESS)
}

/// `sansfilm backup list --target NAME`.
pub fn list(config: &Config, target: &str) -> anyhow::Result<ExitCode> {
    let t = targets(config, Some(target))?[0];
    let repo = open_repo(t)?;
    let ids = repo.snapshot_ids()?;
    if ids.is_empty() {
        println!("no snapshot in {}", repo.describe());
    }
    if repo.is_encrypted() {
        println!("{} is encrypted (age)", repo.describe());
    }
    for id in ids {
        let s = repo.load(&id)?;
        println!(
            "{id}  {} objects  {:.1} MB  {} problems  from {}:{}",
            s.of_kind(sansfilm_backup::EntryKind::Object).count(),
            s.bytes() as f64 / 1e6,
            s.problems.len(),
            s.host,
            s.source
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `sansfilm backup drill --target NAME`: restores the latest snapshot (or
/// the one named) into a scratch directory and proves it; exit 1 when
/// anything is wrong.
pub fn drill(
    config: &Config,
    target: &str,
    snapshot: Option<&str>,
    sample: usize,
    json: bool,
    scratch: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let t = targets(config, Some(target))?[0];
    let repo = open_repo(t)?;
    let snap = snapshot_of(&repo, snapshot)?;
    let parent = match scratch {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            tempfile::Builder::new().prefix("drill-").tempdir_in(dir)?
        }
        None => tempfile::Builder::new()
            .prefix("sansfilm-drill-")
            .tempdir()?,
    };
    let bar = bar(json);
    let report = sansfilm_backup::drill(
        &config.data_dir,
        &repo,
        &snap,
        &parent.path().join("data"),
        sample,
        &|p| {
            bar.set_length(p.bytes_total);
            bar.set_position(p.bytes_done);
        },
    )?;
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    if !report.passed()
        && let Ok(Some(log)) = sansfilm_services::audit::open(config)
    {
        sansfilm_services::audit::alert(
            &log,
            "backup integrity",
            format!("restore drill of {} from {} failed", snap.id, t.name),
        );
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sansfilm restore --target NAME [--snapshot ID] --to DIR`.
pub fn restore(
    config: &Config,
    target: &str,
    snapshot: Option<&str>,
    to: &Path,
) -> anyhow::Result<ExitCode> {
    let t = targets(config, Some(target))?[0];
    let repo = open_repo(t)?;
    let snap = snapshot_of(&repo, snapshot)?;
    let bar = bar(false);
    let threads = repo.store().concurrency();
    let report = sansfilm_backup::restore(&repo, &snap, to, threads, &|p| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
    })?;
    bar.finish_and_clear();
    for m in &report.missing {
        println!("MISSING  {m}");
    }
    for d in &report.damaged {
        println!("DAMAGED  {d}");
    }
    println!(
        "restored snapshot {} into {}: {} files ({:.1} MB) in {:.1} s, {:.0} MB/s, every SHA-256 checked; {} missing, {} damaged",
        snap.id,
        to.display(),
        report.restored,
        report.bytes as f64 / 1e6,
        report.elapsed.as_secs_f64(),
        report.mb_per_s(),
        report.missing.len(),
        report.damaged.len()
    );
    if !snap.problems.is_empty() {
        println!(
            "the snapshot itself lacks {} objects (left out at backup time: `sansfilm backup list`)",
            snap.problems.len()
        );
    }
    for d in &report.deferred {
        println!(
            "NOT IN THIS COPY  {} (SOP Instance UID {})",
            d.path, d.sop_instance_uid
        );
    }
    if !report.deferred.is_empty() {
        println!(
            "{} instances were waiting for compression when the snapshot was taken and are not in \
             it (nor in the restored index); a later snapshot or another target holds them",
            report.deferred.len()
        );
    }
    Ok(if report.is_complete() && snap.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Lines for `sansfilm status`: each target's last backup, and a warning
/// when it is older than the target allows.
pub fn status_lines(config: &Config) -> Vec<String> {
    let known = state::load(&config.data_dir);
    let now = chrono::Utc::now().timestamp();
    config
        .backup
        .targets
        .iter()
        .map(|t| match known.get(&t.name) {
            Some(last) => {
                let age = state::age_days(last.at, now);
                let when = chrono::DateTime::from_timestamp(last.at, 0)
                    .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default();
                let warn = if age >= i64::from(t.max_age_days()) {
                    format!("  WARNING: {age} days old (more than {})", t.max_age_days())
                } else {
                    String::new()
                };
                let waiting = if last.deferred > 0 {
                    format!(" ({} waiting for compression)", last.deferred)
                } else {
                    String::new()
                };
                format!(
                    "backup {}: {when} UTC, snapshot {}, {} objects{waiting}{warn}",
                    t.name, last.snapshot, last.objects
                )
            }
            None => format!(
                "backup {}: never  WARNING: run sansfilm backup --target {}",
                t.name, t.name
            ),
        })
        .collect()
}

/// `sansfilm scrub [--repair-from NAME] [--slice] [--json]`.
pub fn scrub(
    config: &Config,
    repair_from: Option<&str>,
    slice: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    config
        .scrub
        .validate(&config.backup)
        .map_err(ConfigError::Invalid)?;
    if let Some(name) = repair_from {
        config
            .backup
            .target(name)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    }
    let archive = crate::commands::open_existing(config)?;
    let audit = sansfilm_services::audit::open(config)?;
    let policy = sansfilm_archive::ScrubPolicy {
        period_days: if slice { config.scrub.period_days } else { 0 },
        decode_share: config.scrub.decode_share,
    };
    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    let (outcome, report) = sansfilm_services::scrub::run_pass(
        config,
        &archive,
        &policy,
        repair_from,
        audit.as_ref(),
        |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )?;
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!("{}", outcome.to_text());
        println!("report: {}", report.display());
    }
    Ok(if outcome.is_whole() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
