//! Any bytes into the remote unsealer (Redis and object-store records), with and without a secret.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permacache::fuzz::unseal(data));
