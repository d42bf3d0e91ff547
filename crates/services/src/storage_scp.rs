//! The storage server (C-ECHO + C-STORE SCP into the archive).

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
    };
    sansfilm_dimse::run(listener, Arc::new(config.dicom.clone()), services, shutdown).await
}
