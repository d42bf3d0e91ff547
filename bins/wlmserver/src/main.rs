//! wlmserver: the DICOM Modality Worklist that modalities read patients from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sansfilm_services::{Config, run_worklist_scp, shutdown};

/// Answer the modalities' worklist queries (Modality Worklist C-FIND, and C-ECHO).
///
/// Entries come from the worklist store in the data directory, filled by the
/// HL7 bridge or `sansfilm worklist import`. Each modality gets answers shaped by
/// its profile (character set, upper case, lengths), chosen by its calling AE
/// title in the `[worklist.profiles]` section of the configuration. With no
/// options: data in ./sansfilm-data, port 11113, AE title SANSFILM.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Configuration file (TOML); see the README for every setting.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory; overrides `data_dir` in the file.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TCP port to listen on (0 picks a free port); overrides `[wlmserver] port`.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// AE title of the worklist server; overrides `[dicom] ae_title`.
    #[arg(long, value_name = "TITLE")]
    aet: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    sansfilm_services::logging::init();
    let config = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wlmserver: {e}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("wlmserver: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load_config(args: &Args) -> anyhow::Result<Config> {
    let mut config = Config::load(args.config.as_deref(), args.data_dir.as_deref())?;
    if let Some(port) = args.port {
        config.wlmserver.port = port;
    }
    if let Some(aet) = &args.aet {
        config.dicom.ae_title = aet.clone();
    }
    config.validate()?;
    Ok(config)
}

#[tokio::main]
async fn run(config: Config) -> anyhow::Result<()> {
    let store = Arc::new(sansfilm_worklist::WorklistStore::open(&config.data_dir)?);
    let audit = sansfilm_services::audit::open(&config)?;
    let addr = SocketAddr::new(config.bind, config.wlmserver.port);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(ae_title = %config.dicom.ae_title, entries = store.len()?, "wlmserver listening on {local}");
    println!(
        "wlmserver listening on {local} as {}",
        config.dicom.ae_title
    );
    sansfilm_services::audit::application(audit.as_ref(), "wlmserver", true);
    sansfilm_services::audit::configuration(audit.as_ref(), &config, "wlmserver");
    run_worklist_scp(
        listener,
        Arc::new(config),
        store,
        audit.clone(),
        shutdown::signal(),
    )
    .await?;
    sansfilm_services::audit::application(audit.as_ref(), "wlmserver", false);
    tracing::info!("wlmserver stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
