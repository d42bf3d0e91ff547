//! An instance on its way out, for every sender (C-STORE as a client, the
//! sub-operations of C-MOVE and C-GET): made ready on a blocking thread
//! while the previous one is on the wire, then written to the socket.
//!
//! - [`prepare`] picks the presentation context: the stored syntax when the
//!   peer accepted it (the file's bytes, read whole, or streamed when
//!   large), else a native syntax it accepted, the data set decoded by the
//!   sender's [`Transcoder`].
//! - [`send_data`] writes a data set as P-DATA-TF PDUs straight to the
//!   association's socket (dicom-ul's `inner_stream`, at a PDU boundary):
//!   the PDU headers beside slices of the data, many PDUs per system call,
//!   no copy of the data. With the 16 KiB PDUs DCMTK's tools ask for, a CT
//!   image is 33 PDUs; through `Association::send` each would be copied
//!   twice and written alone.

use std::io::{IoSlice, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::client::{FileToSend, NATIVE_FALLBACK, Transcoder};

/// Data sets up to this size are read whole (the next one while the current
/// one is sent); larger ones (long multi-frame objects) are streamed.
const READ_WHOLE_MAX: u64 = 64 << 20;

/// Bytes read at a time from a streamed file.
const STREAM_READ: usize = 4 << 20;

/// A presentation context the peer accepted: id, abstract syntax, transfer
/// syntax (padding trimmed).
pub(crate) type Accepted = (u8, String, String);

/// The data set bytes of one C-STORE.
pub(crate) enum Body {
    /// In memory (read whole, or decoded).
    Memory(Vec<u8>),
    /// A file positioned at the data set, and its length.
    File(std::fs::File, u64),
}

/// An instance ready to be sent.
pub(crate) struct Ready {
    /// The presentation context it goes on.
    pub pc_id: u8,
    /// Its data set.
    pub body: Body,
}

/// Why an instance cannot be sent (this one only; the others still go).
#[derive(Debug)]
pub(crate) enum NotReady {
    /// The peer accepted neither its syntax nor a native one for its class.
    NoContext,
    /// It could not be read or decoded.
    Unreadable(String),
}

/// Readies `file` for a peer that accepted `contexts`. Blocking.
pub(crate) fn prepare(
    file: &FileToSend,
    contexts: &[Accepted],
    transcoder: Option<&Arc<dyn Transcoder>>,
) -> Result<Ready, NotReady> {
    let accepted = |ts: &str| {
        contexts
            .iter()
            .find(|(_, class, syntax)| *class == file.sop_class_uid && syntax == ts)
            .map(|(id, _, _)| *id)
    };
    if let Some(pc_id) = accepted(&file.transfer_syntax) {
        let unreadable = |e: std::io::Error| NotReady::Unreadable(e.to_string());
        let mut f = std::fs::File::open(&file.path).map_err(unreadable)?;
        f.seek(SeekFrom::Start(file.dataset_offset))
            .map_err(unreadable)?;
        let body = if file.dataset_len <= READ_WHOLE_MAX {
            let mut data = vec![0; file.dataset_len as usize];
            f.read_exact(&mut data).map_err(unreadable)?;
            Body::Memory(data)
        } else {
            Body::File(f, file.dataset_len)
        };
        return Ok(Ready { pc_id, body });
    }
    let (pc_id, ts) = NATIVE_FALLBACK
        .iter()
        .find_map(|ts| accepted(ts).map(|id| (id, *ts)))
        .ok_or(NotReady::NoContext)?;
    let transcoder = transcoder.ok_or(NotReady::NoContext)?;
    let bytes = transcoder
        .native(&file.path, ts)
        .map_err(|e| NotReady::Unreadable(format!("cannot be decoded: {e}")))?;
    Ok(Ready {
        pc_id,
        body: Body::Memory(bytes),
    })
}

/// [`prepare`] on a blocking thread.
pub(crate) fn prepare_in_background(
    file: &FileToSend,
    contexts: &Arc<Vec<Accepted>>,
    transcoder: &Option<Arc<dyn Transcoder>>,
) -> tokio::task::JoinHandle<Result<Ready, NotReady>> {
    let (file, contexts, transcoder) = (file.clone(), contexts.clone(), transcoder.clone());
    tokio::task::spawn_blocking(move || prepare(&file, &contexts, transcoder.as_ref()))
}

/// The accepted contexts of an association, trimmed.
pub(crate) fn accepted_contexts<'a>(
    contexts: impl IntoIterator<Item = &'a dicom_ul::pdu::PresentationContextNegotiated>,
) -> Vec<Accepted> {
    contexts
        .into_iter()
        .filter(|pc| pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance)
        .map(|pc| {
            (
                pc.id,
                pc.abstract_syntax.trim_end_matches(['\0', ' ']).to_string(),
                pc.transfer_syntax.trim_end_matches(['\0', ' ']).to_string(),
            )
        })
        .collect()
}

