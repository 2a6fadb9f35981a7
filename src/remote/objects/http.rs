//! One HTTP/1.1 exchange with an object store, on its own connection: a
//! request with a body of known length, and the response read whole. Every
//! read and write is paced: the exchange fails as soon as a whole timeout
//! passes in which fewer than [`PROGRESS`] bytes moved (a dead, frozen or
//! trickling server), and never for its size alone, so a 5 GB value over a
//! live link completes while a stalled one costs about one timeout.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;

/// The bytes that must move within each timeout: 16 KiB, so the slowest
/// link that keeps going moves 16 KiB per `remote_timeout` (320 KB/s at the
/// default 50 ms).
pub(crate) const PROGRESS: usize = 16 * 1024;
/// The longest response head taken.
const HEAD_MAX: usize = 64 * 1024;
/// A body is allocated in steps of at most this much, whatever length its
/// server claims: an absurd length costs nothing until its bytes arrive.
const ALLOCATE_STEP: usize = 8 * 1024 * 1024;

/// A response: its status and whole body.
pub(crate) struct Response {
    pub status: u16,
    /// The `ETag` header, when given.
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

/// Why an exchange failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A whole timeout passed with fewer than [`PROGRESS`] bytes moved.
    Stalled(Duration),
    /// The connection failed (refused, reset, closed early).
    Network(io::Error),
    /// The server answered something that is not HTTP as expected.
    Protocol(String),
    /// The response body is longer than the caller takes.
    TooLong(u64),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Stalled(timeout) => write!(
                f,
                "stalled: fewer than {} KiB moved in {} ms (remote_timeout)",
                PROGRESS / 1024,
                timeout.as_millis()
            ),
            Failure::Network(e) => write!(f, "{e}"),
            Failure::Protocol(what) => write!(f, "not an HTTP answer as expected: {what}"),
            Failure::TooLong(length) => write!(f, "a response of {length} bytes, over the limit"),
        }
    }
}

/// A socket whose reads and writes must keep moving: see the module.
struct Paced {
    socket: TcpStream,
    timeout: Duration,
    /// When the current window opened, and the bytes moved in it.
    window: Instant,
    moved: usize,
}

impl Paced {
    /// Arms the socket with what is left of the window; fails when nothing is.
    fn arm(&mut self) -> io::Result<()> {
        let left = self.timeout.saturating_sub(self.window.elapsed());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "stalled"));
        }
        self.socket.set_read_timeout(Some(left))?;
        self.socket.set_write_timeout(Some(left))
    }

    fn moved(&mut self, n: usize) {
        self.moved += n;
        if self.moved >= PROGRESS {
            self.moved = 0;
            self.window = Instant::now();
        }
    }
}

impl Read for Paced {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        let n = self.socket.read(buf)?;
        self.moved(n);
        Ok(n)
    }
}

impl Write for Paced {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        let n = self.socket.write(buf)?;
        self.moved(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

/// The connection: plain, or TLS over a paced socket.
enum Stream {
    Plain(Paced),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Paced>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A failed read or write in words: a timeout is a stall.
fn failed(e: io::Error, timeout: Duration) -> Failure {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::Stalled(timeout),
        _ => Failure::Network(e),
    }
}

/// Sends `method` for `target` (path and query) to `url`'s host with
/// `headers` and `body`, and reads the response whole; a body over
/// `max_body` bytes is refused.
#[allow(clippy::too_many_arguments)]
pub(crate) fn exchange(
    method: &str,
    url: &Url,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
    tls: Option<&Arc<rustls::ClientConfig>>,
    max_body: u64,
) -> Result<Response, Failure> {
    let host = url
        .host_str()
        .ok_or_else(|| Failure::Protocol("an address without a host".into()))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let mut stream = connect(host, port, url.scheme() == "https", timeout, tls)?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush())
        .map_err(|e| failed(e, timeout))?;
    read_response(BufReader::new(stream), method == "HEAD", timeout, max_body)
}

/// Opens a connection, TLS for `https`.
fn connect(
    host: &str,
    port: u16,
    https: bool,
    timeout: Duration,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Stream, Failure> {
    let addresses = (host, port).to_socket_addrs().map_err(Failure::Network)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(socket) => {
                let _ = socket.set_nodelay(true);
                let paced = Paced {
                    socket,
                    timeout,
                    window: Instant::now(),
                    moved: 0,
                };
                if !https {
                    return Ok(Stream::Plain(paced));
                }
                let config = tls.ok_or_else(|| {
                    Failure::Protocol("an https address without a TLS configuration".into())
                })?;
                let name = rustls::pki_types::ServerName::try_from(host.to_string())
                    .map_err(|e| Failure::Protocol(format!("{host} is not a server name: {e}")))?;
                let connection = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| Failure::Protocol(e.to_string()))?;
                return Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(
                    connection, paced,
                ))));
            }
            Err(e) => last = e,
        }
    }
    Err(failed(last, timeout))
}

