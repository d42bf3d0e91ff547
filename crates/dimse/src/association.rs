//! One association, from A-ASSOCIATE-RQ to release or abort.
//!
//! The loop reads PDUs with an idle timeout and feeds their fragments to a
//! small state machine: command fragments are collected and decoded; data
//! fragments of a C-STORE are buffered up to [`CHUNK`] and handed to the
//! service's sink on a blocking thread, so a large multi-frame object never sits
//! in memory. The response is sent only after the sink's `finish` returned,
//! which is when the instance is durable.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use dicom_ul::ServerAssociationOptions;
use dicom_ul::association::server::AccessControl;
use dicom_ul::association::{Association, AsyncServerAssociation};
use dicom_ul::pdu::{
    AssociationRJServiceUserReason, AssociationRQ, PDataValue, PDataValueType, Pdu,
    PresentationContextResultReason, UserIdentity,
};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::command::{Command, field};
use crate::negotiation::accepted_abstract_syntaxes;
use crate::options::{AccessPolicy, Operation, Refusal, ServerOptions};
use crate::service::{Failure, Services, StoreContext, StoreSink, Stored};
use crate::{Error, Result, status};
use sansfilm_dicom::syntax::STORAGE_TRANSFER_SYNTAXES;

/// Data set bytes buffered before they are handed to the sink.
pub const CHUNK: usize = 1024 * 1024;

/// Largest C-FIND identifier accepted.
const MAX_IDENTIFIER: usize = 4 * 1024 * 1024;

/// Largest command set accepted (real ones are a few hundred bytes).
const MAX_COMMAND: usize = 64 * 1024;

pub(crate) type Assoc = AsyncServerAssociation<TcpStream>;

/// Serves one connection until release, abort, error or shutdown. Never panics
/// on peer input; every ending is logged.
pub(crate) async fn serve_association(
    socket: TcpStream,
    peer: SocketAddr,
    rq: Option<AssociationRQ>,
    options: Arc<ServerOptions>,
    services: Arc<Services>,
    cancel: CancellationToken,
) {
    let assoc = match tokio::time::timeout(
        options.artim_timeout(),
        establish(socket, peer, rq, &options, &services),
    )
    .await
    {
        Err(_) => {
            tracing::warn!(%peer, "no A-ASSOCIATE-RQ within the ARTIM timeout; closing");
            return;
        }
        Ok(Err(e)) => {
            tracing::warn!(%peer, "association not established: {e}");
            return;
        }
        Ok(Ok(assoc)) => assoc,
    };
    let calling = assoc.peer_ae_title().to_string();
    let accepted = assoc
        .presentation_contexts()
        .iter()
        .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
        .count();
    tracing::info!(%peer, calling_ae = %calling, called_ae = %assoc.called_ae_title(),
        accepted_contexts = accepted, max_pdu_peer = assoc.requestor_max_pdu_length(),
        "association established");
    let mut conn = Connection {
        assoc,
        peer,
        options,
        services,
        state: State::Idle,
    };
    let ending = conn.run(&cancel).await;
    match ending {
        Ok(end) => tracing::info!(%peer, calling_ae = %calling, "association ended: {end}"),
        Err(e) => tracing::warn!(%peer, calling_ae = %calling, "association aborted: {e}"),
    }
}

