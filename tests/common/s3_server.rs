//! A real S3 API server on loopback for the object-store tests: `moto_server`
//! (PyPI `moto[server]`), started per test on a free port, and a raw HTTP
//! client to look at or plant objects behind the cache's back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::redis_server::free_port;

/// A running `moto_server`; killed when dropped.
pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
}

/// Whether `moto_server` can run here. Without it the object-store tests
/// are skipped, saying so, unless `PERMACACHE_REQUIRE_S3` is set (as CI
/// sets it): then they fail.
pub fn available() -> bool {
    let found = Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("PERMACACHE_REQUIRE_S3").is_none(),
            "PERMACACHE_REQUIRE_S3 is set but moto_server cannot be run: pip install 'moto[server]'"
        );
        eprintln!("skipped: moto_server is not on the PATH (pip install 'moto[server]')");
    }
    found
}

/// A fake signature: moto checks that a request is signed, not the
/// signature, unless started with credentials.
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";

impl S3Server {
    /// A server, or `None` (the test is skipped) without moto here.
    pub fn try_start() -> Option<S3Server> {
        let server = S3Server::launch(&[])?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.try_request("GET", "/", &[]).is_none() {
            assert!(Instant::now() < deadline, "moto_server did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// A server that checks credentials and signatures (moto's IAM
    /// authentication), with bucket `bucket` and one user allowed
    /// everything: its access key id and secret. Only the four set-up
    /// requests go unauthenticated.
    pub fn try_start_with_credentials(bucket: &str) -> Option<(S3Server, String, String)> {
        let server = S3Server::launch(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")])?;
        let deadline = Instant::now() + Duration::from_secs(60);
        // A connection, not a request: every answered request counts
        // against the unauthenticated four.
        while TcpStream::connect(("127.0.0.1", server.port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        server.create_bucket(bucket);
        server.iam(&[("Action", "CreateUser"), ("UserName", "team")]);
        let created = server.iam(&[("Action", "CreateAccessKey"), ("UserName", "team")]);
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        server.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "team"),
            ("PolicyName", "all"),
            ("PolicyDocument", policy),
        ]);
        let field = |name: &str| {
            let open = format!("<{name}>");
            let (_, rest) = created.split_once(&open).expect("an access key");
            rest.split_once('<').expect("an access key").0.to_string()
        };
        Some((server, field("AccessKeyId"), field("SecretAccessKey")))
    }

    fn launch(env: &[(&str, &str)]) -> Option<S3Server> {
        if !available() {
            return None;
        }
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        Some(S3Server {
            child: Some(child),
            port,
        })
    }

    /// One IAM query-API request; its response body.
    fn iam(&self, params: &[(&str, &str)]) -> String {
        let mut form = String::from("Version=2010-05-08");
        for (name, value) in params {
            form.push('&');
            form.push_str(name);
            form.push('=');
            for b in value.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    form.push(b as char);
                } else {
                    form.push_str(&format!("%{b:02X}"));
                }
            }
        }
        let auth = AUTH.replace("/s3/", "/iam/");
        let (status, body) = self
            .exchange(
                "POST",
                "/",
                &auth,
                "application/x-www-form-urlencoded",
                form.as_bytes(),
            )
            .expect("moto_server: an IAM request failed");
        let body = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a child needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    pub fn create_bucket(&self, name: &str) {
        let (status, body) = self.request("PUT", &format!("/{name}"), &[]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    /// An object's bytes, if it exists.
    pub fn get(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        let (status, body) = self.request("GET", &format!("/{bucket}/{name}"), &[]);
        (status == 200).then_some(body)
    }

    /// Writes an object, replacing any.
    pub fn put(&self, bucket: &str, name: &str, bytes: &[u8]) {
        let (status, body) = self.request("PUT", &format!("/{bucket}/{name}"), bytes);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    /// The names of a bucket's objects.
    pub fn list(&self, bucket: &str) -> Vec<String> {
        let (status, body) = self.request("GET", &format!("/{bucket}?list-type=2"), &[]);
        assert_eq!(status, 200);
        let text = String::from_utf8_lossy(&body);
        text.split("<Key>")
            .skip(1)
            .filter_map(|part| part.split_once("</Key>").map(|(k, _)| k.to_string()))
            .collect()
    }

    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        self.try_request(method, path, body)
            .unwrap_or_else(|| panic!("moto_server: {method} {path} failed"))
    }

    fn try_request(&self, method: &str, path: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        self.exchange(method, path, AUTH, "application/octet-stream", body)
    }

    fn exchange(
        &self,
        method: &str,
        path: &str,
        auth: &str,
        content_type: &str,
        body: &[u8],
    ) -> Option<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: {auth}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        )
        .ok()?;
        s.write_all(body).ok()?;
        let mut all = Vec::new();
        s.read_to_end(&mut all).ok()?;
        let at = all.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&all[..at]).to_string();
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        let mut rest = all[at + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            rest = dechunk(&rest);
        }
        Some((status, rest))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Kills the server with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (`-STOP`) or thaws (`-CONT`) the server.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {signal}");
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(at) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..at])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[at + 2..at + 2 + size]);
        data = &data[at + 2 + size + 2..];
    }
    out
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = Command::new("kill")
                .args(["-CONT", &self.pid().to_string()])
                .status();
        }
        self.kill();
    }
}
