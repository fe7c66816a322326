//! The router's connections to model servers: HTTP/1.1, kept alive, held per
//! thread and per instance, written and read by the invocation's own task.
//!
//! Each HTTP thread runs its own single-threaded runtime (`web::
//! spawn_server_threads`), so an invocation and its upstream connection stay
//! on one thread. A connection is taken from this thread's idle list, or
//! opened, for one exchange, and put back once the model's whole answer has
//! been read. The router sends one kind of request (`POST /invocations` with a
//! body) and needs three things of the answer (its status, content type and
//! body), so the exchange is written here and the answer's head is parsed by
//! `httparse`: no connection task, no channel between it and the invocation
//! (hyper's client had both, BENCHMARKS.md).
//!
//! An answer is read by its `Content-Length`, chunked, or to the end of the
//! connection, at most [`MOST_BODY`] bytes. A connection the model server
//! has closed while idle (an instance stopped, or a runtime that ended) is
//! found before the request is written (it reads as ended), and the request
//! goes out on the next connection: an invocation is never sent twice.

use std::cell::RefCell;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Idle connections kept per instance and thread, at most.
const MOST_IDLE: usize = 256;

/// Connections found closed before a request goes out on a new one.
const MOST_STALE: usize = 8;

/// The longest answer head read, and the most headers in it.
const MOST_HEAD: usize = 64 * 1024;
const MOST_HEADERS: usize = 64;

/// The largest answer body read: SageMaker's payload limit.
pub const MOST_BODY: usize = 6 * 1024 * 1024;

/// What the router keeps of a model's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// One kept-alive connection, and what was read past the last answer (none,
/// from a server that answers one request at a time).
struct Connection {
    stream: TcpStream,
    read: Vec<u8>,
}

impl Connection {
    /// Whether the server has closed the connection (or sent something
    /// unasked) while it was idle. The reactor's readiness answers without a
    /// system call unless the socket became readable.
    fn is_closed(&self) -> bool {
        if self.stream.readable().now_or_never().is_none() {
            return false;
        }
        let mut probe = [0u8; 1];
        !matches!(self.stream.try_read(&mut probe), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock)
    }
}

thread_local! {
    /// This thread's idle connections, by instance address (`host:port`).
    static IDLE: RefCell<Vec<(Arc<str>, Vec<Connection>)>> = const { RefCell::new(Vec::new()) };
}

fn take_idle(authority: &Arc<str>) -> Option<Connection> {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let (_, connections) = idle
            .iter_mut()
            .find(|(address, _)| Arc::ptr_eq(address, authority) || address == authority)?;
        connections.pop()
    })
}

fn put_idle(authority: &Arc<str>, connection: Connection) {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        match idle
            .iter_mut()
            .find(|(address, _)| Arc::ptr_eq(address, authority) || address == authority)
        {
            Some((_, connections)) if connections.len() < MOST_IDLE => connections.push(connection),
            Some(_) => {}
            None => {
                // A new instance: forget those whose connections have all
                // closed (instances stopped as fleets were replaced).
                idle.retain_mut(|(_, connections)| {
                    connections.retain(|connection| !connection.is_closed());
                    !connections.is_empty()
                });
                idle.push((authority.clone(), vec![connection]));
            }
        }
    });
}

async fn connect(authority: &str) -> Result<Connection, &'static str> {
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|_| "connection refused")?;
    let _ = stream.set_nodelay(true);
    Ok(Connection {
        stream,
        read: Vec::new(),
    })
}

/// The request's bytes: `POST /invocations` to `host` with `body`.
fn request(host: &HeaderValue, content_type: Option<&HeaderValue>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + body.len());
    out.extend_from_slice(b"POST /invocations HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    if let Some(content_type) = content_type {
        out.extend_from_slice(b"\r\ncontent-type: ");
        out.extend_from_slice(content_type.as_bytes());
    }
    out.extend_from_slice(b"\r\ncontent-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

/// Sends `body` to the instance at `authority` and reads the whole answer.
pub async fn exchange(
    authority: &Arc<str>,
    host: &HeaderValue,
    content_type: Option<&HeaderValue>,
    body: &[u8],
) -> Result<Answer, &'static str> {
    let request = request(host, content_type, body);
    let mut stale = 0;
    let mut connection = loop {
        match take_idle(authority).filter(|_| stale < MOST_STALE) {
            Some(connection) if connection.is_closed() => stale += 1,
            Some(connection) => break connection,
            None => break connect(authority).await?,
        }
    };
    connection
        .stream
        .write_all(&request)
        .await
        .map_err(|_| "connection closed before the request was sent")?;
    let (answer, reusable) = read_answer(&mut connection).await?;
    if reusable {
        put_idle(authority, connection);
    }
    Ok(answer)
}