/// Negotiates with dicom-ul, which reads the request `rq` (already peeked)
/// from the socket.
async fn establish(
    socket: TcpStream,
    peer: SocketAddr,
    rq: Option<AssociationRQ>,
    options: &ServerOptions,
    services: &Services,
) -> Result<Assoc> {
    let abstract_syntaxes = rq
        .as_ref()
        .map(|rq| accepted_abstract_syntaxes(rq, options, services))
        .unwrap_or_default();
    if let Some(rq) = &rq {
        let refused: Vec<_> = rq
            .presentation_contexts
            .iter()
            .map(|pc| pc.abstract_syntax.trim_end_matches(['\0', ' ']))
            .filter(|uid| !abstract_syntaxes.iter().any(|a| a == uid))
            .collect();
        if !refused.is_empty() {
            tracing::info!(%peer, calling_ae = %rq.calling_ae_title.trim(), ?refused,
                "abstract syntaxes not offered here");
        }
    }
    let mut opts = ServerAssociationOptions::new()
        .ae_access_control(PolicyCheck {
            policy: options.access.clone(),
            peer: Some(peer.ip()),
            require_called: options.require_called_ae_title,
            events: services.events.clone(),
        })
        .ae_title(options.ae_title.clone())
        .max_pdu_length(options.max_pdu_length)
        .with_negotiation(crate::negotiation::ArchiveNegotiation)
        .strict(true)
        // dicom-ul refuses to negotiate with an empty list; Verification is
        // always offered, so a peer proposing nothing we take still gets an
        // A-ASSOCIATE-AC with every context refused, as the standard expects.
        .with_abstract_syntax(dicom_dictionary_std::uids::VERIFICATION);
    for uid in abstract_syntaxes {
        opts = opts.with_abstract_syntax(uid);
    }
    for ts in STORAGE_TRANSFER_SYNTAXES {
        opts = opts.with_transfer_syntax(*ts);
    }
    Ok(opts.establish_async(socket).await?)
}

/// The access policy as dicom-ul's [`AccessControl`], for one connection.
struct PolicyCheck {
    policy: AccessPolicy,
    peer: Option<IpAddr>,
    require_called: bool,
    events: Option<std::sync::Arc<dyn crate::service::ServerEvents>>,
}

impl AccessControl for PolicyCheck {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> std::result::Result<(), AssociationRJServiceUserReason> {
        let peer = self.peer.map(|p| p.to_string()).unwrap_or_default();
        if self.require_called && called_ae_title.trim() != this_ae_title.trim() {
            tracing::warn!(%peer, calling_ae = calling_ae_title.trim(), called_ae = called_ae_title.trim(),
                "association refused: called AE title is not ours");
            if let Some(ev) = &self.events {
                ev.association_refused(
                    calling_ae_title.trim(),
                    called_ae_title.trim(),
                    self.peer,
                    "called AE title is not ours",
                );
            }
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        match self.policy.check(calling_ae_title, self.peer) {
            Ok(()) => Ok(()),
            Err(refusal) => {
                let why = match refusal {
                    Refusal::UnknownCallingAe => "calling AE title is not in the allow-list",
                    Refusal::WrongHost => {
                        "calling AE title connects from a host it is not allowed from"
                    }
                    Refusal::WrongCalledAe => "called AE title is not ours",
                };
                tracing::warn!(%peer, calling_ae = calling_ae_title.trim(), "association refused: {why}");
                if let Some(ev) = &self.events {
                    ev.association_refused(
                        calling_ae_title.trim(),
                        called_ae_title.trim(),
                        self.peer,
                        why,
                    );
                }
                Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized)
            }
        }
    }
}

enum State {
    Idle,
    Command {
        pc_id: u8,
        bytes: Vec<u8>,
    },
    Data {
        pc_id: u8,
        command: Command,
        op: DataOp,
    },
}

enum DataOp {
    /// A C-STORE being received.
    Store(Box<StoreInProgress>),
    /// A C-FIND identifier being received (small: kept in memory).
    Find { identifier: Vec<u8>, ts: String },
    /// A C-MOVE identifier being received (small: kept in memory).
    Move { identifier: Vec<u8>, ts: String },
    /// A C-GET identifier being received (small: kept in memory).
    Get { identifier: Vec<u8>, ts: String },
    /// A data set to read and drop, then answer with this failure.
    Discard(Failure),
}

struct StoreInProgress {
    ctx: StoreContext,
    sink: Option<Box<dyn StoreSink>>,
    failure: Option<Failure>,
    buf: Vec<u8>,
    bytes: u64,
    started: Instant,
}

pub(crate) struct Connection {
    pub(crate) assoc: Assoc,
    pub(crate) peer: SocketAddr,
    pub(crate) options: Arc<ServerOptions>,
    pub(crate) services: Arc<Services>,
    state: State,
}

