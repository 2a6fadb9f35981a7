//! Warnings said once per namespace and topic: a store that keeps failing,
//! or records that keep being unusable, are one warning each for the life
//! of the process, not one per call. Shared by every cache on a namespace.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;

use once_cell::sync::Lazy;

use crate::store::Namespace;

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Topic {
    /// The store cannot be read or written.
    Store,
    /// A stored or remote record cannot be used (damaged, foreign).
    Record,
}

/// The (namespace directory, topic) pairs already warned about.
static SAID: Lazy<Mutex<HashSet<(PathBuf, Topic)>>> = Lazy::new(Default::default);

/// Logs `message` as a warning, the first time `topic` comes up for `ns`.
pub(crate) fn warn_once(ns: &Namespace, topic: Topic, message: impl FnOnce() -> String) {
    let first = SAID
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((ns.dir().to_path_buf(), topic));
    if first {
        warning!("permacache: {}", message());
    }
}
