//! Log capture: warnings are part of the contract ("a warning once"), so
//! tests read what the library logged at warn level.

use std::sync::{Mutex, Once};

struct Capture;
static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            LOGS.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

/// Starts capturing this process's warnings (once).
pub fn capture() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
    });
}

/// Every warning captured so far.
pub fn all() -> Vec<String> {
    LOGS.lock().unwrap().clone()
}

/// Captured warnings that mention `text`.
pub fn about(text: &str) -> Vec<String> {
    all().into_iter().filter(|m| m.contains(text)).collect()
}

struct Fatal;

impl log::Log for Fatal {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("a warning in a child that must give none: {}", r.args());
            std::process::exit(WARNED);
        }
    }
    fn flush(&self) {}
}

/// The exit code of a child that logged a warning under [`fatal`].
pub const WARNED: i32 = 86;

/// Makes any warning end this (child) process with exit code [`WARNED`]:
/// a child that must run clean fails its test instead of warning unseen.
pub fn fatal() {
    log::set_logger(&Fatal).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
}