/// Writes `body` as data PDVs on context `pc_id`, the last one marked last;
/// returns the bytes sent. `max_pdu` is the peer's maximum PDU length (0:
/// no limit said).
pub(crate) async fn send_body<S: AsyncWrite + Unpin>(
    stream: &mut S,
    pc_id: u8,
    body: Body,
    max_pdu: u32,
) -> std::io::Result<u64> {
    match body {
        Body::Memory(data) => {
            send_data(stream, pc_id, &data, max_pdu, true).await?;
            Ok(data.len() as u64)
        }
        Body::File(file, len) => {
            let mut file = Some(file);
            let mut left = len;
            let mut buf = Vec::with_capacity(STREAM_READ);
            loop {
                let want = left.min(STREAM_READ as u64) as usize;
                let mut f = file.take().expect("given back after each read");
                let (f, b, read) = tokio::task::spawn_blocking(move || {
                    buf.resize(want, 0);
                    let r = f.read_exact(&mut buf);
                    (f, buf, r)
                })
                .await
                .map_err(std::io::Error::other)?;
                read?;
                left -= want as u64;
                send_data(stream, pc_id, &b, max_pdu, left == 0).await?;
                if left == 0 {
                    return Ok(len);
                }
                file = Some(f);
                buf = b;
            }
        }
    }
}

/// PDUs written per system call at most (two slices each).
const PDUS_PER_WRITE: usize = 256;

/// Writes `data` as P-DATA-TF PDUs of one data PDV each, at most `max_pdu`
/// long, the last marked last when `last`. An empty `data` is one empty
/// PDV.
pub(crate) async fn send_data<S: AsyncWrite + Unpin>(
    stream: &mut S,
    pc_id: u8,
    data: &[u8],
    max_pdu: u32,
    last: bool,
) -> std::io::Result<()> {
    let max = match max_pdu {
        0 => 1 << 20,
        n => n.min(4 << 20),
    } as usize;
    // PDU length = PDV item length field (4) + its value (2 + data).
    let chunk = max.saturating_sub(6).max(1024);
    let pieces: Vec<&[u8]> = if data.is_empty() {
        vec![data]
    } else {
        data.chunks(chunk).collect()
    };
    let n = pieces.len();
    let headers: Vec<[u8; 12]> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| pdv_header(pc_id, p.len(), last && i + 1 == n))
        .collect();
    for (hs, ps) in headers
        .chunks(PDUS_PER_WRITE)
        .zip(pieces.chunks(PDUS_PER_WRITE))
    {
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(2 * hs.len());
        for (h, p) in hs.iter().zip(ps) {
            slices.push(IoSlice::new(h));
            slices.push(IoSlice::new(p));
        }
        write_all_vectored(stream, &mut slices).await?;
    }
    stream.flush().await
}