/// How the body after the head is delimited.
enum Framing {
    Length(usize),
    Chunked,
    ToEnd,
}

/// Reads one answer; also says whether the connection can carry another.
async fn read_answer(connection: &mut Connection) -> Result<(Answer, bool), &'static str> {
    let (head, status, content_type, framing, keep_alive) = loop {
        if let Some(head) = parse_head(&connection.read)? {
            break head;
        }
        fill(connection).await?;
    };
    let no_body = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let (body, reusable) = match framing {
        _ if no_body => {
            connection.read.drain(..head);
            (Bytes::new(), keep_alive)
        }
        Framing::Length(length) => {
            if length > MOST_BODY {
                return Err("the model's answer is larger than 6 MB");
            }
            while connection.read.len() < head + length {
                fill(connection).await?;
            }
            let body = Bytes::copy_from_slice(&connection.read[head..head + length]);
            connection.read.drain(..head + length);
            (body, keep_alive)
        }
        Framing::Chunked => {
            connection.read.drain(..head);
            (Bytes::from(read_chunked(connection).await?), keep_alive)
        }
        Framing::ToEnd => {
            connection.read.drain(..head);
            loop {
                if connection.read.len() > MOST_BODY {
                    return Err("the model's answer is larger than 6 MB");
                }
                connection.read.reserve(16 * 1024);
                match connection.stream.read_buf(&mut connection.read).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(_) => return Err("connection closed mid-response"),
                }
            }
            (Bytes::from(std::mem::take(&mut connection.read)), false)
        }
    };
    let answer = Answer {
        status,
        content_type,
        body,
    };
    Ok((answer, reusable && connection.read.is_empty()))
}

/// The head's length, the status, the content type, how the body is
/// delimited and whether the connection stays open: once the whole head has
/// been read.
type Head = (usize, StatusCode, Option<HeaderValue>, Framing, bool);

fn parse_head(read: &[u8]) -> Result<Option<Head>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; MOST_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(read) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if read.len() < MOST_HEAD => return Ok(None),
        _ => return Err("the model's answer is not HTTP/1.1"),
    };
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or("the model's answer has no status")?;
    let mut content_type = None;
    let mut framing = Framing::ToEnd;
    let mut keep_alive = response.version == Some(1);
    for header in response.headers.iter() {
        let value = header.value;
        if header.name.eq_ignore_ascii_case("content-type") {
            content_type = HeaderValue::from_bytes(value).ok();
        } else if header.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(value)
                .ok()
                .and_then(|text| text.trim().parse::<usize>().ok())
                .ok_or("the model's answer has a bad Content-Length")?;
            if !matches!(framing, Framing::Chunked) {
                framing = Framing::Length(length);
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked is the last coding when it is there at all (RFC 9112).
            let chunked = value
                .rsplit(|byte| *byte == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            framing = if chunked {
                Framing::Chunked
            } else {
                Framing::ToEnd
            };
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(|byte| *byte == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    if matches!(framing, Framing::ToEnd) {
        keep_alive = false;
    }
    Ok(Some((length, status, content_type, framing, keep_alive)))
}

/// Reads more of the answer into the connection's buffer.
async fn fill(connection: &mut Connection) -> Result<(), &'static str> {
    let before = connection.read.len();
    connection.read.reserve(16 * 1024);
    match connection.stream.read_buf(&mut connection.read).await {
        Ok(0) if before == 0 => Err("connection closed before the answer"),
        Ok(0) => Err("connection closed mid-response"),
        Ok(_) => Ok(()),
        Err(_) => Err("connection closed mid-response"),
    }
}

/// A chunked body, trailers left out.
async fn read_chunked(connection: &mut Connection) -> Result<Vec<u8>, &'static str> {
    let mut body = Vec::new();
    loop {
        let (size, line) = loop {
            match httparse::parse_chunk_size(&connection.read) {
                Ok(httparse::Status::Complete((line, size))) => break (size, line),
                Ok(httparse::Status::Partial) if connection.read.len() < MOST_HEAD => {
                    fill(connection).await?;
                }
                _ => return Err("the model's answer has a bad chunk"),
            }
        };
        let size = usize::try_from(size).map_err(|_| "the model's answer is larger than 6 MB")?;
        if body.len().saturating_add(size) > MOST_BODY {
            return Err("the model's answer is larger than 6 MB");
        }
        connection.read.drain(..line);
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                if let Some(end) = find_line(&connection.read) {
                    let empty = end == 0;
                    connection.read.drain(..end + 2);
                    if empty {
                        return Ok(body);
                    }
                } else if connection.read.len() >= MOST_HEAD {
                    return Err("the model's answer has a bad chunk");
                } else {
                    fill(connection).await?;
                }
            }
        }
        while connection.read.len() < size + 2 {
            fill(connection).await?;
        }
        if &connection.read[size..size + 2] != b"\r\n" {
            return Err("the model's answer has a bad chunk");
        }
        body.extend_from_slice(&connection.read[..size]);
        connection.read.drain(..size + 2);
    }
}

