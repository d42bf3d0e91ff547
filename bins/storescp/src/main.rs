//! storescp: receives images from modalities (C-ECHO, C-STORE) into the archive.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sansfilm_services::{Config, run_storage_scp, shutdown};

/// Receive DICOM images (C-STORE) from modalities into the sansfilm archive.
///
/// Each instance is written to disk, fsynced and indexed before the modality is
/// told it is stored. With no options, data goes to ./sansfilm-data and the
/// server listens on port 11112 as AE title SANSFILM, accepting any caller.
/// Configure the modality with this machine's address, the port and the AE title.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Configuration file (TOML); see the README for every setting.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (index and images); overrides `data_dir` in the file.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TCP port to listen on (0 picks a free port); overrides `[storescp] port`.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// AE title of the archive; overrides `[dicom] ae_title`.
    #[arg(long, value_name = "TITLE")]
    aet: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    sansfilm_services::logging::init();
    let config = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("storescp: {e}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("storescp: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load_config(args: &Args) -> anyhow::Result<Config> {
    let mut config = Config::load(args.config.as_deref(), args.data_dir.as_deref())?;
    if let Some(port) = args.port {
        config.storescp.port = port;
    }
    if let Some(aet) = &args.aet {
        config.dicom.ae_title = aet.clone();
    }
    config.validate()?;
    Ok(config)
}

#[tokio::main]
async fn run(config: Config) -> anyhow::Result<()> {
    let archive = sansfilm_archive::Archive::open(&config.data_dir)?;
    // Held while serving: `sansfilm reindex` refuses to swap the index under us.
    let _running = sansfilm_archive::reindex::server_lock(&config.data_dir)?;
    let audit = sansfilm_services::audit::open(&config)?;
    let addr = SocketAddr::new(config.bind, config.storescp.port);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(ae_title = %config.dicom.ae_title, data_dir = %config.data_dir.display(), "storescp listening on {local}");
    println!("storescp listening on {local} as {}", config.dicom.ae_title);
    sansfilm_services::audit::application(audit.as_ref(), "storescp", true);
    sansfilm_services::audit::configuration(audit.as_ref(), &config, "storescp");
    run_storage_scp(
        listener,
        Arc::new(config),
        archive,
        audit.clone(),
        shutdown::signal(),
    )
    .await?;
    sansfilm_services::audit::application(audit.as_ref(), "storescp", false);
    tracing::info!("storescp stopped");
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