impl Connection {
    /// Runs until the association ends; `Ok` says how it ended normally.
    async fn run(&mut self, cancel: &CancellationToken) -> Result<&'static str> {
        loop {
            let idle = matches!(self.state, State::Idle);
            crate::socket::quick_ack(self.assoc.inner_stream());
            let received = tokio::select! {
                _ = cancel.cancelled(), if idle => {
                    self.abort().await;
                    return Ok("server shutting down");
                }
                r = tokio::time::timeout(self.options.idle_timeout(), self.assoc.receive()) => r,
            };
            let pdu = match received {
                Err(_) => {
                    self.abort().await;
                    return Err(Error::Timeout("no PDU within the idle timeout"));
                }
                Ok(Err(e)) => {
                    self.abort().await;
                    return Err(e.into());
                }
                Ok(Ok(pdu)) => pdu,
            };
            match pdu {
                Pdu::PData { data } => {
                    for pdv in data {
                        if let Err(e) = self.on_pdv(pdv).await {
                            self.abort().await;
                            return Err(e);
                        }
                    }
                }
                Pdu::ReleaseRQ => {
                    if !matches!(self.state, State::Idle) {
                        tracing::warn!(peer = %self.peer, "release requested in the middle of a message");
                    }
                    self.assoc.send(&Pdu::ReleaseRP).await?;
                    return Ok("released");
                }
                Pdu::AbortRQ { source } => {
                    if !matches!(self.state, State::Idle) {
                        tracing::warn!(peer = %self.peer, "peer aborted in the middle of a transfer; nothing of it is kept");
                    }
                    return Ok(match source {
                        dicom_ul::pdu::AbortRQSource::ServiceUser => "aborted by the peer",
                        _ => "aborted by the peer's service provider",
                    });
                }
                other => {
                    self.abort().await;
                    return Err(Error::Protocol(format!(
                        "unexpected PDU {}",
                        pdu_name(&other)
                    )));
                }
            }
        }
    }

    async fn abort(&mut self) {
        // Dropping the state drops any sink, which discards its partial data.
        self.state = State::Idle;
        let abort = Pdu::AbortRQ {
            source: dicom_ul::pdu::AbortRQSource::ServiceProvider(
                dicom_ul::pdu::AbortRQServiceProviderReason::ReasonNotSpecified,
            ),
        };
        let _ = self.assoc.send(&abort).await;
    }

    async fn on_pdv(&mut self, pdv: PDataValue) -> Result<()> {
        let pc_id = pdv.presentation_context_id;
        match (
            std::mem::replace(&mut self.state, State::Idle),
            pdv.value_type,
        ) {
            (State::Idle, PDataValueType::Command) => {
                if pdv.data.len() > MAX_COMMAND {
                    return Err(Error::Protocol(format!(
                        "command set larger than {MAX_COMMAND} bytes"
                    )));
                }
                self.state = State::Command {
                    pc_id,
                    bytes: pdv.data,
                };
            }
            (
                State::Command {
                    pc_id: id,
                    mut bytes,
                },
                PDataValueType::Command,
            ) if id == pc_id => {
                if bytes.len() + pdv.data.len() > MAX_COMMAND {
                    return Err(Error::Protocol(format!(
                        "command set larger than {MAX_COMMAND} bytes"
                    )));
                }
                bytes.extend_from_slice(&pdv.data);
                self.state = State::Command { pc_id, bytes };
            }
            (
                State::Data {
                    pc_id: id,
                    command,
                    op,
                },
                PDataValueType::Data,
            ) if id == pc_id => {
                self.state = State::Data { pc_id, command, op };
                return self.on_data(pdv.data, pdv.is_last).await;
            }
            (_, kind) => {
                return Err(Error::Protocol(format!(
                    "{kind:?} fragment on presentation context {pc_id} out of sequence"
                )));
            }
        }
        if pdv.is_last {
            let State::Command { pc_id, bytes } = std::mem::replace(&mut self.state, State::Idle)
            else {
                unreachable!("a command fragment was just stored");
            };
            let command = Command::decode(&bytes)?;
            self.on_command(pc_id, command).await?;
        }
        Ok(())
    }

    async fn on_command(&mut self, pc_id: u8, command: Command) -> Result<()> {
        let pc = self
            .assoc
            .presentation_contexts()
            .iter()
            .find(|pc| pc.id == pc_id && pc.reason == PresentationContextResultReason::Acceptance)
            .cloned()
            .ok_or_else(|| {
                Error::Protocol(format!("presentation context {pc_id} was not accepted"))
            })?;
        if let Some(op) = operation_of(&command)
            && !self
                .options
                .access
                .permits(self.assoc.peer_ae_title(), Some(self.peer.ip()), op)
        {
            let calling = self.assoc.peer_ae_title().trim().to_string();
            let name = match op {
                Operation::Store => "C-STORE",
                Operation::FindWorklist | Operation::Find => "C-FIND",
                Operation::Move => "C-MOVE",
                Operation::Get => "C-GET",
            };
            tracing::warn!(peer = %self.peer, calling_ae = %calling, operation = name,
                sop_class = %command.affected_sop_class_uid,
                "request refused: not permitted to this AE ([dicom.access])");
            if let Some(ev) = &self.services.events {
                ev.request_refused(
                    &calling,
                    Some(self.peer.ip()),
                    name,
                    &command.affected_sop_class_uid,
                );
            }
            let failure = Failure::new(
                status::NOT_AUTHORIZED,
                format!("{name} is not permitted to {calling}"),
            );
            return self.refuse(pc_id, command, failure).await;
        }
        match command.field {
            field::C_ECHO_RQ => {
                tracing::debug!(peer = %self.peer, "C-ECHO");
                let rsp = command.response(status::SUCCESS, None);
                self.send_command(pc_id, &rsp).await
            }
            field::C_STORE_RQ if command.has_dataset => {
                let op = self
                    .begin_store(&command, &pc.transfer_syntax, &pc.abstract_syntax)
                    .await;
                self.state = State::Data { pc_id, command, op };
                Ok(())
            }
            field::C_FIND_RQ if command.has_dataset => {
                let served = self
                    .services
                    .find_for(&command.affected_sop_class_uid)
                    .is_some();
                let op = if served {
                    DataOp::Find {
                        identifier: Vec::new(),
                        ts: pc.transfer_syntax.trim_end_matches(['\0', ' ']).to_string(),
                    }
                } else {
                    DataOp::Discard(Failure::new(
                        status::SOP_CLASS_NOT_SUPPORTED,
                        format!("no C-FIND for {}", command.affected_sop_class_uid),
                    ))
                };
                self.state = State::Data { pc_id, command, op };
                Ok(())
            }
            field::C_MOVE_RQ | field::C_GET_RQ if command.has_dataset => {
                let ts = pc.transfer_syntax.trim_end_matches(['\0', ' ']).to_string();
                let served = self
                    .services
                    .retrieve
                    .as_ref()
                    .is_some_and(|m| m.sop_classes().contains(&command.affected_sop_class_uid));
                let op = match (served, command.field) {
                    (true, field::C_MOVE_RQ) => DataOp::Move {
                        identifier: Vec::new(),
                        ts,
                    },
                    (true, _) => DataOp::Get {
                        identifier: Vec::new(),
                        ts,
                    },
                    (false, _) => DataOp::Discard(Failure::new(
                        status::SOP_CLASS_NOT_SUPPORTED,
                        format!("no retrieve for {}", command.affected_sop_class_uid),
                    )),
                };
                self.state = State::Data { pc_id, command, op };
                Ok(())
            }
            // A C-CANCEL after the last response of a find: nothing to stop.
            field::C_CANCEL_RQ => Ok(()),
            _ => {
                let failure = Failure::new(
                    status::UNRECOGNIZED_OPERATION,
                    format!(
                        "command {:04X} is not offered by this server",
                        command.field
                    ),
                );
                self.refuse(pc_id, command, failure).await
            }
        }
    }

    /// Answers a request with a failure: at once when it carries no data
    /// set, after reading (and dropping) its data set otherwise.
    async fn refuse(&mut self, pc_id: u8, command: Command, failure: Failure) -> Result<()> {
        if command.has_dataset {
            self.state = State::Data {
                pc_id,
                command,
                op: DataOp::Discard(failure),
            };
            Ok(())
        } else {
            let rsp = command.response(failure.status, Some(failure.comment));
            self.send_command(pc_id, &rsp).await
        }
    }

    async fn begin_store(&self, command: &Command, ts: &str, abstract_syntax: &str) -> DataOp {
        let Some(store) = self.services.store.clone() else {
            return DataOp::Discard(Failure::new(
                status::SOP_CLASS_NOT_SUPPORTED,
                "storage is not offered by this server",
            ));
        };
        if command.affected_sop_class_uid != abstract_syntax {
            return DataOp::Discard(Failure::new(
                status::DATASET_DOES_NOT_MATCH_SOP_CLASS,
                format!(
                    "SOP class {} sent on a context for {}",
                    command.affected_sop_class_uid, abstract_syntax
                ),
            ));
        }
        let ctx = StoreContext {
            calling_ae: self.assoc.peer_ae_title().trim().to_string(),
            called_ae: self.assoc.called_ae_title().trim().to_string(),
            peer: Some(self.peer),
            sop_class_uid: command.affected_sop_class_uid.clone(),
            sop_instance_uid: command.affected_sop_instance_uid.clone(),
            transfer_syntax: ts.trim_end_matches(['\0', ' ']).to_string(),
            message_id: command.message_id,
            max_instance_bytes: self.options.max_instance_bytes,
        };
        let ctx2 = ctx.clone();
        let begun = tokio::task::spawn_blocking(move || store.begin(&ctx2)).await;
        let (sink, failure) = match begun {
            Ok(Ok(sink)) => (Some(sink), None),
            Ok(Err(f)) => (None, Some(f)),
            Err(e) => (
                None,
                Some(Failure::processing(format!("internal error: {e}"))),
            ),
        };
        DataOp::Store(Box::new(StoreInProgress {
            ctx,
            sink,
            failure,
            buf: Vec::new(),
            bytes: 0,
            started: Instant::now(),
        }))
    }

    async fn on_data(&mut self, data: Vec<u8>, is_last: bool) -> Result<()> {
        let State::Data { op, .. } = &mut self.state else {
            unreachable!("on_data is called in the Data state");
        };
        match op {
            DataOp::Discard(_) => {}
            DataOp::Find { identifier, .. }
            | DataOp::Move { identifier, .. }
            | DataOp::Get { identifier, .. } => {
                identifier.extend_from_slice(&data);
                if identifier.len() > MAX_IDENTIFIER {
                    *op = DataOp::Discard(Failure::new(
                        status::CANNOT_UNDERSTAND,
                        format!("identifier larger than {MAX_IDENTIFIER} bytes"),
                    ));
                }
            }
            DataOp::Store(store) => {
                store.bytes += data.len() as u64;
                if store.buf.is_empty() {
                    store.buf = data;
                } else {
                    store.buf.extend_from_slice(&data);
                }
                if store.buf.len() >= CHUNK && !is_last {
                    flush(store).await;
                }
            }
        }
        if !is_last {
            return Ok(());
        }
        let State::Data { pc_id, command, op } = std::mem::replace(&mut self.state, State::Idle)
        else {
            unreachable!();
        };
        let outcome = match op {
            DataOp::Discard(failure) => Err(failure),
            DataOp::Store(store) => self.finish_store(store).await,
            DataOp::Find { identifier, ts } => {
                return self.answer_find(pc_id, command, identifier, ts).await;
            }
            DataOp::Move { identifier, ts } => {
                return self.answer_move(pc_id, command, identifier, ts).await;
            }
            DataOp::Get { identifier, ts } => {
                return self.answer_get(pc_id, command, identifier, ts).await;
            }
        };
        let rsp = match &outcome {
            Ok(stored) => command.response(
                stored.status,
                (stored.status != status::SUCCESS)
                    .then(|| stored.note.clone())
                    .flatten(),
            ),
            Err(f) => {
                tracing::warn!(peer = %self.peer, sop_instance_uid = %command.affected_sop_instance_uid,
                    "C-STORE failed: {f}");
                command.response(f.status, Some(f.comment.clone()))
            }
        };
        self.send_command(pc_id, &rsp).await
    }

    async fn finish_store(&self, mut store: Box<StoreInProgress>) -> Result<Stored, Failure> {
        let buf = std::mem::take(&mut store.buf);
        let sink = store.sink.take();
        let failure = store.failure.take();
        let finished = tokio::task::spawn_blocking(move || {
            if let Some(f) = failure {
                return Err(f);
            }
            let mut sink = sink.ok_or_else(|| Failure::processing("no sink"))?;
            if !buf.is_empty() {
                sink.write(&buf)?;
            }
            sink.finish()
        })
        .await
        .unwrap_or_else(|e| Err(Failure::processing(format!("internal error: {e}"))));
        let ctx = &store.ctx;
        if let Ok(stored) = &finished {
            tracing::info!(calling_ae = %ctx.calling_ae, sop_instance_uid = %ctx.sop_instance_uid,
                sop_class = %ctx.sop_class_uid, transfer_syntax = %ctx.transfer_syntax,
                bytes = store.bytes, ms = store.started.elapsed().as_millis() as u64,
                status = format_args!("{:04X}", stored.status),
                note = stored.note.as_deref().unwrap_or(""), "C-STORE");
        }
        finished
    }

    /// Sends a data set (already encoded) that follows a command, in one
    /// PDV.
    pub(crate) async fn send_dataset(&mut self, pc_id: u8, data: Vec<u8>) -> Result<()> {
        self.assoc
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc_id,
                    value_type: PDataValueType::Data,
                    is_last: true,
                    data,
                }],
            })
            .await?;
        Ok(())
    }

    pub(crate) async fn send_command(&mut self, pc_id: u8, command: &Command) -> Result<()> {
        let data = command.encode()?;
        self.assoc
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc_id,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data,
                }],
            })
            .await?;
        Ok(())
    }
}

