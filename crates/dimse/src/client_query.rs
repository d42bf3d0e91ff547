//! The client side of Query/Retrieve: C-FIND and C-MOVE as an SCU, for
//! `sansfilm find` and `sansfilm move`, integrators and the tests (C-GET is
//! in [`crate::client_get`]).

use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};

use crate::client::{ClientAssoc, ClientOptions, accepted_context, connect};
use crate::command::{Command, SubOperations, field};
use crate::{Error, Result, status};

/// The outcome of a C-MOVE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveOutcome {
    /// Final status.
    pub status: u16,
    /// Error Comment of the final response.
    pub comment: Option<String>,
    /// Sub-operation counts of the final response.
    pub counts: SubOperations,
    /// Failed SOP Instance UID List, when the server sent one.
    pub failed_uids: Vec<String>,
}

/// Sends a C-FIND under the query model `sop_class` (Study Root, Patient
/// Root, Modality Worklist) and returns the answers and the final status.
pub async fn find(
    address: &str,
    options: &ClientOptions,
    sop_class: &str,
    identifier: &InMemDicomObject,
) -> Result<(Vec<InMemDicomObject>, u16)> {
    let (mut assoc, pc_id, ts) = open(address, options, sop_class).await?;
    let mut rq = Command {
        field: field::C_FIND_RQ,
        message_id: 1,
        affected_sop_class_uid: sop_class.to_string(),
        has_dataset: true,
        ..Default::default()
    };
    rq.priority = 0;
    send_request(&mut assoc, pc_id, &rq, identifier, ts).await?;
    let mut answers = vec![];
    loop {
        let (rsp, data) = receive(&mut assoc, options, ts).await?;
        if rsp.status == status::PENDING || rsp.status == 0xFF01 {
            if let Some(d) = data {
                answers.push(d);
            }
            continue;
        }
        let _ = assoc.release().await;
        return Ok((answers, rsp.status));
    }
}

/// Asks the server to send what `identifier` names to `destination` with
/// C-MOVE (Study Root or Patient Root `sop_class`).
pub async fn move_to(
    address: &str,
    options: &ClientOptions,
    sop_class: &str,
    identifier: &InMemDicomObject,
    destination: &str,
) -> Result<MoveOutcome> {
    let (mut assoc, pc_id, ts) = open(address, options, sop_class).await?;
    let rq = Command {
        field: field::C_MOVE_RQ,
        message_id: 1,
        affected_sop_class_uid: sop_class.to_string(),
        has_dataset: true,
        move_destination: Some(destination.to_string()),
        ..Default::default()
    };
    send_request(&mut assoc, pc_id, &rq, identifier, ts).await?;
    loop {
        let (rsp, data) = receive(&mut assoc, options, ts).await?;
        if rsp.status == status::PENDING {
            continue;
        }
        let _ = assoc.release().await;
        let failed_uids = failed_uid_list(data.as_ref());
        return Ok(MoveOutcome {
            status: rsp.status,
            comment: rsp.error_comment,
            counts: rsp.sub_operations.unwrap_or_default(),
            failed_uids,
        });
    }
}

/// The Failed SOP Instance UID List of a final C-MOVE or C-GET response.
pub(crate) fn failed_uid_list(data: Option<&InMemDicomObject>) -> Vec<String> {
    data.and_then(|d| {
        d.get(dicom_dictionary_std::tags::FAILED_SOP_INSTANCE_UID_LIST)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.split('\\').map(|u| u.trim().to_string()).collect())
    })
    .unwrap_or_default()
}

pub(crate) type Syntax = &'static dicom_encoding::TransferSyntax;

/// The registry's entry of a negotiated transfer syntax.
pub(crate) fn syntax_of(ts_uid: &str) -> Result<Syntax> {
    TransferSyntaxRegistry
        .get(ts_uid)
        .ok_or_else(|| Error::Protocol(format!("transfer syntax {ts_uid} unknown")))
}

async fn open(
    address: &str,
    options: &ClientOptions,
    sop_class: &str,
) -> Result<(ClientAssoc, u8, Syntax)> {
    let syntaxes = vec![
        uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
        uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
    ];
    let assoc = connect(address, options, &[(sop_class.to_string(), syntaxes)]).await?;
    let pc_id = accepted_context(&assoc, sop_class, None)
        .ok_or_else(|| Error::Rejected(format!("{sop_class} refused by the server")))?;
    let ts_uid = assoc
        .presentation_contexts()
        .iter()
        .find(|pc| pc.id == pc_id)
        .map(|pc| pc.transfer_syntax.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default();
    Ok((assoc, pc_id, syntax_of(&ts_uid)?))
}

pub(crate) async fn send_request(
    assoc: &mut ClientAssoc,
    pc_id: u8,
    rq: &Command,
    identifier: &InMemDicomObject,
    ts: Syntax,
) -> Result<()> {
    let mut data = vec![];
    identifier
        .write_dataset_with_ts(&mut data, ts)
        .map_err(|e| Error::Command(format!("cannot encode the identifier: {e}")))?;
    assoc
        .send(&Pdu::PData {
            data: vec![
                PDataValue {
                    presentation_context_id: pc_id,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: rq.encode()?,
                },
                PDataValue {
                    presentation_context_id: pc_id,
                    value_type: PDataValueType::Data,
                    is_last: true,
                    data,
                },
            ],
        })
        .await?;
    Ok(())
}

/// One response, and its data set if one follows.
async fn receive(
    assoc: &mut ClientAssoc,
    options: &ClientOptions,
    ts: Syntax,
) -> Result<(Command, Option<InMemDicomObject>)> {
    let (mut command_bytes, mut data_bytes) = (vec![], vec![]);
    let mut command: Option<Command> = None;
    loop {
        let pdu = tokio::time::timeout(options.timeout, assoc.receive())
            .await
            .map_err(|_| Error::Timeout("no response from the server"))??;
        let Pdu::PData { data } = pdu else {
            return Err(match pdu {
                Pdu::AbortRQ { .. } => Error::Aborted,
                other => Error::Protocol(format!("unexpected PDU {other:?}")),
            });
        };
        for pdv in data {
            match pdv.value_type {
                PDataValueType::Command => {
                    command_bytes.extend_from_slice(&pdv.data);
                    if pdv.is_last {
                        let c = Command::decode(&command_bytes)?;
                        if !c.has_dataset {
                            return Ok((c, None));
                        }
                        command = Some(c);
                    }
                }
                PDataValueType::Data => {
                    data_bytes.extend_from_slice(&pdv.data);
                    if pdv.is_last {
                        let c = command
                            .take()
                            .ok_or_else(|| Error::Protocol("data set before its command".into()))?;
                        sansfilm_dicom::bounds::check_dataset_bytes(&data_bytes, ts.uid())
                            .map_err(|e| Error::Command(e.to_string()))?;
                        let obj = InMemDicomObject::read_dataset_with_ts(&data_bytes[..], ts)
                            .map_err(|e| Error::Command(e.to_string()))?;
                        return Ok((c, Some(obj)));
                    }
                }
            }
        }
    }
}
