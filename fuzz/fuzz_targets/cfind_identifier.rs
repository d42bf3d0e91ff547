//! See sansfilm_dimse::fuzz::identifier.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sansfilm_dimse::fuzz::identifier(data));
