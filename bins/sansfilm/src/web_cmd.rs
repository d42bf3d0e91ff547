//! `sansfilm user` and `sansfilm share`: the web's accounts, from the
//! command line (the practice's IT person sets up the first admin here).

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Context;
use sansfilm_services::Config;
use sansfilm_web::accounts::{Accounts, Role, Scope};

use crate::cli::{ShareCommand, UserCommand};

fn accounts(config: &Config) -> anyhow::Result<Accounts> {
    Accounts::open(&config.data_dir)
        .with_context(|| format!("cannot open the accounts in {}", config.data_dir.display()))
}

/// The password on standard input (its first line).
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}

/// `sansfilm user ...`.
pub fn user(command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add { common, name, role } => {
            let config = common.load()?;
            let role = Role::parse(&role).context("role: radiologist, secretary or admin")?;
            let password = read_password()?;
            accounts(&config)?.add_user(&name, role, &password)?;
            println!("user {name} added ({})", role.as_str());
        }
        UserCommand::Passwd { common, name } => {
            let config = common.load()?;
            let password = read_password()?;
            accounts(&config)?.set_password(&name, &password)?;
            println!("password of {name} changed; their sessions ended");
        }
        UserCommand::Del { common, name } => {
            let config = common.load()?;
            accounts(&config)?.delete_user(&name)?;
            println!("user {name} removed");
        }
        UserCommand::List { common } => {
            let config = common.load()?;
            for u in accounts(&config)?.users()? {
                println!("{}\t{}", u.name, u.role.as_str());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `sansfilm share ...`.
pub fn share(command: ShareCommand) -> anyhow::Result<ExitCode> {
    match command {
        ShareCommand::Create {
            common,
            study,
            patient,
            days,
            url,
        } => {
            let config = common.load()?;
            let scope = match (study, patient) {
                (Some(s), _) => Scope::Study(s),
                (None, Some(p)) => Scope::Patient(p),
                (None, None) => anyhow::bail!("give --study UID or --patient ID"),
            };
            check_exists(&config, &scope)?;
            let days = days.unwrap_or(config.web.share_days);
            let new = accounts(&config)?.create_share(scope.clone(), days, "sansfilm share")?;
            let base = url
                .or_else(|| config.web.public_url.clone())
                .unwrap_or_else(|| format!("http://localhost:{}", config.web.port));
            let base = base.trim_end_matches('/');
            let audit = sansfilm_services::audit::open(&config)?;
            if let Some(log) = &audit {
                sansfilm_services::audit::share_created(log, new.share.id, &format!("{scope:?}"));
            }
            println!("share #{} of {scope:?}, for {days} days", new.share.id);
            println!("link: {base}/share/{}", new.token);
            println!("code: {}  PIN: {}  (at {base}/code)", new.code, new.pin);
        }
        ShareCommand::List { common } => {
            let config = common.load()?;
            let now = sansfilm_web::accounts::now();
            for s in accounts(&config)?.shares()? {
                let state = if s.revoked_at.is_some() {
                    "revoked".to_string()
                } else if s.expires_at <= now {
                    "expired".to_string()
                } else {
                    format!("open {} more days", (s.expires_at - now) / 86_400)
                };
                println!("#{}\t{:?}\t{state}\tby {}", s.id, s.scope, s.created_by);
            }
        }
        ShareCommand::Revoke { common, id } => {
            let config = common.load()?;
            accounts(&config)?.revoke_share(id)?;
            println!("share #{id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A share of something the archive does not hold is a mistake to catch.
fn check_exists(config: &Config, scope: &Scope) -> anyhow::Result<()> {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    use sansfilm_dicom::matching::{Condition, Matcher};
    let archive = crate::commands::open_existing(config)?;
    let condition = match scope {
        Scope::Study(uid) => Condition::uid(tags::STUDY_INSTANCE_UID, uid.clone()),
        Scope::Patient(id) => Condition {
            tag: tags::PATIENT_ID,
            vr: VR::LO,
            matcher: Matcher::Single(id.clone()),
        },
    };
    let found = archive.index().query(&sansfilm_archive::Query {
        level: sansfilm_archive::Level::Study,
        conditions: vec![condition],
        offset: 0,
        limit: 1,
    })?;
    anyhow::ensure!(
        !found.is_empty(),
        "the archive holds no study for {scope:?}"
    );
    Ok(())
}
