//! One association, from A-ASSOCIATE-RQ to release or abort.
//!
//! The loop reads PDUs with an idle timeout and feeds their fragments to a
//! small state machine: command fragments are collected and decoded, checked
//! against the per-AE permissions and routed by command and SOP class; data
//! fragments go to the operation under way: a C-STORE (`store_scp.rs`), or
//! the identifier of a C-FIND (`find_scp.rs`), C-MOVE (`move_scp.rs`) or
//! C-GET (`get_scp.rs`). Negotiation and the calling-AE check are in
//! `negotiation.rs`.

use std::net::SocketAddr;
use std::sync::Arc;

use dicom_ul::association::{Association, AsyncServerAssociation};
use dicom_ul::pdu::{
    AssociationRQ, PDataValue, PDataValueType, Pdu, PresentationContextResultReason,
};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::command::{Command, field};
use crate::negotiation::establish;
use crate::options::{Operation, ServerOptions};
use crate::service::{Failure, Services};
use crate::store_scp::StoreInProgress;
use crate::{Error, Result, status};

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

pub(crate) enum DataOp {
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
            DataOp::Store(store) => store.take(data, is_last).await,
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
