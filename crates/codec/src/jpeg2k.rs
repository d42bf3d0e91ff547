//! JPEG 2000 lossless (ISO 15444-1, transfer syntax 1.2.840.10008.1.2.4.90)
//! encoding through OpenJPEG, the library dicom-pixeldata decodes with.
//!
//! jpeg2k's safe API cannot build an image from raw samples, so this module
//! drives openjpeg-sys itself. All `unsafe` of the crate is here: OpenJPEG
//! objects are owned by guards that free them on every path, and the output
//! stream writes into a `Vec` through callbacks that check their pointers.
//!
//! Coding choices for lossless: the reversible 5/3 wavelet, one quality
//! layer, no multiple-component transform (the photometric interpretation
//! stays as it is), a raw J2K codestream (no JP2 box), as DICOM wants.

use std::ffi::c_void;
use std::ptr::NonNull;

use openjpeg_sys as opj;

use crate::image::sample;
use crate::jpegls::FrameSpec;
use crate::{Error, Result};

/// Frees an OpenJPEG codec, image or stream when dropped.
struct Owned<T> {
    ptr: NonNull<T>,
    free: unsafe extern "C" fn(*mut T),
}

impl<T> Owned<T> {
    fn new(ptr: *mut T, free: unsafe extern "C" fn(*mut T), what: &str) -> Result<Self> {
        NonNull::new(ptr)
            .map(|ptr| Owned { ptr, free })
            .ok_or_else(|| Error::Encode(format!("JPEG 2000: OpenJPEG could not create {what}")))
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from the matching OpenJPEG constructor and
        // is freed once, here.
        unsafe { (self.free)(self.ptr.as_ptr()) }
    }
}

/// The in-memory output: bytes written so far and the write position
/// (OpenJPEG seeks back to patch marker lengths).
#[derive(Default)]
struct Sink {
    bytes: Vec<u8>,
    at: usize,
}

unsafe extern "C" fn sink_write(buf: *mut c_void, n: usize, user: *mut c_void) -> usize {
    if buf.is_null() || user.is_null() {
        return usize::MAX; // (OPJ_SIZE_T)-1: an error to OpenJPEG
    }
    // SAFETY: `user` is the `Sink` installed by `encode_frame`, alive for the
    // stream's lifetime; `buf` holds `n` bytes per OpenJPEG's contract.
    let (sink, data) = unsafe {
        (
            &mut *(user as *mut Sink),
            std::slice::from_raw_parts(buf as *const u8, n),
        )
    };
    let end = sink.at + n;
    if sink.bytes.len() < end {
        sink.bytes.resize(end, 0);
    }
    sink.bytes[sink.at..end].copy_from_slice(data);
    sink.at = end;
    n
}

unsafe extern "C" fn sink_skip(n: i64, user: *mut c_void) -> i64 {
    if user.is_null() {
        return -1;
    }
    // SAFETY: as in `sink_write`.
    let sink = unsafe { &mut *(user as *mut Sink) };
    match usize::try_from(sink.at as i64 + n) {
        Ok(at) => {
            sink.at = at;
            n
        }
        Err(_) => -1,
    }
}

unsafe extern "C" fn sink_seek(to: i64, user: *mut c_void) -> i32 {
    if user.is_null() || to < 0 {
        return 0;
    }
    // SAFETY: as in `sink_write`.
    let sink = unsafe { &mut *(user as *mut Sink) };
    sink.at = to as usize;
    1
}

/// OpenJPEG reports errors through a callback; keep the last one.
unsafe extern "C" fn keep_message(msg: *const std::ffi::c_char, user: *mut c_void) {
    if msg.is_null() || user.is_null() {
        return;
    }
    // SAFETY: `user` is the `String` installed by `encode_frame`; `msg` is a
    // NUL-terminated C string per OpenJPEG's contract.
    unsafe {
        let text = std::ffi::CStr::from_ptr(msg).to_string_lossy();
        *(user as *mut String) = text.trim().to_string();
    }
}

