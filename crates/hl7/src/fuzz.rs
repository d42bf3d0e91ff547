//! Entry points for the fuzz targets of `fuzz/` (cargo-fuzz) and for the
//! test that replays their inputs in every test run (`tests/fuzz_corpus.rs`).
//! Each takes arbitrary bytes and must return: an error is fine, a panic, a
//! hang or an allocation far beyond the input is a bug. Not part of the
//! stable API.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::mapping::Hl7Config;
use crate::message::Hl7Message;
use crate::mllp::MllpCodec;

/// MLLP framing over a stream cut in reads whose sizes come from the first
/// byte; every frame that comes out is parsed too, and the end of the stream
/// is handled as a closed connection.
pub fn mllp(data: &[u8]) {
    let [step, rest @ ..] = data else { return };
    let step = usize::from(*step).max(1);
    let mut codec = MllpCodec::new(64 * 1024);
    let mut buf = BytesMut::new();
    for chunk in rest.chunks(step) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => message(&frame),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = codec.decode_eof(&mut buf);
}

/// One HL7 message: parsed within the default limits, then every field the
/// default mapping reads.
pub fn message(data: &[u8]) {
    let config = Hl7Config::default();
    let Ok(msg) = Hl7Message::parse_within(data, &config.limits()) else {
        return;
    };
    let _ = msg.kind();
    let _ = crate::mapping::to_commands(&msg, &config.mapping);
}
