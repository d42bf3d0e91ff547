//! The services a server offers: what the association loop calls.
//!
//! The network layer knows nothing of storage. A [`StoreService`] decides, for
//! each C-STORE, where its bytes go: [`StoreService::begin`] opens a
//! [`StoreSink`], the data set is written to it as P-DATA fragments arrive, and
//! [`StoreSink::finish`] must make it durable before returning success. Sinks
//! are called from blocking threads (`spawn_blocking`), never from the async
//! reactor, so they may do file and database I/O directly. Dropping a sink
//! without `finish` (association aborted, peer gone) must discard what it
//! received.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::status;

/// What is known about a C-STORE when its command arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreContext {
    /// Calling AE title of the peer.
    pub calling_ae: String,
    /// AE title the peer called.
    pub called_ae: String,
    /// Network address of the peer.
    pub peer: Option<SocketAddr>,
    /// Affected SOP Class UID.
    pub sop_class_uid: String,
    /// Affected SOP Instance UID.
    pub sop_instance_uid: String,
    /// Transfer syntax of the presentation context.
    pub transfer_syntax: String,
    /// Message ID of the request.
    pub message_id: u16,
    /// Largest instance the server accepts, in bytes (inflated, for the
    /// Deflated syntax): `[dicom] max_instance_bytes`.
    pub max_instance_bytes: u64,
}

/// A DIMSE status with its Error Comment, for a response that is not success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// DIMSE status code.
    pub status: u16,
    /// Error Comment sent to the peer (64 characters at most are sent).
    pub comment: String,
}

impl Failure {
    /// A failure with a status and a comment.
    pub fn new(status: u16, comment: impl Into<String>) -> Self {
        Failure {
            status,
            comment: comment.into(),
        }
    }

    /// Out of resources (A700).
    pub fn out_of_resources(comment: impl Into<String>) -> Self {
        Self::new(status::OUT_OF_RESOURCES, comment)
    }

    /// Processing failure (0110).
    pub fn processing(comment: impl Into<String>) -> Self {
        Self::new(status::PROCESSING_FAILURE, comment)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:04X} ({}): {}",
            self.status,
            status::describe(self.status),
            self.comment
        )
    }
}

/// How a store ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Success (0000) or a warning status.
    pub status: u16,
    /// A comment for the log (and for the peer with a warning status).
    pub note: Option<String>,
}

impl Stored {
    /// Plain success.
    pub fn success() -> Self {
        Stored {
            status: status::SUCCESS,
            note: None,
        }
    }

    /// Success with a note for the log (the peer still receives 0000).
    pub fn success_with_note(note: impl Into<String>) -> Self {
        Stored {
            status: status::SUCCESS,
            note: Some(note.into()),
        }
    }
}

/// Where one instance's data set goes.
pub trait StoreSink: Send + Sync {
    /// Appends data set bytes (in the negotiated transfer syntax).
    fn write(&mut self, data: &[u8]) -> Result<(), Failure>;
    /// Makes the instance durable. Returns only once it is.
    fn finish(self: Box<Self>) -> Result<Stored, Failure>;
}

/// The C-STORE service provider.
pub trait StoreService: Send + Sync + 'static {
    /// Starts receiving one instance.
    fn begin(&self, ctx: &StoreContext) -> Result<Box<dyn StoreSink>, Failure>;
}

/// What is known about a C-FIND when its identifier arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindContext {
    /// Calling AE title of the peer.
    pub calling_ae: String,
    /// AE title the peer called.
    pub called_ae: String,
    /// Network address of the peer.
    pub peer: Option<SocketAddr>,
    /// Affected SOP Class UID (the query model).
    pub sop_class_uid: String,
    /// Message ID of the request.
    pub message_id: u16,
}

/// A C-FIND service provider (for example the Modality Worklist). Called from
/// a blocking thread.
pub trait FindService: Send + Sync + 'static {
    /// The query models (SOP class UIDs) it answers.
    fn sop_classes(&self) -> Vec<String>;
    /// The matches of an identifier, each sent as a pending response, in
    /// order. Each answer's Specific Character Set (0008,0005) says how its
    /// text is encoded on the wire.
    fn find(
        &self,
        ctx: &FindContext,
        identifier: &dicom_object::InMemDicomObject,
    ) -> Result<Vec<dicom_object::InMemDicomObject>, Failure>;
}

/// What is known about a C-MOVE or C-GET when its identifier arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrieveContext {
    /// Calling AE title of the peer.
    pub calling_ae: String,
    /// AE title the peer called.
    pub called_ae: String,
    /// Network address of the peer.
    pub peer: Option<SocketAddr>,
    /// Affected SOP Class UID (the query model).
    pub sop_class_uid: String,
    /// Move Destination (0000,0600); for C-GET, the requester's AE title.
    pub destination: String,
}

