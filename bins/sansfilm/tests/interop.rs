//! Files compressed by other toolkits — DCMTK (`dcmcjpls`, `dcmcrle`,
//! `dcmcjpeg`) and GDCM (`gdcmconv`) — are decoded by `sansfilm transcode
//! --to explicit` to the pixels of the original, as pydicom (an independent
//! reader) sees both.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Native originals: 16-bit signed and unsigned, 8-bit, RGB (planar 0 and 1),
/// odd sizes, multi-frame, palette colour.
const ORIGINALS: &[&str] = &[
    "nema-wg04/CT1_UNC.dcm",
    "nema-wg04/MR2_UNC.dcm",
    "nema-wg04/NM1_UNC.dcm",
    "nema-wg04/US1_UNC.dcm",
    "pydicom/MR_small.dcm",
    "pydicom/SC_rgb_small_odd.dcm",
    "pydicom-data/color-pl.dcm",
    "derived/OT-PAL-8-face.dcm",
];

/// A tool of another toolkit run as `TOOL ARGS... IN OUT`.
struct PeerTool {
    tool: &'static str,
    args: &'static [&'static str],
}

impl PeerTool {
    const fn new(tool: &'static str, args: &'static [&'static str]) -> PeerTool {
        PeerTool { tool, args }
    }

    fn name(&self) -> String {
        std::iter::once(self.tool)
            .chain(self.args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn command(&self, input: &Path, output: &Path) -> Command {
        let mut c = if self.tool.starts_with("gdcm") {
            gdcm(self.tool)
        } else {
            dcmtk(self.tool)
        };
        c.args(self.args).arg(input).arg(output);
        c
    }
}

/// The peers' compressors and the transfer syntax each writes.
const COMPRESSORS: &[(PeerTool, &str)] = &[
    (PeerTool::new("dcmcjpls", &[]), "1.2.840.10008.1.2.4.80"),
    (PeerTool::new("dcmcrle", &[]), "1.2.840.10008.1.2.5"),
    (
        PeerTool::new("dcmcjpeg", &["--encode-lossless-sv1"]),
        "1.2.840.10008.1.2.4.70",
    ),
    (
        PeerTool::new("gdcmconv", &["--jpegls"]),
        "1.2.840.10008.1.2.4.80",
    ),
    (
        PeerTool::new("gdcmconv", &["--j2k"]),
        "1.2.840.10008.1.2.4.90",
    ),
    (PeerTool::new("gdcmconv", &["--rle"]), "1.2.840.10008.1.2.5"),
    (
        PeerTool::new("gdcmconv", &["--jpeg"]),
        "1.2.840.10008.1.2.4.70",
    ),
];

/// The peers' decoders, by the target of ours they decode (DCMTK has no
/// free JPEG 2000 decoder).
const DECODERS: &[(&str, PeerTool)] = &[
    ("jpegls", PeerTool::new("dcmdjpls", &[])),
    ("rle", PeerTool::new("dcmdrle", &[])),
    ("jpegls", PeerTool::new("gdcmconv", &["--raw"])),
    ("jpeg2000", PeerTool::new("gdcmconv", &["--raw"])),
    ("rle", PeerTool::new("gdcmconv", &["--raw"])),
];

/// Pairs the peer itself cannot compress (GDCM 3.0.21 aborts on this odd-sized
/// RGB image: a double free in its JPEG 2000 path, an assertion in its RLE
/// coder); nothing is left for sansfilm to decode.
const PEER_CANNOT: &[(&str, &str)] = &[
    ("pydicom/SC_rgb_small_odd.dcm", "gdcmconv --j2k"),
    ("pydicom/SC_rgb_small_odd.dcm", "gdcmconv --rle"),
];

/// Adds a problem for each decoded file (what, path, original's index)
/// whose pixels, as pydicom reads them, differ from its original's.
fn compare_with_originals(
    decoded: &[(String, PathBuf, usize)],
    reference: &[String],
    problems: &mut Vec<String>,
) {
    let paths: Vec<PathBuf> = decoded.iter().map(|(_, p, _)| p.clone()).collect();
    for ((what, _, n), md5) in decoded.iter().zip(pydicom_pixel_md5s(&paths)) {
        if md5 != reference[*n] {
            problems.push(format!("{what}: pixels {md5}, original {}", reference[*n]));
        }
    }
}

#[test]
fn files_compressed_by_dcmtk_and_gdcm_decode_to_the_original_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let originals: Vec<PathBuf> = ORIGINALS.iter().map(|f| fixtures().join(f)).collect();
    let reference = pydicom_pixel_md5s(&originals);
    let mut problems = vec![];
    let mut decoded = vec![];
    let mut skipped = 0;
    for (n, original) in originals.iter().enumerate() {
        for (k, (peer, peer_syntax)) in COMPRESSORS.iter().enumerate() {
            let what = format!("{} by {}", ORIGINALS[n], peer.name());
            let compressed = dir.path().join(format!("{n}-{k}.dcm"));
            let out = peer.command(original, &compressed).output().unwrap();
            if !out.status.success() && PEER_CANNOT.contains(&(ORIGINALS[n], &peer.name())) {
                skipped += 1;
                continue;
            }
            if !out.status.success() {
                problems.push(format!(
                    "{what}: the peer failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            }
            let syntax = dicom_object::open_file(&compressed)
                .map(|o| {
                    o.meta()
                        .transfer_syntax()
                        .trim_end_matches('\0')
                        .to_string()
                })
                .unwrap_or_default();
            if syntax != *peer_syntax {
                problems.push(format!("{what}: the peer wrote {syntax:?}"));
                continue;
            }
            let back = dir.path().join(format!("{n}-{k}-explicit.dcm"));
            let (code, _, err) = transcode("explicit", &compressed, &back);
            if code != 0 {
                problems.push(format!("{what}: sansfilm could not decode it: {err}"));
                continue;
            }
            decoded.push((what, back, n));
        }
    }
    compare_with_originals(&decoded, &reference, &mut problems);
    assert!(
        problems.is_empty(),
        "{} of {} decodings wrong:\n{}",
        problems.len(),
        ORIGINALS.len() * COMPRESSORS.len(),
        problems.join("\n")
    );
    assert_eq!(decoded.len() + skipped, ORIGINALS.len() * COMPRESSORS.len());
}

/// The other way: what `sansfilm transcode` writes, DCMTK (`dcmdjpls`,
/// `dcmdrle`; DCMTK has no free JPEG 2000 decoder) and GDCM (`gdcmconv
/// --raw`) decode to the original pixels.
#[test]
fn files_compressed_by_sansfilm_decode_with_dcmtk_and_gdcm() {
    let dir = tempfile::tempdir().unwrap();
    let originals: Vec<PathBuf> = ORIGINALS.iter().map(|f| fixtures().join(f)).collect();
    let reference = pydicom_pixel_md5s(&originals);
    let mut problems = vec![];
    let mut decoded = vec![];
    for (n, original) in originals.iter().enumerate() {
        for target in ["jpegls", "jpeg2000", "rle"] {
            let ours = dir.path().join(format!("{n}-{target}.dcm"));
            let (code, _, err) = transcode(target, original, &ours);
            if code != 0 {
                problems.push(format!("{}: sansfilm --to {target}: {err}", ORIGINALS[n]));
                continue;
            }
            for (k, (_, peer)) in DECODERS
                .iter()
                .enumerate()
                .filter(|(_, (t, _))| *t == target)
            {
                let what = format!("{} --to {target}, decoded by {}", ORIGINALS[n], peer.name());
                let back = dir.path().join(format!("{n}-{target}-{k}.dcm"));
                let out = peer.command(&ours, &back).output().unwrap();
                if !out.status.success() {
                    problems.push(format!("{what}: {}", String::from_utf8_lossy(&out.stderr)));
                    continue;
                }
                decoded.push((what, back, n));
            }
        }
    }
    compare_with_originals(&decoded, &reference, &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(decoded.len(), ORIGINALS.len() * DECODERS.len());
}
