//! The DICOM and HL7 servers as the binaries run them: storage, worklist,
//! both on one port, and everything of `sansfilm serve`.

use std::future::Future;
use std::sync::Arc;

use sansfilm_archive::Archive;
use sansfilm_audit::AuditLog;
use sansfilm_dimse::Services;
use sansfilm_worklist::WorklistStore;
use tokio::net::TcpListener;

use crate::audit::DicomEvents;
use crate::{ArchiveStore, Config, WorklistFind};

fn events(audit: &Option<AuditLog>) -> Option<Arc<dyn sansfilm_dimse::ServerEvents>> {
    audit
        .clone()
        .map(|a| Arc::new(DicomEvents(a)) as Arc<dyn sansfilm_dimse::ServerEvents>)
}

/// Serves C-ECHO and C-STORE on `listener` into `archive` until `shutdown`.
pub async fn run_storage_scp(
    listener: TcpListener,
    config: Arc<Config>,
    archive: Archive,
    audit: Option<AuditLog>,
    shutdown: impl Future,
) -> sansfilm_dimse::Result<()> {
    crate::startup::spawn_check(archive.clone(), audit.clone());
    let stop = tokio_util::sync::CancellationToken::new();
    let compression = tokio::spawn(crate::compression::run_background(
        archive.clone(),
        Arc::new(config.compression.clone()),
        audit.clone(),
        stop.clone(),
    ));
    let services = Services {
        events: events(&audit),
        store: Some(Arc::new(ArchiveStore::new(archive, audit))),
        finds: vec![],
        retrieve: None,
    };
    let result =
        sansfilm_dimse::run(listener, Arc::new(config.dicom.clone()), services, shutdown).await;
    stop.cancel();
    let _ = compression.await;
    result
}

/// Serves C-ECHO and Modality Worklist C-FIND on `listener` until `shutdown`.
pub async fn run_worklist_scp(
    listener: TcpListener,
    config: Arc<Config>,
    worklist: Arc<WorklistStore>,
    audit: Option<AuditLog>,
    shutdown: impl Future,
) -> sansfilm_dimse::Result<()> {
    let find = WorklistFind::new(worklist, Arc::new(config.worklist.clone()), audit.clone());
    let services = Services {
        events: events(&audit),
        store: None,
        finds: vec![Arc::new(find)],
        retrieve: None,
    };
    sansfilm_dimse::run(listener, Arc::new(config.dicom.clone()), services, shutdown).await
}

/// Serves every DICOM service on one port and AE title: C-ECHO, C-STORE into
/// `archive`, Modality Worklist C-FIND, and Query/Retrieve C-FIND (Patient
/// Root, Study Root) over the archive.
pub async fn run_all_dicom(
    listener: TcpListener,
    config: Arc<Config>,
    archive: Archive,
    worklist: Arc<WorklistStore>,
    audit: Option<AuditLog>,
    shutdown: impl Future,
) -> sansfilm_dimse::Result<()> {
    crate::startup::spawn_check(archive.clone(), audit.clone());
    let profiles = Arc::new(config.worklist.clone());
    let find = WorklistFind::new(worklist, profiles.clone(), audit.clone());
    let qr = crate::QrFind::new(
        archive.clone(),
        config.query.clone(),
        profiles,
        config.dicom.ae_title.clone(),
        audit.clone(),
    );
    let services = Services {
        events: events(&audit),
        store: Some(Arc::new(ArchiveStore::new(archive.clone(), audit.clone()))),
        finds: vec![Arc::new(find), Arc::new(qr)],
        retrieve: Some(Arc::new(crate::QrMove::new(archive, audit))),
    };
    sansfilm_dimse::run(listener, Arc::new(config.dicom.clone()), services, shutdown).await
}

/// Serves the HL7 bridge on `listener` until `shutdown`, auditing each message
/// before its ACK.
pub async fn run_hl7(
    listener: TcpListener,
    config: Arc<Config>,
    worklist: Arc<WorklistStore>,
    audit: Option<AuditLog>,
    shutdown: impl Future,
) -> std::io::Result<()> {
    run_hl7_with(listener, config, worklist, audit, None, shutdown).await
}