/// Reads a status line, headers and body (by length, chunked, or to the
/// end of the connection).
fn read_response(
    mut reader: BufReader<Stream>,
    head_only: bool,
    timeout: Duration,
    max_body: u64,
) -> Result<Response, Failure> {
    let mut line = String::new();
    let mut head_bytes = 0;
    let mut next_line = |reader: &mut BufReader<Stream>, line: &mut String| {
        line.clear();
        let n = reader
            .by_ref()
            .take((HEAD_MAX - head_bytes.min(HEAD_MAX)) as u64)
            .read_line(line)
            .map_err(|e| failed(e, timeout))?;
        head_bytes += n;
        if n == 0 || !line.ends_with('\n') {
            return Err(Failure::Protocol("the response head ended early".into()));
        }
        Ok(())
    };
    next_line(&mut reader, &mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| line.starts_with("HTTP/1."))
        .ok_or_else(|| Failure::Protocol(format!("status line {:?}", line.trim_end())))?;
    let (mut length, mut chunked, mut etag) = (None, false, None);
    loop {
        next_line(&mut reader, &mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(Failure::Protocol(format!("header {header:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<u64>()
                    .map_err(|_| Failure::Protocol(format!("content-length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("etag") {
            etag = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Response {
            status,
            etag,
            body: Vec::new(),
        });
    }
    let body = if chunked {
        read_chunked(&mut reader, timeout, max_body)?
    } else if let Some(length) = length {
        if length > max_body {
            return Err(Failure::TooLong(length));
        }
        read_exact_len(&mut reader, length, timeout)?
    } else {
        let mut body = Vec::new();
        reader
            .take(max_body + 1)
            .read_to_end(&mut body)
            .map_err(|e| failed(e, timeout))?;
        if body.len() as u64 > max_body {
            return Err(Failure::TooLong(body.len() as u64));
        }
        body
    };
    Ok(Response { status, etag, body })
}

/// Exactly `length` bytes, allocated as they arrive.
fn read_exact_len(
    reader: &mut impl Read,
    length: u64,
    timeout: Duration,
) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::with_capacity(length.min(ALLOCATE_STEP as u64) as usize);
    let read = reader
        .take(length)
        .read_to_end(&mut body)
        .map_err(|e| failed(e, timeout))?;
    if (read as u64) < length {
        return Err(Failure::Network(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the connection closed after {read} of {length} bytes"),
        )));
    }
    Ok(body)
}

/// A chunked body, whole.
fn read_chunked(
    reader: &mut BufReader<Stream>,
    timeout: Duration,
    max_body: u64,
) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader
            .by_ref()
            .take(1024)
            .read_line(&mut line)
            .map_err(|e| failed(e, timeout))?;
        let size_text = line.trim_end().split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| Failure::Protocol(format!("chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                let n = reader
                    .by_ref()
                    .take(HEAD_MAX as u64)
                    .read_line(&mut line)
                    .map_err(|e| failed(e, timeout))?;
                if n == 0 || line.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() as u64 + size > max_body {
            return Err(Failure::TooLong(body.len() as u64 + size));
        }
        body.extend(read_exact_len(reader, size, timeout)?);
        let mut end = [0u8; 2];
        reader
            .read_exact(&mut end)
            .map_err(|e| failed(e, timeout))?;
    }
}
