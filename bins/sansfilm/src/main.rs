//! sansfilm: the practice's one command. `serve` runs every service; the other
//! verbs send, check and report on the archive.

mod audit_cmd;
mod backup_cmd;
mod cli;
mod commands;
mod qr_cmd;
mod web_cmd;

use std::process::ExitCode;

use clap::Parser;
use cli::{AuditCommand, BackupCommand, Cli, Command, Hl7Command, WorklistCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        // A verb's output piped into `head` ends quietly when the reader
        // stops, as with other Unix tools (Rust ignores SIGPIPE, and
        // println! then panics). The server keeps ignoring it.
        // SAFETY: restoring a signal's default disposition at start-up,
        // before any thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    sansfilm_services::logging::init();
    let result = match cli.command {
        Command::Serve {
            common,
            port,
            aet,
            hl7_port,
            web_port,
        } => common.load().map_err(Into::into).and_then(|mut c| {
            if let Some(p) = port {
                c.serve.port = p;
            }
            if let Some(a) = aet {
                c.dicom.ae_title = a;
            }
            if let Some(p) = hl7_port {
                c.serve.hl7_port = p;
            }
            if let Some(p) = web_port {
                c.web.port = p;
            }
            c.validate()?;
            commands::serve(c)
        }),
        Command::Send {
            aet,
            called_aet,
            assocs,
            host,
            port,
            paths,
        } => commands::send(&aet, &called_aet, assocs, &host, port, paths),
        Command::Echo {
            aet,
            called_aet,
            host,
            port,
        } => commands::echo(&aet, &called_aet, &host, port),
        Command::Find {
            aet,
            called_aet,
            level,
            patient_root,
            keys,
            host,
            port,
        } => qr_cmd::find(&aet, &called_aet, &level, patient_root, &keys, &host, port),
        Command::Move {
            aet,
            called_aet,
            study,
            to,
            host,
            port,
        } => qr_cmd::move_study(&aet, &called_aet, &study, &to, &host, port),
        Command::Get {
            aet,
            called_aet,
            study,
            out,
            uncompressed,
            host,
            port,
        } => qr_cmd::get_study(&aet, &called_aet, &study, &out, uncompressed, &host, port),
        Command::Verify { common, repair } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| commands::verify(&c, repair)),
        Command::Worklist {
            command: WorklistCommand::Import { common, dir },
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| commands::worklist_import(&c, &dir)),
        Command::Worklist {
            command: WorklistCommand::Preview { common, aet, query },
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| commands::worklist_preview(&c, &aet, &query)),
        Command::Audit {
            command: AuditCommand::Verify { common, checkpoint },
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| audit_cmd::verify(&c, checkpoint.as_deref())),
        Command::Audit {
            command:
                AuditCommand::Show {
                    common,
                    filter,
                    json,
                },
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| audit_cmd::show(&c, &filter, json)),
        Command::Audit {
            command:
                AuditCommand::Export {
                    common,
                    filter,
                    format,
                    to,
                },
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| audit_cmd::export(&c, &filter, &format, to.as_deref())),
        Command::Hl7 {
            command: Hl7Command::Replay { common, files },
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| commands::hl7_replay(&c, &files)),
        Command::Compress {
            common,
            to,
            min_age_minutes,
            threads,
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| commands::compress(&c, to, min_age_minutes, threads)),
        Command::Transcode { to, input, output } => commands::transcode(to, &input, &output),
        Command::User { command } => web_cmd::user(command),
        Command::Share { command } => web_cmd::share(command),
        Command::Status { common } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| commands::status(&c)),
        Command::Backup {
            command: None,
            common,
            target,
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| backup_cmd::backup(&c, target.as_deref())),
        Command::Backup {
            command:
                Some(BackupCommand::Prune {
                    common,
                    target,
                    keep_last,
                    keep_daily,
                    keep_weekly,
                    keep_monthly,
                    keep_yearly,
                    dry_run,
                    grace_hours,
                }),
            ..
        } => common.load().map_err(Into::into).and_then(|c| {
            let options = sansfilm_backup::PruneOptions {
                keep: sansfilm_backup::KeepPolicy {
                    last: keep_last,
                    daily: keep_daily,
                    weekly: keep_weekly,
                    monthly: keep_monthly,
                    yearly: keep_yearly,
                },
                dry_run,
                grace: std::time::Duration::from_secs(grace_hours.saturating_mul(3600)),
            };
            backup_cmd::prune(&c, &target, &options)
        }),
        Command::Backup {
            command: Some(BackupCommand::NewKey { file }),
            ..
        } => backup_cmd::new_key(&file),
        Command::Backup {
            command: Some(BackupCommand::List { common, target }),
            ..
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| backup_cmd::list(&c, &target)),
        Command::Backup {
            command:
                Some(BackupCommand::Drill {
                    common,
                    target,
                    snapshot,
                    sample,
                    json,
                    scratch,
                }),
            ..
        } => common.load().map_err(Into::into).and_then(|c| {
            backup_cmd::drill(
                &c,
                &target,
                snapshot.as_deref(),
                sample,
                json,
                scratch.as_deref(),
            )
        }),
        Command::Scrub {
            common,
            repair_from,
            slice,
            json,
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| backup_cmd::scrub(&c, repair_from.as_deref(), slice, json)),
        Command::Reindex { common } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| commands::reindex(&c)),
        Command::Restore {
            common,
            target,
            snapshot,
            to,
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| backup_cmd::restore(&c, &target, snapshot.as_deref(), &to)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sansfilm: {e:#}");
            if e.downcast_ref::<sansfilm_services::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::cli::Cli::command().debug_assert();
    }
}
