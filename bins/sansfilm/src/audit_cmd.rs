//! `sansfilm audit`: verify, show and export the audit trail. Reading the
//! trail is itself audited (Audit Log Used).

use std::process::ExitCode;

use anyhow::Context;
use sansfilm_audit::event::{Action, EventKind, Outcome};
use sansfilm_audit::{AuditEvent, AuditLog, Checkpoint, Filter};
use sansfilm_services::Config;

fn open(config: &Config) -> anyhow::Result<AuditLog> {
    anyhow::ensure!(
        config
            .data_dir
            .join(sansfilm_audit::log::AUDIT_FILE)
            .exists(),
        "no audit trail in {}; give --data-dir",
        config.data_dir.display()
    );
    Ok(AuditLog::open(
        &config.data_dir,
        config.audit.key_file.as_deref(),
    )?)
}

fn used(log: &AuditLog, what: &str) {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    let event = AuditEvent::new(
        EventKind::AuditLogUsed,
        what,
        Action::Read,
        Outcome::Success,
    )
    .participant(user, sansfilm_audit::syslog::hostname(), true);
    if let Err(e) = log.append(event) {
        eprintln!("sansfilm: cannot record this use of the audit trail: {e}");
    }
}

/// `sansfilm audit verify`.
pub fn verify(config: &Config, checkpoint: Option<&str>) -> anyhow::Result<ExitCode> {
    let log = open(config)?;
    let checkpoint: Option<Checkpoint> = checkpoint
        .map(|c| c.parse().map_err(|e: String| anyhow::anyhow!(e)))
        .transpose()
        .context("--checkpoint")?;
    let report = log.verify(checkpoint.as_ref())?;
    for p in &report.problems {
        println!("BROKEN   {}", p.what);
    }
    match &report.head {
        Some(head) => println!("{} records; head {head}", report.records),
        None => println!("the audit trail is empty"),
    }
    if report.is_intact() {
        println!("the audit trail is intact");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "the audit trail has been tampered with ({} problems)",
            report.problems.len()
        );
        let first = report
            .problems
            .first()
            .map(|p| p.what.clone())
            .unwrap_or_default();
        sansfilm_services::audit::alert(
            &log,
            "tampering detected",
            format!("audit trail: {first}"),
        );
        Ok(ExitCode::from(1))
    }
}

/// Options of `show` and `export`.
#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// Only this patient ID.
    #[arg(long)]
    patient: Option<String>,
    /// Only events naming this Study Instance UID.
    #[arg(long)]
    study: Option<String>,
    /// Only events where this AE title (or application) took part.
    #[arg(long)]
    ae: Option<String>,
    /// Only this type: ApplicationActivity, InstancesTransferred, Query,
    /// PatientRecord, OrderRecord, InstancesAccessed, DataExport,
    /// SecurityAlert, AuditLogUsed.
    #[arg(long = "type")]
    kind: Option<String>,
    /// From this time (UTC, e.g. 2026-11-23 or 2026-11-23T08:00).
    #[arg(long)]
    since: Option<String>,
    /// Until this time (inclusive).
    #[arg(long)]
    until: Option<String>,
}

impl FilterArgs {
    fn filter(&self) -> anyhow::Result<Filter> {
        let kind = match &self.kind {
            None => None,
            Some(k) => Some(
                EventKind::ALL
                    .into_iter()
                    .find(|e| format!("{e:?}").eq_ignore_ascii_case(k))
                    .ok_or_else(|| anyhow::anyhow!("unknown event type {k:?}"))?,
            ),
        };
        Ok(Filter {
            patient_id: self.patient.clone(),
            study_uid: self.study.clone(),
            participant: self.ae.clone(),
            kind,
            since: self.since.clone(),
            until: self.until.clone(),
            ..Default::default()
        })
    }
}

/// `sansfilm audit show`.
pub fn show(config: &Config, args: &FilterArgs, json: bool) -> anyhow::Result<ExitCode> {
    let log = open(config)?;
    let records = log.records(&args.filter()?)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else {
        for r in &records {
            let e = &r.event;
            let who: Vec<String> = e
                .participants
                .iter()
                .map(|p| {
                    if p.host.is_empty() {
                        p.id.clone()
                    } else {
                        format!("{}@{}", p.id, p.host)
                    }
                })
                .collect();
            println!(
                "{:>6} {} {:<21} {:<20} {:?} {} patient={} studies={} {}{}",
                r.seq,
                r.time,
                format!("{:?}", e.kind),
                e.subtype,
                e.outcome,
                who.join(","),
                e.patient_id,
                e.study_uids.join(","),
                if e.query.is_empty() {
                    String::new()
                } else {
                    format!("query=[{}] ", e.query)
                },
                e.detail
            );
        }
        println!("{} records", records.len());
    }
    used(&log, "show");
    Ok(ExitCode::SUCCESS)
}

/// `sansfilm audit export`.
pub fn export(
    config: &Config,
    args: &FilterArgs,
    format: &str,
    to: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let log = open(config)?;
    if let Some(dest) = to {
        let dest = config
            .audit
            .destination(dest)
            .map_err(|e| anyhow::anyhow!(e))?;
        let n = sansfilm_audit::syslog::send_pending(&log, &dest, "sansfilm")?;
        println!("sent {n} records to {dest}");
        used(&log, "export");
        return Ok(ExitCode::SUCCESS);
    }
    let records = log.records(&args.filter()?)?;
    let host = sansfilm_audit::syslog::hostname();
    match format {
        "json" => {
            for r in &records {
                println!("{}", serde_json::to_string(r)?);
            }
        }
        "syslog" => {
            for r in &records {
                println!(
                    "{}",
                    sansfilm_audit::syslog::syslog_line(r, &host, "sansfilm")
                );
            }
        }
        other => anyhow::bail!("--format {other:?}: use syslog or json"),
    }
    used(&log, "export");
    Ok(ExitCode::SUCCESS)
}
