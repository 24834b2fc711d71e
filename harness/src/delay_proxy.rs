//! A user-space TCP delay line, to measure a client over a slow link where the kernel has no
//! netem.
//!
//! [`DelayProxy::start`] listens on 127.0.0.1 and, for each connection, connects to the upstream
//! address and forwards both directions. Every chunk read at time `t` is written at
//! `t + one_way`, in order, while later chunks keep being read: a delay line, not stop-and-wait,
//! so the round trip grows by twice `one_way` and bandwidth does not collapse. Bytes pass through
//! untouched (TLS included).
//!
//! Invariants:
//! - Each direction holds at most [`BUFFER_BYTES`] in flight; when full, reading that side
//!   waits (backpressure), which caps throughput at `BUFFER_BYTES / one_way`.
//! - End of stream (or a read error) is forwarded as a half-close after the same delay; a
//!   failed write ends the connection.
//! - The proxy runs on its own thread and runtime; dropping [`DelayProxy`] stops it and every
//!   connection at once.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Bytes in flight per direction of one connection (80 MB/s at 20 ms one way).
pub const BUFFER_BYTES: usize = 16 * 1024 * 1024;
/// The largest chunk read at once.
const CHUNK_BYTES: usize = 64 * 1024;

/// A running delay proxy; dropping it stops it and closes its connections.
#[derive(Debug)]
pub struct DelayProxy {
    addr: SocketAddr,
    one_way: Duration,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DelayProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `upstream`, each direction
    /// delayed by `one_way`.
    pub fn start(upstream: SocketAddr, one_way: Duration) -> io::Result<DelayProxy> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("delay-proxy-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = stopped => {}
                        () = accept_loop(listener, upstream, one_way) => {}
                    }
                });
                // Dropping the runtime here cancels every connection task.
            })?;
        Ok(DelayProxy {
            addr,
            one_way,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The delay added to each direction.
    pub fn one_way(&self) -> Duration {
        self.one_way
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until the listener fails; each is served by its own task.
async fn accept_loop(listener: TcpListener, upstream: SocketAddr, one_way: Duration) {
    loop {
        match listener.accept().await {
            Ok((inbound, _)) => {
                tokio::spawn(serve_connection(inbound, upstream, one_way));
            }
            Err(error) => {
                // EMFILE and the like: wait a little rather than spin.
                tracing::warn!(%error, "delay proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Connects upstream and runs both delay lines until both directions are closed.
async fn serve_connection(inbound: TcpStream, upstream: SocketAddr, one_way: Duration) {
    let outbound = match TcpStream::connect(upstream).await {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, %upstream, "delay proxy: upstream connect failed");
            return;
        }
    };
    // The proxy must not add Nagle delays of its own.
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (inbound_read, inbound_write) = inbound.into_split();
    let (outbound_read, outbound_write) = outbound.into_split();
    tokio::join!(
        delay_line(inbound_read, outbound_write, one_way),
        delay_line(outbound_read, inbound_write, one_way),
    );
}

/// One chunk waiting in the line: what to write (`None`: end of stream), when, and the share
/// of the byte budget it holds.
struct Chunk {
    due: Instant,
    data: Option<Bytes>,
    _budget: OwnedSemaphorePermit,
}

/// Forwards `reader` to `writer`, each chunk `delay` after it was read.
async fn delay_line(mut reader: OwnedReadHalf, mut writer: OwnedWriteHalf, delay: Duration) {
    let budget = Arc::new(Semaphore::new(BUFFER_BYTES));
    // Unbounded in items, bounded in bytes by `budget`: a full line blocks the reader.
    let (chunks, mut line) = mpsc::unbounded_channel::<Chunk>();
    let reading = tokio::spawn(async move {
        let mut buffer = BytesMut::with_capacity(CHUNK_BYTES);
        loop {
            let Ok(mut permit) = budget.clone().acquire_many_owned(CHUNK_BYTES as u32).await else {
                return;
            };
            buffer.reserve(CHUNK_BYTES);
            let read = reader.read_buf(&mut buffer).await;
            let due = Instant::now() + delay;
            match read {
                Ok(n) if n > 0 => {
                    // Keep only the permits for the bytes read.
                    drop(permit.split(CHUNK_BYTES - n));
                    let data = Some(buffer.split().freeze());
                    let chunk = Chunk {
                        due,
                        data,
                        _budget: permit,
                    };
                    if chunks.send(chunk).is_err() {
                        return;
                    }
                }
                // End of stream, or an error we forward as one.
                _ => {
                    let _ = chunks.send(Chunk {
                        due,
                        data: None,
                        _budget: permit,
                    });
                    return;
                }
            }
        }
    });
    while let Some(chunk) = line.recv().await {
        tokio::time::sleep_until(chunk.due).await;
        match chunk.data {
            Some(data) => {
                if writer.write_all(&data).await.is_err() {
                    break;
                }
            }
            None => {
                let _ = writer.shutdown().await;
                break;
            }
        }
    }
    // The far side is gone or finished: stop reading for it.
    reading.abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant as StdInstant;

    const ONE_WAY: Duration = Duration::from_millis(50);
    const TEST_TIMEOUT: Duration = Duration::from_secs(30);

    /// An upstream that echoes every byte until the client half-closes, then closes.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.into_split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                    let _ = write.shutdown().await;
                });
            }
        });
        addr
    }

    /// An upstream that reads to end of stream, then answers the byte count and closes.
    async fn counting_server() -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut sink = Vec::new();
                    let n = stream.read_to_end(&mut sink).await.unwrap();
                    stream.write_all(format!("{n}").as_bytes()).await.unwrap();
                    stream.shutdown().await.unwrap();
                });
            }
        });
        addr
    }

    async fn with_timeout<F: std::future::Future>(future: F) -> F::Output {
        tokio::time::timeout(TEST_TIMEOUT, future)
            .await
            .expect("test timed out")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_round_trip_takes_twice_the_one_way_delay() {
        with_timeout(async {
            let proxy = DelayProxy::start(echo_server().await, ONE_WAY).unwrap();
            let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
            client.set_nodelay(true).unwrap();
            for _ in 0..3 {
                let started = StdInstant::now();
                client.write_all(b"ping").await.unwrap();
                let mut answer = [0u8; 4];
                client.read_exact(&mut answer).await.unwrap();
                let elapsed = started.elapsed();
                assert_eq!(&answer, b"ping");
                assert!(elapsed >= 2 * ONE_WAY, "round trip took {elapsed:?}");
                assert!(elapsed < 10 * ONE_WAY, "round trip took {elapsed:?}");
            }
            // A half-close travels through, and the echo's close comes back.
            client.shutdown().await.unwrap();
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bulk_transfer_is_not_stop_and_wait() {
        with_timeout(async {
            const SIZE: usize = 20 * 1024 * 1024;
            let proxy = DelayProxy::start(counting_server().await, ONE_WAY).unwrap();
            let started = StdInstant::now();
            let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
            let payload = vec![b'x'; SIZE];
            client.write_all(&payload).await.unwrap();
            client.shutdown().await.unwrap();
            let mut answer = String::new();
            client.read_to_string(&mut answer).await.unwrap();
            let elapsed = started.elapsed();
            assert_eq!(answer, SIZE.to_string());
            // One 64 KiB chunk per delay would take 320 x 50 ms = 16 s.
            assert!(elapsed >= 2 * ONE_WAY, "took {elapsed:?}");
            assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_proxy_closes_its_connections() {
        with_timeout(async {
            let proxy = DelayProxy::start(echo_server().await, ONE_WAY).unwrap();
            let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
            client.write_all(b"hello").await.unwrap();
            let mut answer = [0u8; 5];
            client.read_exact(&mut answer).await.unwrap();
            tokio::task::spawn_blocking(move || drop(proxy))
                .await
                .unwrap();
            let mut rest = Vec::new();
            // Closed (EOF or reset), not hanging.
            let _ = client.read_to_end(&mut rest).await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_upstream_closes_the_client() {
        with_timeout(async {
            let unused = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
            let upstream = unused.local_addr().unwrap();
            drop(unused);
            let proxy = DelayProxy::start(upstream, ONE_WAY).unwrap();
            let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
            let mut rest = Vec::new();
            let _ = client.read_to_end(&mut rest).await;
            assert!(rest.is_empty());
        })
        .await;
    }
}
