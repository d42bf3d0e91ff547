//! See sansfilm_hl7::fuzz::mllp.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sansfilm_hl7::fuzz::mllp(data));
