//! See sansfilm_dimse::fuzz::pdu.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sansfilm_dimse::fuzz::pdu(data));