/// Encodes one frame (samples interleaved, little-endian; signed samples
/// sign-extended or masked to Bits Stored) losslessly.
pub fn encode_frame(frame: &[u8], spec: &FrameSpec, signed: bool) -> Result<Vec<u8>> {
    let bps = spec.bytes_per_sample;
    if !matches!(bps, 1 | 2) || !matches!(spec.samples, 1 | 3) {
        return Err(Error::Unsupported(format!(
            "JPEG 2000 here codes 1 or 3 samples of 8 or 16 bits, not {} of {}",
            spec.samples,
            bps * 8
        )));
    }
    let (w, h) = (spec.columns, spec.rows);
    if frame.len() != w * h * spec.samples * bps || w == 0 || h == 0 {
        return Err(Error::Corrupt(format!(
            "frame of {} bytes for {w}×{h}×{}×{bps}",
            frame.len(),
            spec.samples
        )));
    }
    let prec = spec.bits_stored as u32;
    let mut params: Vec<opj::opj_image_cmptparm_t> = (0..spec.samples)
        .map(|_| opj::opj_image_cmptparm_t {
            dx: 1,
            dy: 1,
            w: w as u32,
            h: h as u32,
            x0: 0,
            y0: 0,
            prec,
            bpp: prec,
            sgnd: u32::from(signed),
        })
        .collect();
    let space = if spec.samples == 1 {
        opj::OPJ_COLOR_SPACE::OPJ_CLRSPC_GRAY
    } else {
        opj::OPJ_COLOR_SPACE::OPJ_CLRSPC_UNSPECIFIED
    };
    let mut message = String::new();
    let mut sink = Sink::default();
    // SAFETY: every OpenJPEG object is owned by a guard; component buffers
    // are written within w×h as allocated by opj_image_create; the sink and
    // message outlive the codec and stream that point to them.
    unsafe {
        let image = Owned::new(
            opj::opj_image_create(spec.samples as u32, params.as_mut_ptr(), space),
            opj::opj_image_destroy,
            "an image",
        )?;
        let img = image.ptr.as_ptr();
        (*img).x0 = 0;
        (*img).y0 = 0;
        (*img).x1 = w as u32;
        (*img).y1 = h as u32;
        let comps = std::slice::from_raw_parts_mut((*img).comps, spec.samples);
        let shift = 32 - prec;
        for (c, comp) in comps.iter_mut().enumerate() {
            if comp.data.is_null() {
                return Err(Error::Encode("JPEG 2000: no component buffer".into()));
            }
            let data = std::slice::from_raw_parts_mut(comp.data, w * h);
            for (p, out) in data.iter_mut().enumerate() {
                let at = (p * spec.samples + c) * bps;
                let v = sample(&frame[at..at + bps]);
                *out = if signed {
                    ((v << shift) as i32) >> shift
                } else {
                    (v & (u32::MAX >> shift)) as i32
                };
            }
        }

        let codec = Owned::new(
            opj::opj_create_compress(opj::OPJ_CODEC_FORMAT::OPJ_CODEC_J2K),
            opj::opj_destroy_codec,
            "an encoder",
        )?;
        opj::opj_set_error_handler(
            codec.ptr.as_ptr(),
            Some(keep_message),
            &mut message as *mut String as *mut c_void,
        );
        let mut cp = std::mem::zeroed::<opj::opj_cparameters_t>();
        opj::opj_set_default_encoder_parameters(&mut cp);
        cp.tcp_numlayers = 1;
        cp.tcp_rates[0] = 0.0; // 0: lossless
        cp.cp_disto_alloc = 1;
        cp.irreversible = 0;
        cp.tcp_mct = 0;
        // Fewer decomposition levels for small images (each level halves).
        let mut levels = 6;
        while levels > 1 && (w.min(h) >> (levels - 1)) == 0 {
            levels -= 1;
        }
        cp.numresolution = levels;
        if opj::opj_setup_encoder(codec.ptr.as_ptr(), &mut cp, img) != 1 {
            return Err(Error::Encode(format!("JPEG 2000 set-up: {message}")));
        }

        let stream = Owned::new(
            opj::opj_stream_create(1 << 20, 0),
            opj::opj_stream_destroy,
            "a stream",
        )?;
        let s = stream.ptr.as_ptr();
        opj::opj_stream_set_user_data(s, &mut sink as *mut Sink as *mut c_void, None);
        opj::opj_stream_set_write_function(s, Some(sink_write));
        opj::opj_stream_set_skip_function(s, Some(sink_skip));
        opj::opj_stream_set_seek_function(s, Some(sink_seek));
        let ok = opj::opj_start_compress(codec.ptr.as_ptr(), img, s) == 1
            && opj::opj_encode(codec.ptr.as_ptr(), s) == 1
            && opj::opj_end_compress(codec.ptr.as_ptr(), s) == 1;
        if !ok {
            return Err(Error::Encode(format!("JPEG 2000: {message}")));
        }
        // The stream flushes into the sink when destroyed.
        drop(stream);
        drop(codec);
        drop(image);
    }
    Ok(sink.bytes)
}