/// The PDU header and PDV item header of one data fragment.
fn pdv_header(pc_id: u8, len: usize, last: bool) -> [u8; 12] {
    let pdv_len = (len + 2) as u32;
    let pdu_len = pdv_len + 4;
    let mut h = [0u8; 12];
    h[0] = 0x04; // P-DATA-TF
    h[2..6].copy_from_slice(&pdu_len.to_be_bytes());
    h[6..10].copy_from_slice(&pdv_len.to_be_bytes());
    h[10] = pc_id;
    h[11] = if last { 0x02 } else { 0x00 }; // data, last fragment or not
    h
}

async fn write_all_vectored<S: AsyncWrite + Unpin>(
    stream: &mut S,
    mut slices: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    while !slices.is_empty() {
        let n = stream.write_vectored(slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// Reads PDUs until a whole command set has come (the response to a
/// C-STORE sent, or a C-CANCEL), on either side of an association; data
/// fragments on the way are not expected and are skipped.
pub(crate) async fn receive_command<A>(
    assoc: &mut A,
    timeout: std::time::Duration,
    waiting_for: &'static str,
) -> crate::Result<crate::command::Command>
where
    A: dicom_ul::association::AsyncAssociation<tokio::net::TcpStream> + Send,
{
    use dicom_ul::pdu::{PDataValueType, Pdu};
    let mut bytes = vec![];
    loop {
        let pdu = tokio::time::timeout(
            timeout,
            dicom_ul::association::AsyncAssociation::receive(assoc),
        )
        .await
        .map_err(|_| crate::Error::Timeout(waiting_for))??;
        match pdu {
            Pdu::PData { data } => {
                for pdv in data {
                    if pdv.value_type != PDataValueType::Command {
                        continue;
                    }
                    bytes.extend_from_slice(&pdv.data);
                    if pdv.is_last {
                        return crate::command::Command::decode(&bytes);
                    }
                }
            }
            Pdu::AbortRQ { .. } => return Err(crate::Error::Aborted),
            other => {
                return Err(crate::Error::Protocol(format!(
                    "unexpected {} while waiting for a response",
                    crate::association::pdu_name(&other)
                )));
            }
        }
    }
}

/// What a file of the archive is, without parsing its data set: the index
/// knows its SOP class and instance; only its meta group is read.
pub(crate) fn known_file(
    path: &Path,
    sop_class_uid: &str,
    sop_instance_uid: &str,
) -> crate::Result<FileToSend> {
    let file = std::fs::File::open(path)?;
    let total = file.metadata()?.len();
    let (meta, offset) =
        sansfilm_dicom::part10::read_meta(std::io::BufReader::new(file)).map_err(|source| {
            crate::Error::File {
                path: path.to_path_buf(),
                source,
            }
        })?;
    Ok(FileToSend {
        path: path.to_path_buf(),
        sop_class_uid: sop_class_uid.to_string(),
        sop_instance_uid: sop_instance_uid.to_string(),
        transfer_syntax: meta.transfer_syntax().to_string(),
        dataset_offset: offset,
        dataset_len: total.saturating_sub(offset),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_ul::pdu::{PDataValueType, Pdu, read_pdu};

    #[tokio::test]
    async fn pdus_read_back_as_dicom_ul_reads_them() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let mut wire = vec![];
        send_data(&mut wire, 3, &data, 16384, true).await.unwrap();
        let mut rest: &[u8] = &wire;
        let mut back = vec![];
        let mut lasts = vec![];
        while !rest.is_empty() {
            let Pdu::PData { data: pdvs } = read_pdu(&mut rest, 16384, true).unwrap().unwrap()
            else {
                panic!("not P-DATA");
            };
            for pdv in pdvs {
                assert_eq!(pdv.presentation_context_id, 3);
                assert_eq!(pdv.value_type, PDataValueType::Data);
                lasts.push(pdv.is_last);
                back.extend_from_slice(&pdv.data);
            }
        }
        assert_eq!(back, data);
        assert_eq!(lasts.iter().filter(|l| **l).count(), 1);
        assert!(*lasts.last().unwrap());
        let mut wire = vec![];
        send_data(&mut wire, 1, &[], 16384, true).await.unwrap();
        assert_eq!(wire.len(), 12, "one empty last PDV");
    }
}
