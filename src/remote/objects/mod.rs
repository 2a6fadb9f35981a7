//! The object-store tier (feature `s3`): an S3-compatible bucket (AWS S3,
//! GCS's S3 API, MinIO, Ceph, Garage) named `s3://bucket/prefix`, holding
//! the same sealed records as Redis, one object per record. Addresses are
//! built by `rusty-s3` (no I/O of its own), requests signed in their header
//! by [`sign`] and sent by [`http`], whose deadlines follow progress, not
//! size. Credentials, region and endpoint come from the standard AWS
//! variables. Objects are written once, with
//! `If-None-Match: *`, so a planted object never replaces a good one. Like
//! every remote, a fault is a miss: one warning, a rest, and the call goes on.

mod http;
mod lease;
mod sign;

pub(crate) use lease::HOLD;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use once_cell::sync::Lazy;
use rusty_s3::{Bucket, S3Action, UrlStyle};

use super::RemoteError;
use super::health::Health;
use crate::config::split_objects;
use sign::Signer;

/// rusty-s3 builds addresses through its presigning call, here without
/// credentials (an unsigned address): `sign.rs` signs the request itself.
const SIGNED_FOR: Duration = Duration::from_secs(15 * 60);
/// The longest object read: a bigger one is not a record of ours.
const MAX_OBJECT: u64 = 64 << 30;
/// Objects listed per request.
const LIST_PAGE: usize = 1000;

/// Open object stores, by address and timeout.
static OPEN: Lazy<Mutex<HashMap<(String, Duration), &'static Objects>>> =
    Lazy::new(Default::default);

/// One bucket (and key prefix) of an S3-compatible object store.
pub struct Objects {
    label: String,
    bucket: Bucket,
    /// Prepended to every object name: empty, or ending in `/`.
    prefix: String,
    /// `None` without `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`:
    /// requests go unsigned (a public bucket).
    signer: Option<Signer>,
    timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
    health: Health,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects")
            .field("address", &self.label)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why an object operation failed.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The exchange failed: see [`http::Failure`].
    Exchange(http::Failure),
    /// The store answered with an error status.
    Status {
        status: u16,
        /// S3's error code (`NoSuchBucket`, `AccessDenied`, ...), when given.
        code: String,
    },
}

impl Fault {
    /// Whether resting the remote helps: the network, or the server.
    fn is_network(&self) -> bool {
        match self {
            Fault::Exchange(http::Failure::TooLong(_)) => false,
            Fault::Exchange(_) => true,
            Fault::Status { status, .. } => *status >= 500,
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Exchange(failure) => write!(f, "{failure}"),
            Fault::Status { status, code } => match code.as_str() {
                "NoSuchBucket" => f.write_str(
                    "the bucket does not exist (NoSuchBucket); create it, or name another in PERMACACHE_OBJECTS",
                ),
                "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied"
                | "ExpiredToken" | "InvalidToken" => write!(
                    f,
                    "the store refused the credentials ({code}); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN"
                ),
                "" if *status == 403 => write!(
                    f,
                    "the store refused the request (HTTP status 403); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN"
                ),
                "" => write!(f, "HTTP status {status}"),
                _ => write!(f, "HTTP status {status} ({code})"),
            },
        }
    }
}

/// When a put writes.
#[derive(Clone, Copy)]
pub(crate) enum When<'a> {
    /// Whatever is there.
    Always,
    /// When no object is there (`If-None-Match: *`).
    Absent,
    /// When the object is still the version of this ETag (`If-Match`).
    Unchanged(&'a str),
}

/// The S3 error code in an error response's XML body.
fn error_code(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.trim().to_string())
        .unwrap_or_default()
}

