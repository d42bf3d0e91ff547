//! The DICOM server in-process, as an embedding integrator runs it: `run` on
//! a listener bound to port 0, services of the test's own (instances kept in
//! memory, a query over them, a retrieve over fixture files), spoken to over
//! real loopback sockets by this crate's client: C-ECHO, C-STORE, C-FIND,
//! C-GET and C-MOVE (to a second in-process server), per-AE permissions, a
//! missing file during a retrieve, and shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use sansfilm_dimse::client::{self, ClientOptions};
use sansfilm_dimse::client_get::{self, GetRequest};
use sansfilm_dimse::client_query;
use sansfilm_dimse::{
    AccessPolicy, AllowedPeer, Destination, Failure, FindContext, FindService, RetrieveContext,
    RetrieveItem, RetrieveService, ServerOptions, Services, StoreContext, StoreService, StoreSink,
    Stored, run, status,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dicom")
        .join(name)
}

/// The data set bytes of a Part 10 file (what a C-STORE carries).
fn dataset_bytes(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let (_, offset) = sansfilm_dicom::part10::read_meta(&bytes[..]).unwrap();
    bytes[offset as usize..].to_vec()
}

fn sop_instance_uid(path: &Path) -> String {
    sansfilm_dicom::summary::sop_uids(path).unwrap().1
}

/// Instances received, in memory: (SOP Instance UID, data set bytes).
#[derive(Default)]
struct MemStore(Mutex<Vec<(String, Vec<u8>)>>);

struct MemSink {
    store: Arc<MemStore>,
    uid: String,
    bytes: Vec<u8>,
}

impl StoreSink for MemSink {
    fn write(&mut self, data: &[u8]) -> Result<(), Failure> {
        self.bytes.extend_from_slice(data);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Stored, Failure> {
        let MemSink { store, uid, bytes } = *self;
        store.0.lock().unwrap().push((uid, bytes));
        Ok(Stored::success())
    }
}

struct Storage(Arc<MemStore>);

impl StoreService for Storage {
    fn begin(&self, ctx: &StoreContext) -> Result<Box<dyn StoreSink>, Failure> {
        Ok(Box::new(MemSink {
            store: self.0.clone(),
            uid: ctx.sop_instance_uid.clone(),
            bytes: vec![],
        }))
    }
}

/// Study Root C-FIND at IMAGE level over the files a retrieve sends.
struct FileFind(Vec<PathBuf>);

impl FindService for FileFind {
    fn sop_classes(&self) -> Vec<String> {
        vec![uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND.into()]
    }
    fn find(
        &self,
        _ctx: &FindContext,
        _identifier: &InMemDicomObject,
    ) -> Result<Vec<InMemDicomObject>, Failure> {
        Ok(self
            .0
            .iter()
            .filter(|p| p.exists())
            .map(|p| {
                InMemDicomObject::from_element_iter([
                    DataElement::new(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "IMAGE"),
                    DataElement::new(
                        tags::SOP_INSTANCE_UID,
                        VR::UI,
                        PrimitiveValue::from(sop_instance_uid(p)),
                    ),
                ])
            })
            .collect())
    }
}

/// Retrieve of fixture files, one of them possibly missing; remembers what
/// it was told was sent.
struct FileRetrieve {
    files: Vec<(String, PathBuf)>,
    moved: Mutex<Vec<(usize, usize)>>,
}

impl RetrieveService for FileRetrieve {
    fn sop_classes(&self) -> Vec<String> {
        vec![
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE.into(),
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET.into(),
        ]
    }
    fn instances(
        &self,
        _ctx: &RetrieveContext,
        _identifier: &InMemDicomObject,
    ) -> Result<Vec<RetrieveItem>, Failure> {
        Ok(self
            .files
            .iter()
            .map(|(uid, path)| RetrieveItem::file(uid.clone(), path.clone()))
            .collect())
    }
    fn moved(&self, _ctx: &RetrieveContext, sent: &[RetrieveItem], failed: &[RetrieveItem]) {
        self.moved.lock().unwrap().push((sent.len(), failed.len()));
    }
}

/// A server on a free port; dropping the sender stops it.
struct InProcess {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<sansfilm_dimse::Result<()>>,
}

impl InProcess {
    async fn start(options: ServerOptions, services: Services) -> InProcess {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, Arc::new(options), services, stopped));
        InProcess {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        drop(self.stop.take());
        let ended = tokio::time::timeout(std::time::Duration::from_secs(10), &mut self.task).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "server stopped: {ended:?}");
    }
}

