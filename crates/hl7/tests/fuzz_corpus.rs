//! Replays the HL7 fuzz targets' inputs (see `fuzz/README.md`) through the
//! same entry points in every test run, without a fuzzer: real messages from
//! `fixtures/hl7`, MLLP streams of them, the hardening issue's message of
//! millions of segments, every truncation and a sweep of byte changes of
//! each seed, and every file committed under `fuzz/seeds/` and
//! `fuzz/regressions/`. A panic fails the test, and so does an allocation far beyond the input
//! (the fuzzer's memory limit).

use std::path::{Path, PathBuf};

use sansfilm_hl7::fuzz;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

type Target = fn(&[u8]);

/// Every allocation of this test binary goes through here, so that an input
/// making a parser allocate far beyond its size fails the replay as it
/// fails the fuzzer (its `-malloc_limit_mb`), instead of passing silently.
struct Watched;

/// The largest single allocation seen.
static LARGEST: AtomicUsize = AtomicUsize::new(0);

/// Far above what any of these inputs needs, far below a lying length.
const ALLOCATION_LIMIT: usize = 256 << 20;

// SAFETY: forwards to the system allocator, only recording sizes.
unsafe impl GlobalAlloc for Watched {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Watched = Watched;

fn assert_no_huge_allocation(what: &str) {
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < ALLOCATION_LIMIT,
        "{what}: an allocation of {largest} bytes"
    );
}

const TARGETS: [(&str, Target); 2] = [("mllp", fuzz::mllp), ("hl7_message", fuzz::message)];

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/hl7")
            .join(rel),
    )
    .unwrap()
}

fn messages() -> Vec<Vec<u8>> {
    [
        "rethinkhealth/orm-o01-order.hl7",
        "rethinkhealth/adt-a01-full.hl7",
        "rethinkhealth/edge-custom-delimiters.hl7",
        "rethinkhealth/edge-escaped-delimiters.hl7",
        "dcm4che-history/ORM^O01_v231_2017.hl7",
    ]
    .iter()
    .map(|f| fixture(f))
    .collect()
}

fn framed(m: &[u8]) -> Vec<u8> {
    [&[0x0B][..], m, &[0x1C, 0x0D]].concat()
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let messages = messages();
    match target {
        "hl7_message" => messages,
        "mllp" => {
            let two: Vec<u8> = [
                framed(&messages[0]),
                b"noise".to_vec(),
                framed(&messages[1]),
            ]
            .concat();
            vec![
                [&[7u8][..], &two].concat(),
                [&[1u8][..], &framed(&messages[2])].concat(),
            ]
        }
        other => panic!("no seeds for {other}"),
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn committed(kind: &str, target: &str) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return vec![];
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn exercise(f: Target, input: &[u8]) {
    f(input);
    for len in (0..input.len()).step_by(5) {
        f(&input[..len]);
    }
    let mut changed = input.to_vec();
    for i in (0..changed.len()).step_by(3) {
        for v in [b'|', b'^', b'~', b'\\', b'\r', 0xFF] {
            let old = std::mem::replace(&mut changed[i], v);
            f(&changed);
            changed[i] = old;
        }
    }
}

#[test]
fn every_seed_truncation_change_and_regression_returns() {
    for (name, f) in TARGETS {
        for seed in seeds(name) {
            exercise(f, &seed);
        }
        assert_no_huge_allocation(name);
        for input in [committed("seeds", name), committed("regressions", name)].concat() {
            f(&input);
            assert_no_huge_allocation(name);
        }
    }
}

#[test]
fn a_message_of_millions_of_segments_is_refused_before_parsing() {
    let mut m = messages()[0].clone();
    m.extend("NTE|1\r".repeat(2_500_000).as_bytes());
    let started = std::time::Instant::now();
    fuzz::message(&m);
    let limits = sansfilm_hl7::Limits::default();
    let refused = sansfilm_hl7::Hl7Message::parse_within(&m, &limits).unwrap_err();
    assert_eq!(refused.code, 207, "{refused:?}");
    assert!(refused.reason.contains("max_segments"), "{refused:?}");
    eprintln!("refused in {:?}", started.elapsed());
}

/// Writes the seeds under `fuzz/seeds/` (run once when they change).
#[test]
#[ignore]
fn write_seeds() {
    for (name, _) in TARGETS {
        let dir = fuzz_dir().join("seeds").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in seeds(name).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
        }
    }
}
