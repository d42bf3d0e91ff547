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

/// A peer's compressor: its name, the transfer syntax it writes, and the
/// command compressing `in` into `out`.
struct Compressor {
    name: &'static str,
    syntax: &'static str,
    command: fn(&Path, &Path) -> Command,
}

const COMPRESSORS: &[Compressor] = &[
    Compressor {
        name: "dcmcjpls",
        syntax: "1.2.840.10008.1.2.4.80",
        command: |i, o| with_files(dcmtk("dcmcjpls"), i, o),
    },
    Compressor {
        name: "dcmcrle",
        syntax: "1.2.840.10008.1.2.5",
        command: |i, o| with_files(dcmtk("dcmcrle"), i, o),
    },
    Compressor {
        name: "dcmcjpeg (lossless SV1)",
        syntax: "1.2.840.10008.1.2.4.70",
        command: |i, o| {
            let mut c = dcmtk("dcmcjpeg");
            c.arg("--encode-lossless-sv1");
            with_files(c, i, o)
        },
    },
    Compressor {
        name: "gdcmconv --jpegls",
        syntax: "1.2.840.10008.1.2.4.80",
        command: |i, o| {
            let mut c = gdcm("gdcmconv");
            c.arg("--jpegls");
            with_files(c, i, o)
        },
    },
    Compressor {
        name: "gdcmconv --j2k",
        syntax: "1.2.840.10008.1.2.4.90",
        command: |i, o| {
            let mut c = gdcm("gdcmconv");
            c.arg("--j2k");
            with_files(c, i, o)
        },
    },
    Compressor {
        name: "gdcmconv --rle",
        syntax: "1.2.840.10008.1.2.5",
        command: |i, o| {
            let mut c = gdcm("gdcmconv");
            c.arg("--rle");
            with_files(c, i, o)
        },
    },
    Compressor {
        name: "gdcmconv --jpeg",
        syntax: "1.2.840.10008.1.2.4.70",
        command: |i, o| {
            let mut c = gdcm("gdcmconv");
            c.arg("--jpeg");
            with_files(c, i, o)
        },
    },
];

/// Pairs the peer itself cannot compress (GDCM 3.0.21 aborts on this odd-sized
/// RGB image: a double free in its JPEG 2000 path, an assertion in its RLE
/// coder); nothing is left for sansfilm to decode.
const PEER_CANNOT: &[(&str, &str)] = &[
    ("pydicom/SC_rgb_small_odd.dcm", "gdcmconv --j2k"),
    ("pydicom/SC_rgb_small_odd.dcm", "gdcmconv --rle"),
];

fn with_files(mut c: Command, input: &Path, output: &Path) -> Command {
    c.arg(input).arg(output);
    c
}

/// pydicom's MD5 of each file's decoded pixels (see peers/pixel_md5.py).
fn pydicom_md5s(paths: &[PathBuf]) -> Vec<String> {
    let out = python()
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pixel_md5.py"))
        .args(paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn files_compressed_by_dcmtk_and_gdcm_decode_to_the_original_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let originals: Vec<PathBuf> = ORIGINALS.iter().map(|f| fixtures().join(f)).collect();
    let reference = pydicom_md5s(&originals);
    let mut problems = vec![];
    let mut decoded = vec![];
    let mut skipped = 0;
    for (n, original) in originals.iter().enumerate() {
        for (k, c) in COMPRESSORS.iter().enumerate() {
            let what = format!("{} by {}", ORIGINALS[n], c.name);
            let compressed = dir.path().join(format!("{n}-{k}.dcm"));
            let out = (c.command)(original, &compressed).output().unwrap();
            if !out.status.success() && PEER_CANNOT.contains(&(ORIGINALS[n], c.name)) {
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
            if syntax != c.syntax {
                problems.push(format!("{what}: the peer wrote {syntax:?}"));
                continue;
            }
            let back = dir.path().join(format!("{n}-{k}-explicit.dcm"));
            let (code, _, err) = sansfilm(&[
                "transcode",
                "--to",
                "explicit",
                compressed.to_str().unwrap(),
                back.to_str().unwrap(),
            ]);
            if code != 0 {
                problems.push(format!("{what}: sansfilm could not decode it: {err}"));
                continue;
            }
            decoded.push((what, back, n));
        }
    }
    let paths: Vec<PathBuf> = decoded.iter().map(|(_, p, _)| p.clone()).collect();
    for ((what, _, n), md5) in decoded.iter().zip(pydicom_md5s(&paths)) {
        if md5 != reference[*n] {
            problems.push(format!("{what}: pixels {md5}, original {}", reference[*n]));
        }
    }
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
    let reference = pydicom_md5s(&originals);
    // (target, decoder's name, the decoder)
    type Decoder = (&'static str, &'static str, fn() -> Command);
    let decoders: &[Decoder] = &[
        ("jpegls", "dcmdjpls", || dcmtk("dcmdjpls")),
        ("rle", "dcmdrle", || dcmtk("dcmdrle")),
        ("jpegls", "gdcmconv --raw", raw_gdcm),
        ("jpeg2000", "gdcmconv --raw", raw_gdcm),
        ("rle", "gdcmconv --raw", raw_gdcm),
    ];
    let mut problems = vec![];
    let mut decoded = vec![];
    for (n, original) in originals.iter().enumerate() {
        for target in ["jpegls", "jpeg2000", "rle"] {
            let ours = dir.path().join(format!("{n}-{target}.dcm"));
            let (code, _, err) = sansfilm(&[
                "transcode",
                "--to",
                target,
                original.to_str().unwrap(),
                ours.to_str().unwrap(),
            ]);
            if code != 0 {
                problems.push(format!("{}: sansfilm --to {target}: {err}", ORIGINALS[n]));
                continue;
            }
            for (k, (_, name, decoder)) in decoders
                .iter()
                .enumerate()
                .filter(|(_, (t, _, _))| *t == target)
            {
                let what = format!("{} --to {target}, decoded by {name}", ORIGINALS[n]);
                let back = dir.path().join(format!("{n}-{target}-{k}.dcm"));
                let out = with_files(decoder(), &ours, &back).output().unwrap();
                if !out.status.success() {
                    problems.push(format!("{what}: {}", String::from_utf8_lossy(&out.stderr)));
                    continue;
                }
                decoded.push((what, back, n));
            }
        }
    }
    let paths: Vec<PathBuf> = decoded.iter().map(|(_, p, _)| p.clone()).collect();
    for ((what, _, n), md5) in decoded.iter().zip(pydicom_md5s(&paths)) {
        if md5 != reference[*n] {
            problems.push(format!("{what}: pixels {md5}, original {}", reference[*n]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(decoded.len(), ORIGINALS.len() * decoders.len());
}

fn raw_gdcm() -> Command {
    let mut c = gdcm("gdcmconv");
    c.arg("--raw");
    c
}
