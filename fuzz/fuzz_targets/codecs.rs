//! Any bytes into the value codecs (postcard, CBOR, JSON, raw arrays, shaped arrays), by the tag in the first byte.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permacache::fuzz::decode_value(data));
