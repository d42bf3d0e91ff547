//! The DICOM servers: storage, worklist, and both on one port.

use std::future::Future;
use std::sync::Arc;

use sansfilm_archive::Archive;
use sansfilm_dimse::Services;
use tokio::net::TcpListener;

use crate::{ArchiveStore, Config};

/// Serves C-ECHO and C-STORE on `listener` into `archive` until `shutdown`.
pub async fn run_storage_scp(
    listener: TcpListener,
    config: Arc<Config>,
    archive: Archive,
    shutdown: impl Future,
) -> sansfilm_dimse::Result<()> {
    let services = Services {
        store: Some(Arc::new(ArchiveStore::new(archive))),
        find: None,
    };
    sansfilm_dimse::run(listener, Arc::new(config.dicom.clone()), services, shutdown).await
}

/// Serves C-ECHO and Modality Worklist C-FIND on `listener` until `shutdown`.
pub async fn run_worklist_scp(
    listener: TcpListener,
    config: Arc<Config>,
    worklist: Arc<sansfilm_worklist::WorklistStore>,
    shutdown: impl Future,
) -> sansfilm_dimse::Result<()> {
    let find = crate::WorklistFind::new(worklist, Arc::new(config.worklist.clone()));
    let services = Services {
        store: None,
        find: Some(Arc::new(find)),
    };
    sansfilm_dimse::run(listener, Arc::new(config.dicom.clone()), services, shutdown).await
}

/// Serves every DICOM service on one port and AE title (`sansfilm serve`):
/// C-ECHO, C-STORE into `archive`, and Modality Worklist C-FIND.
pub async fn run_all_dicom(
    listener: TcpListener,
    config: Arc<Config>,
    archive: Archive,
    worklist: Arc<sansfilm_worklist::WorklistStore>,
    shutdown: impl Future,
) -> sansfilm_dimse::Result<()> {
    let find = crate::WorklistFind::new(worklist, Arc::new(config.worklist.clone()));
    let services = Services {
        store: Some(Arc::new(ArchiveStore::new(archive))),
        find: Some(Arc::new(find)),
    };
    sansfilm_dimse::run(listener, Arc::new(config.dicom.clone()), services, shutdown).await
}

/// Everything `sansfilm serve` runs, on already bound listeners, until
/// `shutdown`: all DICOM services on one port and the HL7 bridge on another.
pub async fn run_everything(
    dicom: TcpListener,
    hl7: TcpListener,
    config: Arc<Config>,
    archive: Archive,
    worklist: Arc<sansfilm_worklist::WorklistStore>,
    shutdown: impl Future,
) -> std::io::Result<()> {
    let stop = tokio_util::sync::CancellationToken::new();
    let hl7_task = tokio::spawn(sansfilm_hl7::server::run(
        hl7,
        Arc::new(config.hl7.clone()),
        worklist.clone(),
        stop.clone().cancelled_owned(),
    ));
    let dicom_stop = stop.clone();
    let dicom_task = tokio::spawn(run_all_dicom(
        dicom,
        config,
        archive,
        worklist,
        dicom_stop.cancelled_owned(),
    ));
    shutdown.await;
    stop.cancel();
    let (d, h) = tokio::join!(dicom_task, hl7_task);
    d.map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    h.map_err(std::io::Error::other)??;
    Ok(())
}
