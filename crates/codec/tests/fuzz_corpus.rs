//! Replays the fuzz targets' inputs (see `fuzz/README.md`) through the same
//! entry points in every test run, without a fuzzer: valid seeds made by the
//! encoders, every truncation and a sweep of single-byte changes of them,
//! and every file committed under `fuzz/seeds/` and `fuzz/regressions/`
//! (inputs that once failed). A panic fails the test.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sansfilm_codec::fuzz;
use sansfilm_codec::jpegls::{self, FrameSpec};
use sansfilm_codec::rle::{self, FrameLayout};
use sansfilm_codec::transcode::{Target as Syntax, transcode};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("rle_decode", fuzz::rle_decode),
    ("jpegls_decode", fuzz::jpegls_decode),
    ("jpeg2k_header", fuzz::jpeg2k_header),
    ("decode_instance", fuzz::decode_instance),
];

fn noise(n: usize, mut x: u32) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 3) as u8 & 0x7F
        })
        .collect()
}

/// Valid inputs of each target, made by this crate's encoders.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let gray = FrameSpec {
        columns: 5,
        rows: 4,
        samples: 1,
        bytes_per_sample: 1,
        bits_stored: 8,
    };
    let rgb = FrameSpec { samples: 3, ..gray };
    let jls_gray = jpegls::encode_frame(&noise(20, 1), &gray).unwrap();
    let jls_rgb = jpegls::encode_frame(&noise(60, 2), &rgb).unwrap();
    let j2k = sansfilm_codec::jpeg2k::encode_frame(&noise(20, 3), &gray, false).unwrap();
    let rle_layout = FrameLayout {
        pixels: 20,
        samples: 1,
        bytes_per_sample: 1,
        planar: false,
    };
    let rle = rle::encode_frame(&noise(20, 4), &rle_layout).unwrap();
    // decode_instance: 8 header bytes (see sansfilm_codec::fuzz), then data.
    let instance = |ts: u8, shape: u8, codestream: &[u8]| {
        let mut v = vec![ts, 4, 5, shape, 0, 0, 0, 0];
        v.extend_from_slice(codestream);
        v
    };
    match target {
        // pixels = 20: a = 1, b = 0x30 (20 - 1 = 0x013)
        "rle_decode" => vec![[&[0x01, 0x30][..], &rle].concat()],
        "jpegls_decode" => vec![jls_gray, jls_rgb],
        "jpeg2k_header" => vec![j2k],
        "decode_instance" => vec![
            instance(0, 0x1C, &jls_gray),
            instance(1, 0x1C, &j2k),
            instance(2, 0x1C, &rle),
        ],
        _ => unreachable!(),
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Set by the panic hook: the crate catches panics of dicom-pixeldata's
/// adapters and turns them into errors, which a fuzzer still reports (its
/// hook aborts); so does this test.
static PANICKED: AtomicBool = AtomicBool::new(false);

#[test]
fn fuzz_inputs_never_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        default_hook(info);
    }));
    let mut target_of_panic = vec![];
    let mut check = |name: &str, input: &[u8], target: Target| {
        target(input);
        if PANICKED.swap(false, Ordering::SeqCst) {
            target_of_panic.push(format!("{name}: {input:02x?}"));
        }
    };
    for (name, target) in TARGETS {
        let mut inputs = seeds(name);
        for sub in ["seeds", "regressions"] {
            for f in files(&fuzz_dir().join(sub).join(name)) {
                inputs.push(std::fs::read(f).unwrap());
            }
        }
        let mut runs = 0;
        for input in &inputs {
            for cut in 0..input.len() {
                check(name, &input[..cut], target);
                runs += 1;
            }
            for i in (0..input.len()).step_by(3) {
                for v in [0x00, 0xFF, input[i] ^ 0x80] {
                    let mut changed = input.clone();
                    changed[i] = v;
                    check(name, &changed, target);
                    runs += 1;
                }
            }
        }
        println!("{name}: {} inputs, {runs} runs", inputs.len());
    }
    assert!(
        target_of_panic.is_empty(),
        "panics (caught or not) on:\n{}",
        target_of_panic.join("\n")
    );
}

/// The seeds are valid inputs: each decodes (so the runs above start from
/// real codestreams, not from garbage the decoders refuse at once).
#[test]
fn seeds_decode() {
    let rle = &seeds("rle_decode")[0];
    let layout = FrameLayout {
        pixels: 20,
        samples: 1,
        bytes_per_sample: 1,
        planar: false,
    };
    assert_eq!(rle::decode_frame(&rle[2..], &layout).unwrap(), noise(20, 4));
    for s in seeds("jpegls_decode") {
        jpegls::decode_frame(&s).unwrap();
    }
    for s in seeds("decode_instance") {
        let obj = fuzz::instance(&s).unwrap();
        transcode(&obj, Syntax::Explicit).unwrap();
    }
    let h = sansfilm_codec::jpeg2k::Header::read(&seeds("jpeg2k_header")[0]).unwrap();
    assert_eq!((h.columns, h.rows, h.components, h.precision), (5, 4, 1, 8));
}

/// Writes the seeds as the fuzzer's starting corpus (`fuzz/seeds/<target>/`).
/// Run by hand: `cargo test -p sansfilm-codec --test fuzz_corpus -- --ignored`.
#[test]
#[ignore]
fn write_seed_corpus() {
    for (name, _) in TARGETS {
        let dir = fuzz_dir().join("seeds").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds(name).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
        }
    }
}
