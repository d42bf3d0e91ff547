//! See sansfilm_codec::fuzz::rle_decode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sansfilm_codec::fuzz::rle_decode(data));