/// A variable, when set and not blank.
fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The TLS of `https` endpoints: ring, and the system's roots; `bad` says
/// why there is none as the address's error.
fn tls_config(
    bad: impl Fn(String) -> RemoteError,
) -> Result<Arc<rustls::ClientConfig>, RemoteError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(bad(
            "no certificate authorities found on this system for an https endpoint".into(),
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

impl Objects {
    /// The object store at `spec` (`s3://bucket/prefix`), opened once per
    /// process; endpoint, region and credentials from the AWS variables.
    ///
    /// # Errors
    ///
    /// What is wrong with the address or the variables.
    pub fn open(spec: &str, timeout: Duration) -> Result<&'static Objects, RemoteError> {
        let timeout = timeout.max(Duration::from_millis(1));
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(objects) = open.get(&(spec.to_string(), timeout)) {
            return Ok(objects);
        }
        let bad = |reason: String| RemoteError::BadAddress {
            address: spec.to_string(),
            reason,
        };
        let (name, prefix) = split_objects(spec).map_err(|e| bad(e.to_string()))?;
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let custom = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL"));
        let endpoint_text = custom
            .clone()
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint: url::Url = endpoint_text.parse().map_err(|e| {
            bad(format!(
                "AWS_ENDPOINT_URL {endpoint_text:?} is not a URL ({e}); expected such as \"https://s3.example.com\""
            ))
        })?;
        let allow_http = var("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if endpoint.scheme() == "http" && !allow_http {
            return Err(bad(format!(
                "the endpoint {endpoint_text} is plain http; set AWS_ALLOW_HTTP=true to use it"
            )));
        }
        // A custom endpoint (MinIO, Ceph, a test server) takes path-style
        // addresses; AWS takes the bucket in the host name.
        let style = if custom.is_some() || name.contains('.') {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let signer = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(key), Some(secret)) => Some(Signer {
                key,
                secret,
                token: var("AWS_SESSION_TOKEN"),
                region: region.clone(),
            }),
            _ => None,
        };
        let bucket = Bucket::new(endpoint.clone(), style, name.clone(), region).map_err(|e| {
            bad(format!(
                "cannot address bucket {name:?} at {endpoint_text}: {e}"
            ))
        })?;
        let tls = match endpoint.scheme() {
            "https" => Some(tls_config(bad)?),
            _ => None,
        };
        let objects: &'static Objects = Box::leak(Box::new(Objects {
            label: format!("s3://{name}/{prefix}"),
            bucket,
            prefix,
            signer,
            timeout,
            tls,
            health: Health::default(),
        }));
        open.insert((spec.to_string(), timeout), objects);
        Ok(objects)
    }

    /// The address, `s3://bucket/prefix/`.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn full_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn send(
        &self,
        method: &str,
        url: &url::Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<http::Response, Fault> {
        let signed = self.signer.as_ref().map(|s| s.sign(method, url));
        let target = match (&signed, url.query()) {
            (Some(signed), _) => signed.target.clone(),
            (None, Some(query)) => format!("{}?{query}", url.path()),
            (None, None) => url.path().to_string(),
        };
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(signed) = &signed {
            all.extend(signed.headers.iter().map(|(n, v)| (*n, v.as_str())));
        }
        http::exchange(
            method,
            url,
            &target,
            &all,
            body,
            self.timeout,
            self.tls.as_ref(),
            MAX_OBJECT,
        )
        .map_err(Fault::Exchange)
    }

    /// A failed status as a fault.
    fn status_fault(response: &http::Response) -> Fault {
        Fault::Status {
            status: response.status,
            code: error_code(&response.body),
        }
    }

    /// The object `name` (under the prefix) and its ETag, `None` when
    /// absent.
    pub(crate) fn get_tagged(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, Fault> {
        let name = self.full_name(name);
        let url = self.bucket.get_object(None, &name).sign(SIGNED_FOR);
        let response = self.send("GET", &url, &[], &[])?;
        match response.status {
            200 => Ok(Some((response.body, response.etag.unwrap_or_default()))),
            404 if error_code(&response.body) != "NoSuchBucket" => Ok(None),
            _ => Err(Self::status_fault(&response)),
        }
    }

    /// The object `name`, `None` when absent.
    pub(crate) fn get_strict(&self, name: &str) -> Result<Option<Vec<u8>>, Fault> {
        Ok(self.get_tagged(name)?.map(|(bytes, _)| bytes))
    }

    /// Writes `bytes` as the object `name` when `when` holds; its new ETag,
    /// or `None` when the condition did not hold (another writer got there
    /// first, or the object to replace is gone).
    pub(crate) fn put(
        &self,
        name: &str,
        bytes: &[u8],
        when: When,
    ) -> Result<Option<String>, Fault> {
        let name = self.full_name(name);
        let url = self.bucket.put_object(None, &name).sign(SIGNED_FOR);
        let mut headers = vec![("Content-Type", "application/octet-stream")];
        match when {
            When::Always => {}
            When::Absent => headers.push(("If-None-Match", "*")),
            When::Unchanged(etag) => headers.push(("If-Match", etag)),
        }
        let response = self.send("PUT", &url, &headers, bytes)?;
        match response.status {
            200 | 201 => Ok(Some(response.etag.unwrap_or_default())),
            // 409: another writer's put of the same object is under way;
            // 404: the object to replace is gone.
            412 | 409 | 404 if !matches!(when, When::Always) => Ok(None),
            _ => Err(Self::status_fault(&response)),
        }
    }

    /// Removes the object `name`; absent is done.
    pub(crate) fn delete_strict(&self, name: &str) -> Result<(), Fault> {
        let name = self.full_name(name);
        let url = self.bucket.delete_object(None, &name).sign(SIGNED_FOR);
        let response = self.send("DELETE", &url, &[], &[])?;
        match response.status {
            200 | 204 | 404 => Ok(()),
            _ => Err(Self::status_fault(&response)),
        }
    }

    /// The names (under the prefix, without it) starting with `start`.
    pub(crate) fn list_strict(&self, start: &str) -> Result<Vec<String>, Fault> {
        let full = self.full_name(start);
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = self.bucket.list_objects_v2(None);
            action.with_prefix(full.as_str());
            action.with_max_keys(LIST_PAGE);
            if let Some(token) = &token {
                action.with_continuation_token(token.clone());
            }
            let url = action.sign(SIGNED_FOR);
            let response = self.send("GET", &url, &[], &[])?;
            if response.status != 200 {
                return Err(Self::status_fault(&response));
            }
            let text = String::from_utf8_lossy(&response.body);
            let parsed = rusty_s3::actions::ListObjectsV2::parse_response(&text)
                .map_err(|e| Fault::Exchange(http::Failure::Protocol(format!("a listing: {e}"))))?;
            names.extend(
                parsed
                    .contents
                    .into_iter()
                    .filter_map(|c| c.key.strip_prefix(&self.prefix).map(str::to_string)),
            );
            match parsed.next_continuation_token {
                Some(next) => token = Some(next),
                None => return Ok(names),
            }
        }
    }

    /// An operation's fault as the CLI reports it.
    fn fault(&self, fault: Fault) -> RemoteError {
        RemoteError::Objects {
            address: self.label.clone(),
            reason: fault.to_string(),
        }
    }

    /// The names of the objects starting with `start` (without the store's
    /// prefix), for the CLI.
    ///
    /// # Errors
    ///
    /// The first failure.
    pub fn list(&self, start: &str) -> Result<Vec<String>, RemoteError> {
        self.list_strict(start).map_err(|f| self.fault(f))
    }

    /// The object `name`, `None` when absent, for the CLI.
    ///
    /// # Errors
    ///
    /// A failure.
    pub fn fetch(&self, name: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        self.get_strict(name).map_err(|f| self.fault(f))
    }

    /// Writes the object `name` unless one is there (then it is kept), for
    /// the CLI; whether it was written.
    ///
    /// # Errors
    ///
    /// A failure.
    pub fn store(&self, name: &str, bytes: &[u8]) -> Result<bool, RemoteError> {
        self.put(name, bytes, When::Absent)
            .map(|etag| etag.is_some())
            .map_err(|f| self.fault(f))
    }

    /// Removes the object `name`, for the CLI.
    ///
    /// # Errors
    ///
    /// A failure.
    pub fn remove(&self, name: &str) -> Result<(), RemoteError> {
        self.delete_strict(name).map_err(|f| self.fault(f))
    }

    /// What an operation's outcome means for the store: a failure is
    /// logged (the first as a warning), and a network one rests it.
    pub(crate) fn settle<T>(&self, out: Result<T, Fault>) -> Option<T> {
        match out {
            Ok(value) => {
                self.health.ok(&self.label);
                Some(value)
            }
            Err(fault) => {
                self.health.failed(&self.label, fault.is_network(), &fault);
                None
            }
        }
    }

    /// The object `name`, `None` when absent or when the store cannot
    /// answer (logged).
    pub(crate) fn get(&self, name: &str) -> Option<Vec<u8>> {
        if self.health.is_resting() {
            return None;
        }
        self.settle(self.get_strict(name)).flatten()
    }

    /// Writes a record's object: unconditionally when `replace`; else once,
    /// keeping an object already there when `good` judges it a good record
    /// and replacing it (if still the version read) when not. A failure is
    /// logged.
    pub(crate) fn put_record(
        &self,
        name: &str,
        bytes: &[u8],
        replace: bool,
        good: impl Fn(&[u8]) -> bool,
    ) {
        if self.health.is_resting() {
            return;
        }
        if replace {
            self.settle(self.put(name, bytes, When::Always));
            return;
        }
        if self.settle(self.put(name, bytes, When::Absent)) != Some(None) {
            // Written, or the store cannot answer.
            return;
        }
        if let Some(Some((existing, etag))) = self.settle(self.get_tagged(name))
            && !good(&existing)
        {
            log::debug!(
                "permacache: object store {}: {name} held no good record; replacing it",
                self.label
            );
            self.settle(self.put(name, bytes, When::Unchanged(&etag)));
        }
    }

    /// Removes an object; a failure is logged.
    pub(crate) fn delete(&self, name: &str) {
        if self.health.is_resting() {
            return;
        }
        self.settle(self.delete_strict(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read() {
        let body =
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>x</Message></Error>";
        assert_eq!(error_code(body), "NoSuchBucket");
        assert_eq!(error_code(b"oops"), "");
    }
}
