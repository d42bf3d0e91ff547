//! hl7bridge: patients and orders from the RIS (HL7 v2 over MLLP) into the worklist.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sansfilm_services::{Config, shutdown};

/// Receive patients (ADT) and orders (ORM^O01, OMI^O23) from the RIS over HL7 v2
/// (MLLP) and turn them into Modality Worklist entries.
///
/// Each message and the change it causes are committed together before the ACK is
/// sent: AA when applied (or already applied: a resend with the same MSH-10 is not
/// applied twice), AE with an ERR segment saying what and where when it cannot be
/// applied, AR when it cannot be processed at all. Configure the RIS with this
/// machine's address and the port (2575 by default). With no options, data goes to
/// ./sansfilm-data.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Configuration file (TOML); see the README for every setting.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory; overrides `data_dir` in the file.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TCP port to listen on (0 picks a free port); overrides `[hl7bridge] port`.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    sansfilm_services::logging::init();
    let config = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hl7bridge: {e}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("hl7bridge: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load_config(args: &Args) -> anyhow::Result<Config> {
    let mut config = Config::load(args.config.as_deref(), args.data_dir.as_deref())?;
    if let Some(port) = args.port {
        config.hl7bridge.port = port;
    }
    config.validate()?;
    Ok(config)
}

#[tokio::main]
async fn run(config: Config) -> anyhow::Result<()> {
    let store = Arc::new(sansfilm_worklist::WorklistStore::open(&config.data_dir)?);
    let audit = sansfilm_services::audit::open(&config)?;
    let addr = SocketAddr::new(config.bind, config.hl7bridge.port);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(data_dir = %config.data_dir.display(), "hl7bridge listening on {local}");
    println!("hl7bridge listening on {local}");
    sansfilm_services::audit::application(audit.as_ref(), "hl7bridge", true);
    sansfilm_services::audit::configuration(audit.as_ref(), &config, "hl7bridge");
    let config = Arc::new(config);
    sansfilm_services::run_hl7(listener, config, store, audit.clone(), shutdown::signal()).await?;
    sansfilm_services::audit::application(audit.as_ref(), "hl7bridge", false);
    tracing::info!("hl7bridge stopped");
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
