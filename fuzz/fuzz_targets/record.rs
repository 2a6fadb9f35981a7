//! Any bytes into the record judge, for caches of several value types and codecs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permacache::fuzz::judge_record(data));