/// Hands the buffered bytes to the sink on a blocking thread.
async fn flush(store: &mut StoreInProgress) {
    if store.failure.is_some() {
        store.buf.clear();
        return;
    }
    let Some(mut sink) = store.sink.take() else {
        store.buf.clear();
        return;
    };
    let mut buf = std::mem::take(&mut store.buf);
    let result = tokio::task::spawn_blocking(move || {
        let r = sink.write(&buf);
        buf.clear();
        (sink, buf, r)
    })
    .await;
    match result {
        Ok((sink, buf, Ok(()))) => {
            store.sink = Some(sink);
            store.buf = buf;
        }
        // The sink is dropped: what it wrote is discarded. The rest of the
        // data set is read and dropped, then the failure is answered.
        Ok((_, _, Err(f))) => store.failure = Some(f),
        Err(e) => store.failure = Some(Failure::processing(format!("internal error: {e}"))),
    }
}

/// What a request asks to do, for the per-AE permissions.
fn operation_of(command: &Command) -> Option<Operation> {
    match command.field {
        field::C_STORE_RQ => Some(Operation::Store),
        field::C_FIND_RQ
            if command.affected_sop_class_uid
                == dicom_dictionary_std::uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND =>
        {
            Some(Operation::FindWorklist)
        }
        field::C_FIND_RQ => Some(Operation::Find),
        field::C_MOVE_RQ => Some(Operation::Move),
        field::C_GET_RQ => Some(Operation::Get),
        _ => None,
    }
}

pub(crate) fn pdu_name(pdu: &Pdu) -> &'static str {
    match pdu {
        Pdu::AssociationRQ(_) => "A-ASSOCIATE-RQ",
        Pdu::AssociationAC(_) => "A-ASSOCIATE-AC",
        Pdu::AssociationRJ(_) => "A-ASSOCIATE-RJ",
        Pdu::PData { .. } => "P-DATA-TF",
        Pdu::ReleaseRQ => "A-RELEASE-RQ",
        Pdu::ReleaseRP => "A-RELEASE-RP",
        Pdu::AbortRQ { .. } => "A-ABORT",
        Pdu::Unknown { .. } => "unknown",
    }
}