/// One instance a C-MOVE or C-GET sends.
#[derive(Debug, Clone)]
pub struct RetrieveItem {
    /// SOP Instance UID (reported in the Failed SOP Instance UID List).
    pub sop_instance_uid: String,
    /// A local Part 10 file holding it.
    pub path: std::path::PathBuf,
    /// Its SOP Class UID when known (an archive's index): the file's data
    /// set is then not parsed before it is sent, only its meta group read.
    pub sop_class_uid: Option<String>,
    /// Kept alive until the item is dropped: a scratch copy of an object
    /// kept elsewhere is removed then.
    pub keep: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl RetrieveItem {
    /// An instance in a file that stays where it is.
    pub fn file(sop_instance_uid: impl Into<String>, path: impl Into<std::path::PathBuf>) -> Self {
        RetrieveItem {
            sop_instance_uid: sop_instance_uid.into(),
            path: path.into(),
            sop_class_uid: None,
            keep: None,
        }
    }

    /// The same, its SOP class known.
    pub fn with_sop_class(mut self, sop_class_uid: impl Into<String>) -> Self {
        self.sop_class_uid = Some(sop_class_uid.into());
        self
    }

    /// What the sender needs of its file (blocking: reads the meta group,
    /// and the data set's UIDs when the class is not known).
    pub fn to_send(&self) -> crate::Result<crate::client::FileToSend> {
        match &self.sop_class_uid {
            Some(class) => crate::outgoing::known_file(&self.path, class, &self.sop_instance_uid),
            None => crate::client::FileToSend::inspect(&self.path),
        }
    }
}

/// A retrieve service provider (C-MOVE and C-GET): which instances an
/// identifier names. Called from a blocking thread; the server sends them,
/// to the move destination or on the requester's own association.
pub trait RetrieveService: Send + Sync + 'static {
    /// The retrieve models (C-MOVE and C-GET SOP class UIDs) it answers.
    fn sop_classes(&self) -> Vec<String>;
    /// The instances `identifier` names.
    fn instances(
        &self,
        ctx: &RetrieveContext,
        identifier: &dicom_object::InMemDicomObject,
    ) -> Result<Vec<RetrieveItem>, Failure>;
    /// Decodes stored instances for a destination that does not accept
    /// their syntax; `None`: instances are sent as stored only.
    fn transcoder(&self) -> Option<Arc<dyn crate::client::Transcoder>> {
        None
    }
    /// Called once the sub-operations are over (for an audit trail):
    /// instances sent and failed.
    fn moved(&self, ctx: &RetrieveContext, sent: &[RetrieveItem], failed: &[RetrieveItem]) {
        let _ = (ctx, sent, failed);
    }
}

/// Things that happen at the association level, reported for an audit trail.
/// Called from the async reactor: implementations must not block.
pub trait ServerEvents: Send + Sync + 'static {
    /// The access policy refused an association.
    fn association_refused(
        &self,
        calling_ae: &str,
        called_ae: &str,
        peer: Option<std::net::IpAddr>,
        reason: &str,
    );
    /// The per-AE permissions refused a request (`operation`: "C-STORE",
    /// "C-FIND", "C-MOVE" ...).
    fn request_refused(
        &self,
        calling_ae: &str,
        peer: Option<std::net::IpAddr>,
        operation: &str,
        sop_class_uid: &str,
    ) {
        let _ = (calling_ae, peer, operation, sop_class_uid);
    }
}

/// The services a server offers. C-ECHO is always offered.
#[derive(Clone, Default)]
pub struct Services {
    /// Where association-level events go, if anywhere.
    pub events: Option<Arc<dyn ServerEvents>>,
    /// Storage (C-STORE SCP), when offered.
    pub store: Option<Arc<dyn StoreService>>,
    /// Queries (C-FIND SCP): each service answers its own query models
    /// (SOP classes), a request goes to the first that names its class.
    pub finds: Vec<Arc<dyn FindService>>,
    /// Retrieval (C-MOVE and C-GET SCP), when offered.
    pub retrieve: Option<Arc<dyn RetrieveService>>,
}

impl Services {
    /// The C-FIND service for a query model, if any.
    pub fn find_for(&self, sop_class_uid: &str) -> Option<Arc<dyn FindService>> {
        self.finds
            .iter()
            .find(|f| f.sop_classes().iter().any(|c| c == sop_class_uid))
            .cloned()
    }

    /// Every query model offered, C-FIND and C-MOVE.
    pub fn query_classes(&self) -> Vec<String> {
        let mut out: Vec<String> = self.finds.iter().flat_map(|f| f.sop_classes()).collect();
        out.extend(self.retrieve.iter().flat_map(|m| m.sop_classes()));
        out
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("store", &self.store.is_some())
            .field("query", &self.query_classes())
            .finish()
    }
}
