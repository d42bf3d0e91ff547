//! See sansfilm_codec::fuzz::decode_instance.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sansfilm_codec::fuzz::decode_instance(data));
