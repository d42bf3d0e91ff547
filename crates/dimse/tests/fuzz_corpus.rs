//! Replays the network fuzz targets' inputs (see `fuzz/README.md`) through
//! the same entry points in every test run, without a fuzzer: valid seeds
//! (an A-ASSOCIATE-RQ, P-DATA-TF with a command, command sets, C-FIND
//! identifiers) and the hostile messages of the hardening work (lengths that
//! lie), every truncation and a sweep of byte changes of each, and every
//! file committed under `fuzz/seeds/` and `fuzz/regressions/`. A panic fails
//! the test, and so does an allocation far beyond the input (the fuzzer's
//! memory limit).

use std::path::{Path, PathBuf};

use dicom_ul::pdu::{
    AssociationRQ, PDataValue, PDataValueType, Pdu, PresentationContextProposed, UserVariableItem,
};
use sansfilm_dimse::command::Command;
use sansfilm_dimse::fuzz;

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

const TARGETS: [(&str, Target); 3] = [
    ("dimse_pdu", fuzz::pdu),
    ("dimse_command", fuzz::command),
    ("cfind_identifier", fuzz::identifier),
];

fn pdu_bytes(pdu: &Pdu) -> Vec<u8> {
    let mut out = vec![];
    dicom_ul::write_pdu(&mut out, pdu).unwrap();
    out
}

fn explicit(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut v = vec![];
    v.extend_from_slice(&tag.0.to_le_bytes());
    v.extend_from_slice(&tag.1.to_le_bytes());
    v.extend_from_slice(vr);
    if matches!(vr, b"OB" | b"SQ" | b"UN") {
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&(value.len() as u32).to_le_bytes());
    } else {
        v.extend_from_slice(&(value.len() as u16).to_le_bytes());
    }
    v.extend_from_slice(value);
    v
}

/// Valid inputs of each target, and the hostile ones found by hand.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let store = Command::store_rq(7, "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4")
        .encode()
        .unwrap();
    let echo = Command::echo_rq(1).encode().unwrap();
    let mut lying_command = echo.clone();
    lying_command.extend([0x00, 0x00, 0x00, 0x80, 0xF0, 0xFF, 0xFF, 0xFF]);
    lying_command.extend([0u8; 10]);
    match target {
        "dimse_pdu" => {
            let rq = Pdu::AssociationRQ(AssociationRQ {
                protocol_version: 1,
                calling_ae_title: "MODALITY".into(),
                called_ae_title: "SANSFILM".into(),
                application_context_name: "1.2.840.10008.3.1.1.1".into(),
                presentation_contexts: vec![
                    PresentationContextProposed {
                        id: 1,
                        abstract_syntax: "1.2.840.10008.5.1.4.1.1.2".into(),
                        transfer_syntaxes: vec![
                            "1.2.840.10008.1.2.1".into(),
                            "1.2.840.10008.1.2".into(),
                        ],
                    },
                    PresentationContextProposed {
                        id: 3,
                        abstract_syntax: "1.2.840.10008.1.1".into(),
                        transfer_syntaxes: vec!["1.2.840.10008.1.2".into()],
                    },
                ],
                user_variables: vec![
                    UserVariableItem::MaxLength(16384),
                    UserVariableItem::ImplementationClassUID("1.2.3".into()),
                    UserVariableItem::ImplementationVersionName("FUZZ".into()),
                ],
            });
            let pdata = |data: Vec<u8>| Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: 1,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data,
                }],
            };
            vec![
                pdu_bytes(&rq),
                pdu_bytes(&pdata(store.clone())),
                pdu_bytes(&pdata(lying_command.clone())),
                pdu_bytes(&Pdu::ReleaseRQ),
            ]
        }
        "dimse_command" => vec![store, echo, lying_command],
        "cfind_identifier" => {
            let mut query = explicit((0x0008, 0x0050), b"SH", b"ACC*");
            query.extend(explicit((0x0010, 0x0010), b"PN", b"MARTIN^*"));
            let mut item = explicit((0x0040, 0x0001), b"AE", b"CT01");
            item.extend(explicit((0x0040, 0x0002), b"DA", b"20261201-"));
            let mut seq = explicit((0x0040, 0x0100), b"SQ", &[]);
            seq.truncate(8);
            seq.extend(u32::MAX.to_le_bytes());
            seq.extend([0xFE, 0xFF, 0x00, 0xE0]);
            seq.extend((item.len() as u32).to_le_bytes());
            seq.extend(&item);
            seq.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
            query.extend(seq);
            // The hardening issue's lie: 0xFFFFFFF0 bytes declared, 10 there.
            let mut lie = explicit((0x0010, 0x0010), b"PN", b"");
            lie.extend([
                0x09, 0x00, 0x01, 0x10, b'O', b'B', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF,
            ]);
            lie.extend([0u8; 10]);
            let with = |ts: u8, body: &[u8]| [&[ts][..], body].concat();
            vec![with(1, &query), with(1, &lie), with(0, &lie)]
        }
        other => panic!("no seeds for {other}"),
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn committed(kind: &str, target: &str) -> Vec<Vec<u8>> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return vec![];
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Each seed, its truncations and single-byte changes through `f`.
fn exercise(f: Target, input: &[u8]) {
    f(input);
    for len in 0..input.len() {
        f(&input[..len]);
    }
    let mut changed = input.to_vec();
    for i in 0..changed.len() {
        for v in [0x00, 0xFF, 0x7F, changed[i] ^ 0x80] {
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
        let stored = [committed("seeds", name), committed("regressions", name)].concat();
        for input in stored {
            f(&input);
            assert_no_huge_allocation(name);
        }
    }
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
