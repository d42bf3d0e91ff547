//! What an association request may get: read ahead of dicom-ul.
//!
//! dicom-ul's server options take a fixed list of abstract syntaxes, and the
//! standard's list of Storage SOP classes is not enumerable in the dictionary
//! crate. So the A-ASSOCIATE-RQ is peeked from the socket (not consumed), each
//! proposed abstract syntax is classified by dictionary look-up, and the options
//! for this one association list exactly the accepted ones. dicom-ul then reads
//! the same request and negotiates as usual.

use std::time::Duration;

use dicom_dictionary_std::uids;
use dicom_ul::pdu::{AssociationRQ, Pdu};
use tokio::net::TcpStream;

use crate::options::ServerOptions;
use crate::service::Services;
use crate::{Error, Result};
use sansfilm_dicom::syntax::{is_storage_sop_class, is_unknown_sop_class, trim_uid};

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

#[cfg(test)]
mod tests {
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
}
