//! One message from bytes to ACK: parse, map, apply with its raw bytes in one
//! transaction, acknowledge. Blocking (SQLite): call from a blocking thread.

use std::sync::atomic::{AtomicU64, Ordering};

use sansfilm_worklist::command::RejectionKind;
use sansfilm_worklist::{Applied, Error as WorklistError, JournalEntry, WorklistStore};

use crate::ack::{self, AckCode, AckError};
use crate::mapping::{Hl7Config, MappingError, to_commands};
use crate::message::Hl7Message;

/// What happened to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// The ACK to send back (not MLLP-framed).
    pub ack: Vec<u8>,
    /// MSA-1.
    pub code: AckCode,
    /// MSH-10 of the message.
    pub control_id: String,
    /// `TYPE^EVENT`.
    pub message_type: String,
    /// What was done or why not, for the log.
    pub detail: String,
    /// The worklist commands that were applied (empty unless AA and new).
    pub applied: Vec<sansfilm_worklist::Command>,
    /// Sending application and facility (MSH-3, MSH-4).
    pub sender: String,
}

static ACK_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Processes one message.
pub fn process(bytes: &[u8], store: &WorklistStore, config: &Hl7Config) -> Processed {
    let now = ack::now_dtm();
    let ack_id = format!(
        "{now}{:06}",
        ACK_COUNTER.fetch_add(1, Ordering::Relaxed) % 1_000_000
    );
    let msg = match Hl7Message::parse_within(bytes, &config.limits()) {
        Ok(m) => m,
        Err(f) => {
            let err = AckError {
                location: String::new(),
                code: f.code,
                text: f.reason.clone(),
            };
            return Processed {
                ack: ack::build(
                    None,
                    &preview_control_id(bytes),
                    AckCode::AR,
                    Some(&err),
                    &ack_id,
                    &now,
                ),
                code: AckCode::AR,
                control_id: preview_control_id(bytes),
                message_type: String::new(),
                detail: f.reason,
                applied: vec![],
                sender: String::new(),
            };
        }
    };
    let (kind, event, control_id) = msg.kind();
    let message_type = format!("{kind}^{event}");
    let sender = format!("{}|{}", msg.msh(3), msg.msh(4));
    let reply = |code: AckCode, err: Option<AckError>, detail: String| Processed {
        ack: ack::build(Some(&msg), "", code, err.as_ref(), &ack_id, &now),
        code,
        control_id: control_id.clone(),
        message_type: message_type.clone(),
        detail,
        applied: vec![],
        sender: sender.clone(),
    };
    if control_id.trim().is_empty() {
        let err = AckError {
            location: "MSH-10".into(),
            code: 101,
            text: "message control ID (MSH-10) is missing".into(),
        };
        return reply(AckCode::AR, Some(err.clone()), err.text);
    }
    let sending_app = msg.value(&crate::segments::path("MSH-3.1"));
    let commands = match to_commands(&msg, config.mapping_for(&sending_app)) {
        Ok(c) => c,
        Err(MappingError::Unsupported { code, reason }) => {
            let err = AckError {
                location: "MSH-9".into(),
                code,
                text: reason.clone(),
            };
            return reply(AckCode::AR, Some(err), reason);
        }
        Err(MappingError::Field(f)) => {
            let err = AckError {
                location: f.location.clone(),
                code: f.code,
                text: f.reason.clone(),
            };
            return reply(AckCode::AE, Some(err), f.reason);
        }
    };
    let journal = JournalEntry {
        source: format!("{}|{}", msg.msh(3), msg.msh(4)),
        message_id: control_id.clone(),
        raw: bytes.to_vec(),
        summary: format!("{message_type} {} command(s)", commands.len()),
    };
    match store.apply(Some(&journal), &commands) {
        Ok(Applied::Done) => {
            let mut done = reply(
                AckCode::AA,
                None,
                format!("applied {} command(s)", commands.len()),
            );
            done.applied = commands;
            done
        }
        Ok(Applied::AlreadyApplied) => reply(
            AckCode::AA,
            None,
            "already applied (same sending application and MSH-10): not applied again".into(),
        ),
        Err(WorklistError::Rejected(r)) => {
            let code = match r.kind {
                RejectionKind::UnknownKey => 204,
                RejectionKind::DuplicateKey => 205,
            };
            let location = match (kind.as_str(), code) {
                ("ADT", _) => "MRG-1",
                (_, _) => "ORC-1",
            };
            let err = AckError {
                location: location.into(),
                code,
                text: r.reason.clone(),
            };
            reply(AckCode::AE, Some(err), r.reason)
        }
        Err(e) => {
            tracing::error!("worklist store failed: {e}");
            let err = AckError {
                location: String::new(),
                code: 207,
                text: format!("worklist unavailable: {e}"),
            };
            reply(AckCode::AE, Some(err), e.to_string())
        }
    }
}

/// MSH-10 read from raw bytes, for acknowledging a message that does not parse.
fn preview_control_id(bytes: &[u8]) -> String {
    let line_end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let line: String = bytes[..line_end].iter().map(|&b| b as char).collect();
    if !line.starts_with("MSH") || line.len() < 4 {
        return String::new();
    }
    let sep = line[3..].chars().next().unwrap_or('|');
    line.split(sep).nth(9).unwrap_or("").to_string()
}
