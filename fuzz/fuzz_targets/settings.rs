//! Any bytes into the settings string reader: it may refuse them only with a
//! panic of its own (`permacache: ...`, a compile error where it runs).
#![no_main]

use std::sync::Once;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on any panic; here the reader's own refusals
    // unwind to `read_settings`, and any other panic still aborts.
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !message.starts_with("permacache: ") {
                eprintln!("{info}");
                std::process::abort();
            }
        }))
    });
    let _ = permacache::fuzz::read_settings(data);
});