/// [`run_hl7`], and with a `prefetcher`, each new order sends the patient's
/// priors to the reading workstation (after the ACK, in the background).
pub async fn run_hl7_with(
    listener: TcpListener,
    config: Arc<Config>,
    worklist: Arc<WorklistStore>,
    audit: Option<AuditLog>,
    prefetcher: Option<crate::prefetch::Prefetcher>,
    shutdown: impl Future,
) -> std::io::Result<()> {
    let audit_hook = audit.map(crate::audit::hl7_hook);
    let hook: Option<sansfilm_hl7::server::OnProcessed> = match (audit_hook, prefetcher) {
        (None, None) => None,
        (audit_hook, prefetcher) => {
            let runtime = tokio::runtime::Handle::current();
            Some(Arc::new(move |done: &sansfilm_hl7::Processed, peer| {
                if let Some(h) = &audit_hook {
                    h(done, peer);
                }
                if let Some(p) = &prefetcher {
                    let _entered = runtime.enter();
                    p.on_processed(done);
                }
            }))
        }
    };
    sansfilm_hl7::server::run(
        listener,
        Arc::new(config.hl7.clone()),
        worklist,
        hook,
        shutdown,
    )
    .await
}

/// The sockets `sansfilm serve` listens on.
#[derive(Debug)]
pub struct Listeners {
    /// Every DICOM service.
    pub dicom: TcpListener,
    /// HL7 from the RIS.
    pub hl7: TcpListener,
    /// The web server, when there is one.
    pub web: Option<TcpListener>,
}

/// Everything `sansfilm serve` runs, on already bound listeners, until
/// `shutdown`: all DICOM services on one port, the HL7 bridge on another, the
/// web server (DICOMweb, viewer, practice page) when it has a listener, and
/// the forwarding of the audit trail to the configured repository.
pub async fn run_everything(
    listeners: Listeners,
    config: Arc<Config>,
    archive: Archive,
    worklist: Arc<WorklistStore>,
    audit: Option<AuditLog>,
    shutdown: impl Future,
) -> std::io::Result<()> {
    let Listeners { dicom, hl7, web } = listeners;
    let stop = tokio_util::sync::CancellationToken::new();
    let forwarder = match (&audit, &config.audit.syslog) {
        (Some(log), Some(dest)) => Some(tokio::spawn(crate::audit::forward_to_syslog(
            log.clone(),
            config.audit.clone(),
            dest.clone(),
            stop.clone(),
        ))),
        _ => None,
    };
    let compression = tokio::spawn(crate::compression::run_background(
        archive.clone(),
        Arc::new(config.compression.clone()),
        audit.clone(),
        stop.clone(),
    ));
    let backups = tokio::spawn(crate::backup::run_scheduled(
        config.clone(),
        audit.clone(),
        stop.clone(),
    ));
    let scrubs = tokio::spawn(crate::scrub::run_scheduled(
        config.clone(),
        archive.clone(),
        audit.clone(),
        stop.clone(),
    ));
    let prefetcher = crate::prefetch::Prefetcher::new(archive.clone(), &config, audit.clone());
    let hl7_task = tokio::spawn(run_hl7_with(
        hl7,
        config.clone(),
        worklist.clone(),
        audit.clone(),
        prefetcher,
        stop.clone().cancelled_owned(),
    ));
    let web_task = match web {
        Some(listener) => {
            let accounts = sansfilm_web::accounts::Accounts::open(&config.data_dir)
                .map_err(std::io::Error::other)?;
            let state = sansfilm_web::WebState::new(
                archive.clone(),
                accounts,
                audit.clone(),
                config.web.clone(),
            );
            Some(tokio::spawn(sansfilm_web::server::run(
                listener,
                state,
                stop.clone().cancelled_owned(),
            )))
        }
        None => None,
    };
    let dicom_task = tokio::spawn(run_all_dicom(
        dicom,
        config,
        archive,
        worklist,
        audit,
        stop.clone().cancelled_owned(),
    ));
    shutdown.await;
    stop.cancel();
    let (d, h, _, _, _) = tokio::join!(dicom_task, hl7_task, compression, backups, scrubs);
    if let Some(f) = forwarder {
        let _ = f.await;
    }
    if let Some(w) = web_task {
        w.await.map_err(std::io::Error::other)??;
    }
    d.map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    h.map_err(std::io::Error::other)??;
    Ok(())
}
