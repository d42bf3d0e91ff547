//! What an association request may get: read ahead of dicom-ul.
//!
//! dicom-ul's server options take a fixed list of abstract syntaxes, and the
//! standard's list of Storage SOP classes is not enumerable in the dictionary
//! crate. So the A-ASSOCIATE-RQ is peeked from the socket (not consumed), each
//! proposed abstract syntax is classified by dictionary look-up, and the options
//! for this one association list exactly the accepted ones. dicom-ul then reads
//! the same request and negotiates as usual, with `ArchiveNegotiation` for
//! SCU/SCP role selection and extended negotiation.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use dicom_dictionary_std::uids;
use dicom_ul::ServerAssociationOptions;
use dicom_ul::association::server::AccessControl;
use dicom_ul::pdu::{AssociationRJServiceUserReason, AssociationRQ, Pdu, UserIdentity};
use tokio::net::TcpStream;

use crate::association::Assoc;
use crate::options::{AccessPolicy, Refusal, ServerOptions};
use crate::service::Services;
use crate::{Error, Result};
use sansfilm_dicom::syntax::{
    STORAGE_TRANSFER_SYNTAXES, is_storage_sop_class, is_unknown_sop_class, trim_uid,
};

/// Largest A-ASSOCIATE-RQ accepted (128 presentation contexts with many
/// transfer syntaxes each stay far below).
const MAX_RQ_LENGTH: usize = 256 * 1024;

/// Reads the A-ASSOCIATE-RQ without consuming it. `Ok(None)` when the first PDU
/// is something else (dicom-ul will answer it with an abort).
pub async fn peek_association_rq(stream: &TcpStream) -> Result<Option<AssociationRQ>> {
    let mut header = [0u8; 6];
    peek_exact(stream, &mut header).await?;
    if header[0] != 0x01 {
        return Ok(None);
    }
    let length = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    if length > MAX_RQ_LENGTH {
        return Err(Error::Protocol(format!(
            "A-ASSOCIATE-RQ of {length} bytes is larger than {MAX_RQ_LENGTH}"
        )));
    }
    let mut buf = vec![0u8; 6 + length];
    peek_exact(stream, &mut buf).await?;
    match dicom_ul::read_pdu(&mut &buf[..], MAX_RQ_LENGTH as u32, false) {
        Ok(Some(Pdu::AssociationRQ(rq))) => Ok(Some(rq)),
        Ok(_) => Ok(None),
        Err(e) => Err(Error::Protocol(format!("malformed A-ASSOCIATE-RQ: {e}"))),
    }
}

/// Peeks until `buf` is full. The caller bounds the wait with the ARTIM timer.
async fn peek_exact(stream: &TcpStream, buf: &mut [u8]) -> Result<()> {
    loop {
        stream.readable().await?;
        let n = stream.peek(buf).await?;
        if n == 0 {
            return Err(Error::Protocol(
                "connection closed before A-ASSOCIATE-RQ".into(),
            ));
        }
        if n == buf.len() {
            return Ok(());
        }
        // Part of the PDU is still in flight; peek does not consume, so wait a
        // little instead of spinning on a socket that stays readable.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The abstract syntaxes of `rq` that this server accepts.
pub fn accepted_abstract_syntaxes(
    rq: &AssociationRQ,
    options: &ServerOptions,
    services: &Services,
) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let find_classes = services.query_classes();
    for pc in &rq.presentation_contexts {
        let uid = trim_uid(&pc.abstract_syntax);
        let accept = uid == uids::VERIFICATION
            || find_classes.iter().any(|c| c == uid)
            || (services.store.is_some()
                && (is_storage_sop_class(uid)
                    || (options.accept_private_sop_classes
                        && is_unknown_sop_class(uid)
                        && sansfilm_dicom::uid::is_valid_uid(uid))));
        if accept && !out.iter().any(|u| u == uid) {
            out.push(uid.to_string());
        }
    }
    out
}

/// Negotiation beyond presentation contexts. SCU/SCP role selection: a
/// C-GET requester proposes its storage contexts
/// with the SCP role for itself (the archive sends C-STOREs back on them);
/// whatever roles it asks for a storage class (the SCP role alone, as
/// DCMTK's getscu does, or both, as some workstations do) are granted.
/// Requesters that send no role item get the default roles, and their
/// storage contexts are used for C-GET all the same.
pub(crate) struct ArchiveNegotiation;

impl dicom_ul::association::server::Negotiation for ArchiveNegotiation {
    /// Query/Retrieve extended negotiation (PS3.4 C.5.1.1, C.5.2.1): the
    /// archive matches keys of every level whatever was negotiated, so
    /// relational queries and retrieval (first byte) are granted when asked;
    /// combined date-time, fuzzy semantic and time zone matching and the
    /// rest are declined (0), being either not done or done always.
    fn extended_negotiation(&self, sop_class_uid: &str, input: &[u8]) -> Option<Vec<u8>> {
        let uid = sansfilm_dicom::syntax::trim_uid(sop_class_uid);
        let qr = [
            dicom_dictionary_std::uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
            dicom_dictionary_std::uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
            dicom_dictionary_std::uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
            dicom_dictionary_std::uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
            dicom_dictionary_std::uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
            dicom_dictionary_std::uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
        ];
        if !qr.contains(&uid) || input.is_empty() {
            return None;
        }
        let mut out = vec![0u8; input.len().min(6)];
        out[0] = u8::from(input[0] == 1);
        Some(out)
    }

    fn negotiate_roles(
        &self,
        sop_class_uid: &str,
        scu_role: bool,
        scp_role: bool,
    ) -> Option<dicom_ul::pdu::RequestorRoles> {
        let uid = sansfilm_dicom::syntax::trim_uid(sop_class_uid);
        (sansfilm_dicom::syntax::is_storage_sop_class(uid)
            || sansfilm_dicom::syntax::is_unknown_sop_class(uid))
        .then_some(dicom_ul::pdu::RequestorRoles {
            scu: scu_role,
            scp: scp_role,
        })
    }
}

/// Negotiates with dicom-ul, which reads the request `rq` (already peeked)
/// from the socket.
pub(crate) async fn establish(
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

#[cfg(test)]
mod tests {
    use super::ArchiveNegotiation;
    use dicom_ul::association::server::Negotiation;

    #[test]
    fn every_storage_syntax_is_negotiable() {
        let missing: Vec<_> = sansfilm_dicom::syntax::STORAGE_TRANSFER_SYNTAXES
            .iter()
            .filter(|ts| !dicom_ul::association::server::is_supported(ts))
            .collect();
        assert!(
            missing.is_empty(),
            "not negotiable by dicom-ul: {missing:?}"
        );
    }

    #[test]
    fn relational_queries_are_granted_and_the_rest_declined() {
        let n = ArchiveNegotiation;
        let study_find =
            dicom_dictionary_std::uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND;
        assert_eq!(
            n.extended_negotiation(study_find, &[1, 1, 1]),
            Some(vec![1, 0, 0])
        );
        assert_eq!(n.extended_negotiation(study_find, &[0]), Some(vec![0]));
        let mwl = dicom_dictionary_std::uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND;
        assert_eq!(n.extended_negotiation(mwl, &[1]), None);
        let ct = "1.2.840.10008.5.1.4.1.1.2";
        let roles = n.negotiate_roles(ct, false, true).unwrap();
        assert!(!roles.scu && roles.scp);
        assert!(n.negotiate_roles(study_find, true, true).is_none());
    }
}
