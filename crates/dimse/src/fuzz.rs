//! Entry points for the fuzz targets of `fuzz/` (cargo-fuzz) and for the
//! test that replays their inputs in every test run (`tests/fuzz_corpus.rs`):
//! what a peer's bytes go through before anything else looks at them. Each
//! takes arbitrary bytes and must return: an error is fine, a panic, a hang
//! or an allocation far beyond the input is a bug. Not part of the stable API.

use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::pdu::Pdu;

use crate::command::Command;
use crate::negotiation::accepted_abstract_syntaxes;
use crate::options::ServerOptions;
use crate::service::Services;

/// The largest PDU the server reads by default.
const MAX_PDU: u32 = 1024 * 1024;

/// One PDU as read from the socket (A-ASSOCIATE-RQ, P-DATA-TF, …): an
/// A-ASSOCIATE-RQ then goes through the server's choice of abstract
/// syntaxes, the PDVs of a P-DATA-TF through the command decoder.
pub fn pdu(data: &[u8]) {
    let Ok(Some(pdu)) = dicom_ul::read_pdu(&mut &data[..], MAX_PDU, false) else {
        return;
    };
    match pdu {
        Pdu::AssociationRQ(rq) => {
            let _ =
                accepted_abstract_syntaxes(&rq, &ServerOptions::default(), &Services::default());
        }
        Pdu::PData { data } => {
            for pdv in data {
                let _ = Command::decode(&pdv.data);
            }
        }
        _ => {}
    }
}

/// A DIMSE command set (Implicit VR Little Endian).
pub fn command(data: &[u8]) {
    let _ = Command::decode(data);
}

/// A C-FIND identifier, checked then read as the server does, in the
/// transfer syntax chosen by the first byte (implicit, explicit LE, explicit
/// BE, deflated).
pub fn identifier(data: &[u8]) {
    let [choice, rest @ ..] = data else { return };
    #[allow(deprecated)]
    let ts = [
        uids::IMPLICIT_VR_LITTLE_ENDIAN,
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        uids::EXPLICIT_VR_BIG_ENDIAN,
        uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    ][usize::from(*choice % 4)];
    if sansfilm_dicom::bounds::check_dataset_bytes(rest, ts).is_err() {
        return;
    }
    let syntax = TransferSyntaxRegistry.get(ts).expect("registered");
    let _ = InMemDicomObject::read_dataset_with_ts(rest, syntax);
}