/// Where the first line in `bytes` ends (before its `\r\n`).
fn find_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|pair| pair == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(authority: &str) -> HeaderValue {
        HeaderValue::from_str(authority).expect("host")
    }

    async fn send(authority: &Arc<str>) -> Result<Answer, &'static str> {
        let content_type = HeaderValue::from_static("text/csv");
        exchange(authority, &host(authority), Some(&content_type), b"1,2").await
    }

    /// A server that answers every request with `answer` (whole, then closes
    /// the connection if `close`), and hands over each request it read.
    async fn canned(
        answer: &'static [u8],
        close: bool,
    ) -> (
        Arc<str>,
        tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address: Arc<str> = Arc::from(listener.local_addr().expect("address").to_string());
        let (heard, requests) = tokio::sync::mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let heard = heard.clone();
                tokio::spawn(async move {
                    let mut read = Vec::new();
                    loop {
                        // The request: its head, then its Content-Length.
                        let whole = find_head_end(&read).and_then(|end| {
                            let head = std::str::from_utf8(&read[..end]).ok()?;
                            let length: usize = head
                                .lines()
                                .find_map(|line| line.strip_prefix("content-length: "))?
                                .parse()
                                .ok()?;
                            Some(end + length).filter(|whole| read.len() >= *whole)
                        });
                        if let Some(whole) = whole {
                            let _ = heard.send(read.drain(..whole).collect());
                            if stream.write_all(answer).await.is_err() || close {
                                return;
                            }
                            continue;
                        }
                        let mut buffer = [0u8; 4096];
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(count) => read.extend_from_slice(&buffer[..count]),
                        }
                    }
                });
            }
        });
        (address, requests, server)
    }

    fn find_head_end(bytes: &[u8]) -> Option<usize> {
        bytes
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .map(|at| at + 4)
    }

    fn idle_count(authority: &Arc<str>) -> Option<usize> {
        IDLE.with(|idle| {
            idle.borrow()
                .iter()
                .find(|(address, _)| address == authority)
                .map(|(_, connections)| connections.len())
        })
    }

    /// A model server of the built-in baseline scorer, seeded with `seed`.
    async fn baseline_server(seed: u64) -> crate::engine::model::ModelServer {
        crate::engine::model::ModelServer::start(
            crate::engine::model::BuiltinModel {
                behaviour: crate::engine::model::Behaviour::Baseline,
                latency_ms: 0.0,
                error_rate: 0.0,
            },
            seed,
        )
        .await
        .expect("model server")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_request_is_what_a_model_server_expects() {
        let (address, mut requests, server) =
            canned(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false).await;
        let answer = send(&address).await.expect("answered");
        assert_eq!(
            (answer.status, &answer.body[..]),
            (StatusCode::OK, &b"ok"[..])
        );
        assert_eq!(answer.content_type, None);
        let request = requests.recv().await.expect("a request");
        assert_eq!(
            String::from_utf8(request).expect("text"),
            format!(
                "POST /invocations HTTP/1.1\r\nhost: {address}\r\ncontent-type: text/csv\r\ncontent-length: 3\r\n\r\n1,2"
            )
        );
        server.abort();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connections_are_reused_and_a_closed_one_is_passed_over() {
        let server = baseline_server(1).await;
        let authority: Arc<str> = Arc::from(server.address.to_string());
        for _ in 0..3 {
            let answer = send(&authority).await.expect("answered");
            assert!(answer.status.is_success(), "{:?}", answer.status);
            assert!(answer.content_type.is_some());
        }
        // One connection served all three, one after the other.
        assert_eq!(idle_count(&authority), Some(1));

        // A server that closes every connection after one answer (and says
        // so): the connection is not kept, and each request goes out on a
        // new one.
        let (closing, _, task) = canned(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
            true,
        )
        .await;
        for _ in 0..3 {
            let answer = send(&closing).await.expect("answered on a new connection");
            assert_eq!(&answer.body[..], b"ok");
        }
        assert_eq!(idle_count(&closing), None);
        // One that closes without saying so: the idle connection is found
        // closed before the next request is written.
        let (silent, mut heard, silent_task) =
            canned(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", true).await;
        for _ in 0..3 {
            let answer = send(&silent).await.expect("answered on a new connection");
            assert_eq!(&answer.body[..], b"ok");
            // Let the server's close arrive.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // Each request was sent once.
        for _ in 0..3 {
            heard.recv().await.expect("a request");
        }
        assert!(heard.try_recv().is_err());
        silent_task.abort();
        task.abort();
        // The first connection kept to another instance forgets those whose
        // connections have all closed.
        let other = baseline_server(2).await;
        let other_authority: Arc<str> = Arc::from(other.address.to_string());
        send(&other_authority).await.expect("answered");
        assert_eq!(idle_count(&silent), None, "forgotten");
        assert_eq!(idle_count(&other_authority), Some(1));
        assert_eq!(
            idle_count(&authority),
            Some(1),
            "a live instance's connection stays"
        );
        // Nothing listens any more: refused, not retried for ever.
        drop(server);
        let nowhere: Arc<str> = Arc::from("127.0.0.1:9");
        assert_eq!(send(&nowhere).await.err(), Some("connection refused"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn chunked_and_to_the_end_answers_are_read_whole() {
        let (chunked, _, one) = canned(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n4;note=x\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nx-trailer: 1\r\n\r\n",
            false,
        )
        .await;
        for _ in 0..2 {
            let answer = send(&chunked).await.expect("answered");
            assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(&answer.body[..], b"{\"a\":1}");
            assert_eq!(
                answer.content_type,
                Some(HeaderValue::from_static("application/json"))
            );
        }
        assert_eq!(idle_count(&chunked), Some(1), "kept alive");
        let (to_end, _, two) = canned(b"HTTP/1.0 200 OK\r\n\r\nall of it", true).await;
        let answer = send(&to_end).await.expect("answered");
        assert_eq!(&answer.body[..], b"all of it");
        assert_eq!(idle_count(&to_end), None, "not kept");
        one.abort();
        two.abort();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_broken_or_oversized_answer_is_an_error_not_a_hang() {
        for (answer, expected) in [
            (
                &b"nonsense\r\n\r\n"[..],
                "the model's answer is not HTTP/1.1",
            ),
            (
                &b"HTTP/1.1 200 OK\r\ncontent-length: 7000000\r\n\r\n"[..],
                "the model's answer is larger than 6 MB",
            ),
            (
                &b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n"[..],
                "the model's answer has a bad Content-Length",
            ),
            (
                &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"[..],
                "the model's answer has a bad chunk",
            ),
            (
                &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nfffffff\r\n"[..],
                "the model's answer is larger than 6 MB",
            ),
            (
                &b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"[..],
                "connection closed mid-response",
            ),
            (&b""[..], "connection closed before the answer"),
        ] {
            let (address, _, server) = canned(answer, true).await;
            assert_eq!(
                send(&address).await.err(),
                Some(expected),
                "{}",
                String::from_utf8_lossy(answer)
            );
            server.abort();
        }
    }
}
