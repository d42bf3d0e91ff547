//! MLLP framing (HL7 v2 over TCP): `0x0B` message `0x1C 0x0D`.
//!
//! A tokio-util codec, shaped after mini-redis's frame parser: bytes before a
//! start block are skipped (and reported), a frame split across reads waits
//! for the rest, several frames in one read come out one by one, and a frame
//! larger than the limit is an error rather than unbounded memory.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Start block.
pub const START: u8 = 0x0B;
/// End block: file separator then carriage return.
pub const END: [u8; 2] = [0x1C, 0x0D];

/// Errors of the MLLP codec.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MllpError {
    /// A frame exceeded the size limit.
    #[error("MLLP frame larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The connection closed in the middle of a frame.
    #[error("connection closed in the middle of a message ({0} bytes received)")]
    Truncated(usize),
    /// Socket error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// The MLLP codec.
#[derive(Debug, Clone)]
pub struct MllpCodec {
    max_frame: usize,
    /// Bytes skipped outside frames since the last report.
    pub skipped: usize,
}

impl MllpCodec {
    /// A codec accepting frames up to `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        MllpCodec {
            max_frame,
            skipped: 0,
        }
    }
}

impl Default for MllpCodec {
    fn default() -> Self {
        Self::new(16 * 1024 * 1024)
    }
}

impl Decoder for MllpCodec {
    type Item = BytesMut;
    type Error = MllpError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, MllpError> {
        // Garbage before the start block is dropped.
        match src.iter().position(|&b| b == START) {
            Some(0) => {}
            Some(n) => {
                self.skipped += n;
                src.advance(n);
            }
            None => {
                self.skipped += src.len();
                src.clear();
                return Ok(None);
            }
        }
        let end = src[1..].windows(2).position(|w| w == END);
        match end {
            Some(n) => {
                if n > self.max_frame {
                    return Err(MllpError::TooLarge {
                        limit: self.max_frame,
                    });
                }
                src.advance(1);
                let frame = src.split_to(n);
                src.advance(2);
                Ok(Some(frame))
            }
            None if src.len() > self.max_frame + 3 => Err(MllpError::TooLarge {
                limit: self.max_frame,
            }),
            None => Ok(None),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, MllpError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(MllpError::Truncated(src.len())),
        }
    }
}

impl Encoder<&[u8]> for MllpCodec {
    type Error = MllpError;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), MllpError> {
        dst.reserve(item.len() + 3);
        dst.put_u8(START);
        dst.put_slice(item);
        dst.put_slice(&END);
        Ok(())
    }
}

/// Wraps a message in MLLP framing.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(START);
    out.extend_from_slice(message);
    out.extend_from_slice(&END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut MllpCodec, buf: &mut BytesMut) -> Vec<Vec<u8>> {
        let mut out = vec![];
        while let Some(f) = codec.decode(buf).unwrap() {
            out.push(f.to_vec());
        }
        out
    }

    #[test]
    fn frames_split_joined_and_garbage() {
        let mut codec = MllpCodec::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"noise\x0bMSH|one");
        assert!(decode_all(&mut codec, &mut buf).is_empty());
        buf.extend_from_slice(b"\x1c\x0d\x0bMSH|two\x1c\x0dxx\x0bMSH|th");
        assert_eq!(
            decode_all(&mut codec, &mut buf),
            vec![b"MSH|one".to_vec(), b"MSH|two".to_vec()]
        );
        assert_eq!(codec.skipped, 7);
        buf.extend_from_slice(b"ree\x1c\x0d");
        assert_eq!(
            decode_all(&mut codec, &mut buf),
            vec![b"MSH|three".to_vec()]
        );
    }

    #[test]
    fn eof_inside_a_frame_is_an_error_and_limits_hold() {
        let mut codec = MllpCodec::new(8);
        let mut buf = BytesMut::from(&b"\x0bMSH|abc"[..]);
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(MllpError::Truncated(_))
        ));
        let mut buf = BytesMut::from(&b"\x0b0123456789ABCDEF"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(MllpError::TooLarge { .. })
        ));
        let mut empty = BytesMut::new();
        assert!(codec.decode_eof(&mut empty).unwrap().is_none());
    }
}