fn as_ae(calling: &str) -> ClientOptions {
    ClientOptions {
        calling_ae: calling.into(),
        called_ae: "SANSFILM".into(),
        ..Default::default()
    }
}

fn study_identifier() -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        DataElement::new(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY"),
        DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3"),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_store_find_get_and_move_in_process() {
    let files = vec![
        fixture("nema-wg04/CT1_UNC.dcm"),
        fixture("nema-wg04/MR1_JLSL.dcm"),
        fixture("pydicom/CT_small.dcm"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("gone.dcm");
    let mut retrieve_files: Vec<(String, PathBuf)> = files
        .iter()
        .map(|p| (sop_instance_uid(p), p.clone()))
        .collect();
    retrieve_files.push(("1.2.3.999".into(), missing.clone()));

    // B: a destination for C-MOVE, storage only.
    let received_by_b = Arc::new(MemStore::default());
    let b = InProcess::start(
        ServerOptions::default(),
        Services {
            store: Some(Arc::new(Storage(received_by_b.clone()))),
            ..Default::default()
        },
    )
    .await;

    // A: the archive under test.
    let stored = Arc::new(MemStore::default());
    let retrieve = Arc::new(FileRetrieve {
        files: retrieve_files,
        moved: Mutex::new(vec![]),
    });
    let mut options = ServerOptions {
        access: AccessPolicy {
            accept_any: true,
            allow: vec![],
        },
        ..Default::default()
    };
    options.destinations.insert(
        "DEST_B".into(),
        Destination {
            host: "127.0.0.1".into(),
            port: b.addr.port(),
        },
    );
    let a = InProcess::start(
        options,
        Services {
            store: Some(Arc::new(Storage(stored.clone()))),
            finds: vec![Arc::new(FileFind(files.clone()))],
            retrieve: Some(retrieve.clone()),
            events: None,
        },
    )
    .await;
    let addr = a.addr.to_string();
    let ws = as_ae("WS01");

    assert_eq!(client::echo(&addr, &ws).await.unwrap(), status::SUCCESS);

    // C-STORE: the bytes the files hold, over two associations.
    let report = client::send_files(&addr, &ws, files.clone(), 2, Arc::new(|_| {}))
        .await
        .unwrap();
    assert_eq!(report.succeeded(), 3, "{report:?}");
    let got = stored.0.lock().unwrap().clone();
    for f in &files {
        let uid = sop_instance_uid(f);
        let (_, bytes) = got.iter().find(|(u, _)| *u == uid).expect("stored");
        assert!(*bytes == dataset_bytes(f), "{uid}: other bytes stored");
    }

    // C-FIND: one pending answer per match, then success.
    let (answers, final_status) = client_query::find(
        &addr,
        &ws,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
        &study_identifier(),
    )
    .await
    .unwrap();
    assert_eq!(final_status, status::SUCCESS);
    assert_eq!(answers.len(), 3);

    // C-GET: every file that exists comes, as stored; the missing one is
    // counted and listed, and does not stop the others (B000).
    let out = dir.path().join("got");
    let request = GetRequest {
        model: uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET.into(),
        storage_classes: client_get::COMMON_STORAGE_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        native_only: false,
        out_dir: out.clone(),
    };
    let outcome = client_get::get(&addr, &ws, &request, &study_identifier())
        .await
        .unwrap();
    assert_eq!(
        outcome.status,
        status::SUBOPERATIONS_WITH_FAILURES,
        "{outcome:?}"
    );
    assert_eq!((outcome.counts.completed, outcome.counts.failed), (3, 1));
    assert_eq!(outcome.failed_uids, vec!["1.2.3.999".to_string()]);
    assert_eq!(outcome.received.len(), 3);
    for f in &files {
        let got = out.join(format!("{}.dcm", sop_instance_uid(f)));
        assert!(dataset_bytes(&got) == dataset_bytes(f), "{}", got.display());
    }

    // C-MOVE to B, known by its AE title; to an unknown AE: A801.
    let outcome = client_query::move_to(
        &addr,
        &ws,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
        &study_identifier(),
        "DEST_B",
    )
    .await
    .unwrap();
    assert_eq!(
        outcome.status,
        status::SUBOPERATIONS_WITH_FAILURES,
        "{outcome:?}"
    );
    assert_eq!(outcome.failed_uids, vec!["1.2.3.999".to_string()]);
    let at_b = received_by_b.0.lock().unwrap().clone();
    assert_eq!(at_b.len(), 3);
    for f in &files {
        let uid = sop_instance_uid(f);
        assert!(
            at_b.iter()
                .any(|(u, b)| *u == uid && *b == dataset_bytes(f))
        );
    }
    let outcome = client_query::move_to(
        &addr,
        &ws,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
        &study_identifier(),
        "NOWHERE",
    )
    .await
    .unwrap();
    assert_eq!(outcome.status, status::MOVE_DESTINATION_UNKNOWN);
    assert_eq!(
        *retrieve.moved.lock().unwrap(),
        vec![(3, 1), (3, 1)],
        "the service hears of each retrieve once, with its counts"
    );

    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ae_permissions_refuse_what_is_not_granted() {
    let files = vec![fixture("pydicom/CT_small.dcm")];
    let retrieve = Arc::new(FileRetrieve {
        files: files
            .iter()
            .map(|p| (sop_instance_uid(p), p.clone()))
            .collect(),
        moved: Mutex::new(vec![]),
    });
    let stored = Arc::new(MemStore::default());
    let viewer = AllowedPeer {
        ae_title: "VIEWER".into(),
        host: None,
        store: false,
        find: true,
        move_: false,
        get: false,
    };
    let options = ServerOptions {
        access: AccessPolicy {
            accept_any: false,
            allow: vec![viewer],
        },
        ..Default::default()
    };
    let a = InProcess::start(
        options,
        Services {
            store: Some(Arc::new(Storage(stored.clone()))),
            finds: vec![Arc::new(FileFind(files.clone()))],
            retrieve: Some(retrieve.clone()),
            events: None,
        },
    )
    .await;
    let addr = a.addr.to_string();
    let viewer = as_ae("VIEWER");
    // Unlisted AE: the association itself is refused.
    assert!(client::echo(&addr, &as_ae("STRANGER")).await.is_err());
    // Listed, may find...
    let (answers, st) = client_query::find(
        &addr,
        &viewer,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
        &study_identifier(),
    )
    .await
    .unwrap();
    assert_eq!((answers.len(), st), (1, status::SUCCESS));
    // ...but not store, get or move: 0124, nothing done.
    let report = client::send_files(&addr, &viewer, files.clone(), 1, Arc::new(|_| {}))
        .await
        .unwrap();
    assert_eq!(report.outcomes[0].status, Some(status::NOT_AUTHORIZED));
    assert!(stored.0.lock().unwrap().is_empty());
    let dir = tempfile::tempdir().unwrap();
    let request = GetRequest {
        model: uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET.into(),
        storage_classes: vec![uids::CT_IMAGE_STORAGE.into()],
        native_only: true,
        out_dir: dir.path().to_path_buf(),
    };
    let outcome = client_get::get(&addr, &viewer, &request, &study_identifier())
        .await
        .unwrap();
    assert_eq!(outcome.status, status::NOT_AUTHORIZED);
    assert!(outcome.received.is_empty());
    let outcome = client_query::move_to(
        &addr,
        &viewer,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
        &study_identifier(),
        "ANY",
    )
    .await
    .unwrap();
    assert_eq!(outcome.status, status::NOT_AUTHORIZED);
    assert!(retrieve.moved.lock().unwrap().is_empty());
    a.stop().await;
}
