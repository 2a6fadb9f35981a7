//! Modes: whether cached functions read and write the store. One mode for the
//! process (from `PERMACACHE_MODE` at start, or [`set_mode`]) and an override
//! for the current thread during a closure ([`with_mode`]).

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use once_cell::sync::Lazy;

/// How cached functions use the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Read hits, compute and store misses.
    #[default]
    Normal,
    /// Never read or write the store: every call computes.
    Off,
    /// A miss panics with a [`CacheMiss`] payload; a hit returns normally.
    /// For jobs that must only read a populated cache.
    ErrorOnMiss,
    /// Recompute every call and overwrite the stored entry.
    Refresh,
    /// Read hits; compute misses without storing them.
    ReadOnly,
}

impl Mode {
    fn to_u8(self) -> u8 {
        match self {
            Mode::Normal => 0,
            Mode::Off => 1,
            Mode::ErrorOnMiss => 2,
            Mode::Refresh => 3,
            Mode::ReadOnly => 4,
        }
    }

    fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::Off,
            2 => Mode::ErrorOnMiss,
            3 => Mode::Refresh,
            4 => Mode::ReadOnly,
            _ => Mode::Normal,
        }
    }

    /// Parses the spelling `PERMACACHE_MODE` takes: `normal`, `off`,
    /// `error-on-miss`, `refresh`, `read-only`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim() {
            "normal" | "" => Some(Mode::Normal),
            "off" => Some(Mode::Off),
            "error-on-miss" => Some(Mode::ErrorOnMiss),
            "refresh" => Some(Mode::Refresh),
            "read-only" => Some(Mode::ReadOnly),
            _ => None,
        }
    }
}

static PROCESS: Lazy<AtomicU8> = Lazy::new(|| {
    let mode = match std::env::var("PERMACACHE_MODE") {
        Ok(s) => Mode::parse(&s).unwrap_or_else(|| {
            // A misspelt mode may have meant `read-only` or `off`: guessing
            // `normal` would write. Nothing is read or written until a valid
            // mode is set, and the person who set it is told on stderr, not
            // only through a logger they may not have.
            let message = format!(
                "permacache: PERMACACHE_MODE={s:?} is not a mode; expected one of normal, off, error-on-miss, refresh, read-only. The cache is off (nothing read or written) until a valid mode is set"
            );
            eprintln!("{message}");
            log::error!("{message}");
            Mode::Off
        }),
        Err(_) => Mode::Normal,
    };
    AtomicU8::new(mode.to_u8())
});

thread_local! {
    static THREAD: Cell<Option<Mode>> = const { Cell::new(None) };
}

/// Sets the mode of the whole process (threads inside [`with_mode`] keep
/// theirs).
///
/// # Example
///
/// ```
/// permacache::set_mode(permacache::Mode::Off);
/// assert_eq!(permacache::mode(), permacache::Mode::Off);
/// permacache::set_mode(permacache::Mode::Normal);
/// ```
pub fn set_mode(mode: Mode) {
    PROCESS.store(mode.to_u8(), Ordering::Relaxed);
}

/// The mode in force on this thread.
pub fn mode() -> Mode {
    THREAD
        .with(Cell::get)
        .unwrap_or_else(|| Mode::from_u8(PROCESS.load(Ordering::Relaxed)))
}

/// Runs `f` with `mode` in force on the current thread, restoring the previous
/// mode afterwards, also when `f` panics. An `async fn` that moves to another
/// thread does not carry the mode with it.
///
/// # Example
///
/// ```
/// use permacache::{Mode, mode, with_mode};
/// let inside = with_mode(Mode::ReadOnly, mode);
/// assert_eq!(inside, Mode::ReadOnly);
/// ```
pub fn with_mode<T>(mode: Mode, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Mode>);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(THREAD.with(|t| t.replace(Some(mode))));
    f()
}

/// The panic payload of a miss in [`Mode::ErrorOnMiss`].
///
/// # Example
///
/// ```no_run
/// # fn f() {}
/// let caught = std::panic::catch_unwind(f).unwrap_err();
/// if let Some(miss) = caught.downcast_ref::<permacache::CacheMiss>() {
///     eprintln!("not cached: {miss}");
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMiss {
    /// The namespace path of the function.
    pub namespace: String,
    /// The canonical key of the call.
    pub key: String,
}

impl fmt::Display for CacheMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cache miss in error-on-miss mode: namespace {}, key {}",
            self.namespace, self.key
        )
    }
}

impl std::error::Error for CacheMiss {}

impl CacheMiss {
    /// Ends the call: says on stderr which namespace and key missed, then
    /// unwinds with the `CacheMiss` as the payload. (`panic_any` would have
    /// the panic hook print "Box<dyn Any>", naming neither.)
    pub(crate) fn raise(namespace: &str, key: &str) -> ! {
        let miss = CacheMiss {
            namespace: namespace.to_string(),
            key: key.to_string(),
        };
        eprintln!("permacache: {miss}");
        std::panic::resume_unwind(Box::new(miss))
    }
}
