//! The compute-once lease in an object store: an object beside the record,
//! `<record>.lease`, holding its holder's token and the time it lapses (Unix
//! milliseconds). It is taken with a write-if-absent, and renewed, or taken
//! over from a holder that stopped renewing, with a write-if-unchanged (the
//! ETag read): of any number of waiters that find a lapsed lease, exactly
//! one takes it. The machines' clocks must agree to well within [`HOLD`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Objects, When};
use crate::remote::tier::Taken;

/// How long a lease lives without renewal: a holder that dies is noticed
/// this long after at most.
pub(crate) const HOLD: Duration = Duration::from_secs(10);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A lease's bytes: the token, a space, and when it lapses.
fn body(token: &str) -> Vec<u8> {
    format!("{token} {}", now_ms() + HOLD.as_millis() as u64).into_bytes()
}

/// The token and lapse time of a lease's bytes; `None` for bytes that are
/// not a lease (taken over like a lapsed one).
fn parse(bytes: &[u8]) -> Option<(&str, u64)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (token, until) = text.split_once(' ')?;
    Some((token, until.parse().ok()?))
}

impl Objects {
    /// Takes the lease `name` unless a live holder has it; `None` when the
    /// store cannot answer.
    pub(crate) fn take_lease(&self, name: &str, token: &str) -> Option<Taken> {
        let current = self.settle(self.get_tagged(name))?;
        let when = match &current {
            None => When::Absent,
            Some((bytes, etag)) => match parse(bytes) {
                Some((_, until)) if until > now_ms() => return Some(Taken::No),
                _ => When::Unchanged(etag),
            },
        };
        let put = self.settle(self.put(name, &body(token), when))?;
        Some(put.map_or(Taken::No, |etag| Taken::Yes(Some(etag))))
    }

    /// Whether a live holder has the lease `name`; `None` when the store
    /// cannot answer.
    pub(crate) fn lease_held(&self, name: &str) -> Option<bool> {
        let current = self.settle(self.get_tagged(name))?;
        Some(
            current
                .is_some_and(|(bytes, _)| parse(&bytes).is_some_and(|(_, until)| until > now_ms())),
        )
    }

    /// Extends the lease `name` while it is still the version `etag`; its
    /// new ETag, `None` when it was lost (or the store cannot answer).
    pub(crate) fn renew_lease(&self, name: &str, token: &str, etag: &str) -> Option<String> {
        self.put(name, &body(token), When::Unchanged(etag))
            .ok()
            .flatten()
    }

    /// Removes the lease `name` when it is still `token`'s.
    pub(crate) fn release_lease(&self, name: &str, token: &str) {
        if let Ok(Some((bytes, _))) = self.get_tagged(name)
            && parse(&bytes).is_some_and(|(holder, _)| holder == token)
            && let Err(e) = self.delete_strict(name)
        {
            log::debug!(
                "permacache: object store {}: cannot release {name}: {e}",
                self.label()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_reads_back_and_junk_is_no_lease() {
        let bytes = body("12-ab-0");
        let (token, until) = parse(&bytes).unwrap();
        assert_eq!(token, "12-ab-0");
        assert!(until > now_ms());
        assert!(parse(b"junk").is_none());
        assert!(parse(b"t notanumber").is_none());
    }
}
