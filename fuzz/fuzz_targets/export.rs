//! Any bytes into the export file parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permacache::fuzz::read_export(data));
