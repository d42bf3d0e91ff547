//! sansfilm: the practice's one command. `serve` runs every service; the other
//! verbs send, check and report on the archive.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sansfilm: a filmless archive for radiology practices.
///
/// `sansfilm serve` receives images from the modalities into ./sansfilm-data (port
/// 11112, AE title SANSFILM). `sansfilm verify` checks that every stored image is
/// intact. Exit status: 0 success, 1 a check found a problem or a command failed,
/// 2 usage or configuration error.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every service in one process: DICOM storage (C-STORE), Modality
    /// Worklist (C-FIND) and C-ECHO on one port and AE title, and the HL7 bridge
    /// from the RIS on its own port. Stops cleanly on Ctrl-C or SIGTERM.
    Serve {
        #[command(flatten)]
        common: Common,
        /// DICOM port (0 picks a free one); overrides `[serve] port`.
        #[arg(long, value_name = "N")]
        port: Option<u16>,
        /// AE title; overrides `[dicom] ae_title`.
        #[arg(long, value_name = "TITLE")]
        aet: Option<String>,
        /// HL7 (MLLP) port of the bridge from the RIS; overrides `[serve] hl7_port`.
        #[arg(long, value_name = "N")]
        hl7_port: Option<u16>,
    },
    /// Send DICOM files (or directories of them) to a DICOM server with C-STORE.
    Send {
        /// Our (calling) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM-SCU")]
        aet: String,
        /// The server's (called) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM")]
        called_aet: String,
        /// Associations to open in parallel.
        #[arg(long, value_name = "N", default_value_t = 1)]
        assocs: usize,
        /// Server host name or address.
        host: String,
        /// Server port.
        port: u16,
        /// Files or directories (searched recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Check a DICOM server with C-ECHO.
    Echo {
        /// Our (calling) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM-SCU")]
        aet: String,
        /// The server's (called) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM")]
        called_aet: String,
        /// Server host name or address.
        host: String,
        /// Server port.
        port: u16,
    },
    /// Re-hash every stored file against the index; report corrupt, missing and
    /// unindexed (orphan) files. Exit status 1 when anything is wrong.
    Verify {
        #[command(flatten)]
        common: Common,
        /// Index orphan files (left by a crash between write and index) instead
        /// of only reporting them.
        #[arg(long)]
        repair: bool,
    },
    /// Manage the Modality Worklist.
    Worklist {
        #[command(subcommand)]
        command: WorklistCommand,
    },
    /// HL7 tools.
    Hl7 {
        #[command(subcommand)]
        command: Hl7Command,
    },
    /// Show what the archive holds.
    Status {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
enum WorklistCommand {
    /// Load DCMTK-style worklist files (*.wl, as wlmscpfs and Orthanc read them).
    Import {
        #[command(flatten)]
        common: Common,
        /// Directory of .wl files.
        dir: PathBuf,
    },
    /// Print what a device would receive for a query: the answers shaped by the
    /// profile of its AE title. For adapting a new modality.
    Preview {
        #[command(flatten)]
        common: Common,
        /// Calling AE title of the device.
        #[arg(long, value_name = "TITLE")]
        aet: String,
        /// The query identifier (a DICOM file, as findscu takes it).
        query: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum Hl7Command {
    /// Apply HL7 message files through the same path as the HL7 bridge (for
    /// migrations and tests) and print the ACK of each. Exit 1 if any is not AA.
    Replay {
        #[command(flatten)]
        common: Common,
        /// Message files (one or more messages each).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Options every archive command takes.
#[derive(Debug, clap::Args)]
struct Common {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory; overrides `data_dir` in the configuration.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl Common {
    fn load(&self) -> Result<sansfilm_services::Config, sansfilm_services::ConfigError> {
        let mut config = match &self.config {
            Some(path) => sansfilm_services::Config::from_file(path)?,
            None => sansfilm_services::Config::default(),
        };
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Serve {
            common,
            port,
            aet,
            hl7_port,
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
        Command::Hl7 {
            command: Hl7Command::Replay { common, files },
        } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| commands::hl7_replay(&c, &files)),
        Command::Status { common } => common
            .load()
            .map_err(Into::into)
            .and_then(|c| commands::status(&c)),
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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SANSFILM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