/// What the SIZ segment of a JPEG 2000 codestream says of the image
/// (ISO 15444-1 A.5.1), read to check it against the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Width of the image area (Xsiz − XOsiz).
    pub columns: usize,
    /// Height of the image area (Ysiz − YOsiz).
    pub rows: usize,
    /// Components (Csiz).
    pub components: usize,
    /// Precision of the first component, in bits.
    pub precision: usize,
    /// Whether the first component is signed.
    pub signed: bool,
    /// Whether the coding style (COD segment of the main header) applies the
    /// multiple component transform: a decoder then hands back RGB from
    /// YBR_RCT or YBR_ICT (PS3.5 A.4.4).
    pub mct: bool,
}

impl Header {
    /// Reads the SIZ segment that follows the start of codestream (a JP2
    /// wrapper, which some writers add, is looked through).
    pub fn read(data: &[u8]) -> Result<Header> {
        let corrupt = |what: &str| Error::Corrupt(format!("JPEG 2000 codestream: {what}"));
        let start = data
            .windows(4)
            .take(4096)
            .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])
            .ok_or_else(|| corrupt("no start of codestream and SIZ segment"))?;
        let siz = data
            .get(start + 4..start + 4 + 41)
            .ok_or_else(|| corrupt("short SIZ segment"))?;
        let u32_at = |i: usize| u32::from_be_bytes([siz[i], siz[i + 1], siz[i + 2], siz[i + 3]]);
        let (x, y, x0, y0) = (u32_at(4), u32_at(8), u32_at(12), u32_at(16));
        if x0 > x || y0 > y {
            return Err(corrupt("image offset beyond the image"));
        }
        let ssiz = siz[38];
        Ok(Header {
            columns: (x - x0) as usize,
            rows: (y - y0) as usize,
            components: u16::from_be_bytes([siz[36], siz[37]]) as usize,
            precision: (ssiz & 0x7F) as usize + 1,
            signed: ssiz & 0x80 != 0,
            mct: main_header_mct(&data[start + 2..]),
        })
    }
}

/// The multiple component transform flag of the COD segment, looked for
/// among the main header's marker segments (from SIZ to the first tile).
fn main_header_mct(mut segments: &[u8]) -> bool {
    while let [0xFF, marker, l0, l1, ..] = *segments {
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        match marker {
            // SOT, SOD: the main header is over.
            0x90 | 0x93 => return false,
            // COD: Lcod(2) Scod(1) progression(1) layers(2) MCT(1).
            0x52 => return segments.get(8).is_some_and(|&m| m != 0),
            _ => {}
        }
        if len < 2 {
            return false;
        }
        segments = segments.get(2 + len..).unwrap_or_default();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(codestream: &[u8]) -> Vec<i32> {
        let img = jpeg2k::Image::from_bytes(codestream).unwrap();
        let comps = img.components();
        let n = comps[0].data().len();
        (0..n)
            .flat_map(|p| comps.iter().map(move |c| c.data()[p]))
            .collect()
    }

    #[test]
    fn frames_round_trip_through_openjpeg() {
        let mut x = 12345u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        // 12-bit unsigned, odd size.
        let values: Vec<u16> = (0..7 * 5).map(|_| (next() & 0xFFF) as u16).collect();
        let frame: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let spec = FrameSpec {
            columns: 7,
            rows: 5,
            samples: 1,
            bytes_per_sample: 2,
            bits_stored: 12,
        };
        let coded = encode_frame(&frame, &spec, false).unwrap();
        assert_eq!(
            decode(&coded),
            values.iter().map(|&v| i32::from(v)).collect::<Vec<_>>()
        );
        // 16-bit signed.
        let values: Vec<i16> = (0..16 * 16).map(|_| next() as i16).collect();
        let frame: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let spec = FrameSpec {
            columns: 16,
            rows: 16,
            samples: 1,
            bytes_per_sample: 2,
            bits_stored: 16,
        };
        let coded = encode_frame(&frame, &spec, true).unwrap();
        assert_eq!(
            decode(&coded),
            values.iter().map(|&v| i32::from(v)).collect::<Vec<_>>()
        );
        // 8-bit RGB, one pixel.
        let frame = [1u8, 200, 255];
        let spec = FrameSpec {
            columns: 1,
            rows: 1,
            samples: 3,
            bytes_per_sample: 1,
            bits_stored: 8,
        };
        let coded = encode_frame(&frame, &spec, false).unwrap();
        assert_eq!(decode(&coded), [1, 200, 255]);
    }
}
