//! The router's connections to model servers: HTTP/1.1, kept alive, held per
//! thread and per instance.
//!
//! Each HTTP thread runs its own single-threaded runtime (`web::
//! spawn_server_threads`), so an invocation, its upstream connection and the
//! connection's task stay on one thread. A connection is taken from this
//! thread's idle list, or opened, for one exchange, and put back once the
//! model's whole answer has been read. That is what hyper-util's pooled client
//! did, less its keyed pool and its per-request channel hops, which were a
//! sixth of the router's own CPU (BENCHMARKS.md).
//!
//! A connection the model server has closed while idle (an instance stopped,
//! or a runtime that ended) is found when hyper refuses the request before
//! writing it, and the request goes out on the next connection: an invocation
//! is never sent twice.

use std::cell::RefCell;
use std::sync::Arc;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Idle connections kept per instance and thread, at most.
const MOST_IDLE: usize = 256;

/// Connections found closed before a request goes out on a new one.
const MOST_STALE: usize = 8;

type Sender = SendRequest<Full<Bytes>>;

thread_local! {
    /// This thread's idle connections, by instance address (`host:port`).
    static IDLE: RefCell<Vec<(Arc<str>, Vec<Sender>)>> = const { RefCell::new(Vec::new()) };
}

fn take_idle(authority: &Arc<str>) -> Option<Sender> {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let (_, senders) = idle
            .iter_mut()
            .find(|(address, _)| Arc::ptr_eq(address, authority) || address == authority)?;
        while let Some(sender) = senders.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    })
}

fn put_idle(authority: &Arc<str>, sender: Sender) {
    if sender.is_closed() {
        return;
    }
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        match idle
            .iter_mut()
            .find(|(address, _)| Arc::ptr_eq(address, authority) || address == authority)
        {
            Some((_, senders)) if senders.len() < MOST_IDLE => senders.push(sender),
            Some(_) => {}
            None => {
                // A new instance: forget those whose connections have all
                // closed (instances stopped as fleets were replaced).
                idle.retain_mut(|(_, senders)| {
                    senders.retain(|sender| !sender.is_closed());
                    !senders.is_empty()
                });
                idle.push((authority.clone(), vec![sender]));
            }
        }
    });
}

async fn connect(authority: &str) -> Result<Sender, &'static str> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|_| "connection refused")?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| "connection refused")?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends `request` to the instance at `authority` and reads the whole answer.
pub async fn exchange(
    authority: &Arc<str>,
    mut request: hyper::Request<Full<Bytes>>,
) -> Result<(hyper::http::response::Parts, Bytes), &'static str> {
    let mut stale = 0;
    loop {
        let (mut sender, fresh) = match take_idle(authority).filter(|_| stale < MOST_STALE) {
            Some(sender) => (sender, false),
            None => (connect(authority).await?, true),
        };
        match sender.try_send_request(request).await {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map_err(|_| "connection closed mid-response")?
                    .to_bytes();
                put_idle(authority, sender);
                return Ok((parts, bytes));
            }
            Err(mut failure) => match failure.take_message() {
                // Refused before a byte was written: the connection had
                // closed while idle. Send on another.
                Some(unsent) if !fresh => {
                    request = unsent;
                    stale += 1;
                }
                _ => return Err("connection refused"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model server that answers one request per connection, then closes
    /// it: every idle connection the router keeps is stale by the next call.
    async fn one_request_per_connection() -> (Arc<str>, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address: Arc<str> = Arc::from(listener.local_addr().expect("address").to_string());
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_request| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(b"ok"),
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (address, server)
    }

    fn request(authority: &str) -> hyper::Request<Full<Bytes>> {
        hyper::Request::post("/invocations")
            .header(hyper::header::HOST, authority)
            .body(Full::new(Bytes::from_static(b"1,2")))
            .expect("request")
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
    async fn connections_are_reused_and_a_closed_one_is_passed_over() {
        let server = baseline_server(1).await;
        let authority: Arc<str> = Arc::from(server.address.to_string());
        for _ in 0..3 {
            let (parts, _) = exchange(&authority, request(&authority))
                .await
                .expect("answered");
            assert!(parts.status.is_success(), "{:?}", parts.status);
        }
        // One connection served all three, one after the other.
        let idle = IDLE.with(|idle| {
            idle.borrow()
                .iter()
                .find(|(address, _)| *address == authority)
                .map_or(0, |(_, senders)| senders.len())
        });
        assert_eq!(idle, 1);

        // A server that closes every connection after one answer: the idle
        // connection is closed by the next request, which goes out on a new
        // one and is answered.
        let (closing, task) = one_request_per_connection().await;
        for _ in 0..3 {
            let (parts, body) = exchange(&closing, request(&closing))
                .await
                .expect("answered on a new connection");
            assert!(parts.status.is_success());
            assert_eq!(&body[..], b"ok");
            tokio::task::yield_now().await;
        }
        task.abort();
        // The closing server's connections are closed; the first connection
        // kept to another instance forgets them.
        let kept = |authority: &Arc<str>| {
            IDLE.with(|idle| {
                idle.borrow()
                    .iter()
                    .find(|(address, _)| address == authority)
                    .map(|(_, senders)| senders.iter().filter(|sender| !sender.is_closed()).count())
            })
        };
        for _ in 0..400 {
            if kept(&closing).unwrap_or(0) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(
            kept(&closing).unwrap_or(0),
            0,
            "the closing server's connections closed"
        );
        let other = baseline_server(2).await;
        let other_authority: Arc<str> = Arc::from(other.address.to_string());
        exchange(&other_authority, request(&other_authority))
            .await
            .expect("answered");
        assert_eq!(kept(&closing), None, "forgotten");
        assert_eq!(kept(&other_authority), Some(1));
        assert_eq!(
            kept(&authority),
            Some(1),
            "a live instance's connection stays"
        );
        // Nothing listens any more: refused, not retried for ever.
        drop(server);
        let nowhere: Arc<str> = Arc::from("127.0.0.1:9");
        assert_eq!(
            exchange(&nowhere, request(&nowhere)).await.err(),
            Some("connection refused")
        );
    }
}
