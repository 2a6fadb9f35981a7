//! AWS Signature Version 4 in the `Authorization` header: the request line
//! and headers a signed request is sent with. Header signing, rather than a
//! presigned address, is what every S3 API server checks (moto's checker
//! reads only the header); the payload is `UNSIGNED-PAYLOAD`, as rusty-s3's
//! presigned addresses had it, so a big value is not hashed twice.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use url::Url;

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The access key, secret and session token a request is signed with.
pub(super) struct Signer {
    pub key: String,
    pub secret: String,
    pub token: Option<String>,
    pub region: String,
}

/// What a request carries: the request target (path and query, encoded as
/// signed) and the headers that go with the signature.
pub(super) struct Signed {
    pub target: String,
    pub headers: Vec<(&'static str, String)>,
}

impl Signer {
    /// The request `method` of `url`, signed now.
    pub fn sign(&self, method: &str, url: &Url) -> Signed {
        self.sign_at(method, url, SystemTime::now())
    }

    fn sign_at(&self, method: &str, url: &Url, at: SystemTime) -> Signed {
        let seconds = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let stamp = timestamp(seconds);
        let day = &stamp[..8];
        let query = canonical_query(url);
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let mut headers = vec![
            ("host", host),
            ("x-amz-content-sha256", UNSIGNED_PAYLOAD.to_string()),
            ("x-amz-date", stamp.clone()),
        ];
        if let Some(token) = &self.token {
            headers.push(("x-amz-security-token", token.clone()));
        }
        let names = headers
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(";");
        let mut canonical = format!("{method}\n{}\n{query}\n", url.path());
        for (name, value) in &headers {
            canonical.push_str(&format!("{name}:{}\n", value.trim()));
        }
        canonical.push_str(&format!("\n{names}\n{UNSIGNED_PAYLOAD}"));
        let scope = format!("{day}/{}/s3/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{}", self.secret).as_bytes(), day.as_bytes());
        for part in [self.region.as_str(), "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex(&hmac(&key, to_sign.as_bytes()));
        // `host` goes on the request line's Host header, sent by the caller.
        headers.remove(0);
        headers.push((
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={names}, Signature={signature}",
                self.key
            ),
        ));
        let target = match query.is_empty() {
            true => url.path().to_string(),
            false => format!("{}?{query}", url.path()),
        };
        Signed { target, headers }
    }
}

/// The query's pairs, decoded, then encoded as SigV4 wants (every byte but
/// `A-Z a-z 0-9 - _ . ~` as `%XX`) and sorted.
fn canonical_query(url: &Url) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (encode(&k), encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `YYYYMMDDTHHMMSSZ` of `seconds` since the epoch (UTC).
fn timestamp(seconds: u64) -> String {
    let (y, m, d, hh, mm, ss) = crate::utc::fields(seconds);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(timestamp(0), "19700101T000000Z");
        assert_eq!(timestamp(951_782_400), "20000229T000000Z");
        assert_eq!(timestamp(1_440_938_160), "20150830T123600Z");
        assert_eq!(timestamp(4_102_444_799), "20991231T235959Z");
    }

    /// The key and secret of AWS's documented examples, a listing-shaped
    /// query with a space and a slash: the signature botocore's
    /// `S3SigV4Auth` gives the same request with `UNSIGNED-PAYLOAD`.
    #[test]
    fn a_signature_matches_botocore() {
        let signer = Signer {
            key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            token: None,
            region: "us-east-1".into(),
        };
        let url = Url::parse(
            "https://examplebucket.s3.amazonaws.com/test.txt?list-type=2&prefix=a%20b/c",
        )
        .unwrap();
        let signed = signer.sign_at(
            "GET",
            &url,
            UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600),
        );
        assert_eq!(signed.target, "/test.txt?list-type=2&prefix=a%20b%2Fc");
        let auth = &signed.headers.last().unwrap().1;
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="), "{auth}");
        assert_eq!(
            auth.rsplit('=').next().unwrap(),
            "0c63b344c38f4fd90fdea65806ea38ade6d2fd6f0c52f00e08b018363c5b27ef"
        );
    }
}
