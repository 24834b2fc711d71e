//! The byte stream under an IMAP session: TCP, TLS on top, and optionally DEFLATE on top of that.
//!
//! COMPRESS=DEFLATE (RFC 4978) starts right after the server's tagged OK, in the middle of a
//! session, so the stream switches in place ([`Transport::start_deflate`]) while async-imap keeps
//! its session object. The switch is safe because the server sends nothing between that OK and
//! the client's next command, so no cleartext bytes can be sitting in a read buffer.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Anything a session can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}

enum Layer {
    Raw(Counted),
    Deflate(Box<Deflate>),
    Switching,
}

/// Bytes that crossed the wire (after TLS framing is removed, before decompression).
#[derive(Debug, Default)]
pub struct WireCounters {
    /// Bytes read from the socket layer.
    pub read: AtomicU64,
    /// Bytes written to the socket layer.
    pub written: AtomicU64,
}

/// Counts the bytes of the stream below DEFLATE.
struct Counted {
    inner: Box<dyn Io>,
    counters: Arc<WireCounters>,
}

impl fmt::Debug for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Counted")
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.counters.read.fetch_add(n, Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.counters
                .written
                .fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &r {
            self.counters
                .written
                .fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The stream an IMAP session runs over.
pub struct Transport {
    layer: Layer,
    counters: Arc<WireCounters>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.layer {
            Layer::Raw(_) => "raw",
            Layer::Deflate(_) => "deflate",
            Layer::Switching => "switching",
        };
        write!(f, "Transport({kind})")
    }
}

impl Transport {
    /// Wraps a connected (and, where wanted, TLS-wrapped) stream.
    pub fn new(inner: Box<dyn Io>) -> Self {
        let counters = Arc::new(WireCounters::default());
        Transport {
            layer: Layer::Raw(Counted {
                inner,
                counters: counters.clone(),
            }),
            counters,
        }
    }

    /// Switches both directions to raw DEFLATE. Call right after the tagged OK of
    /// `COMPRESS DEFLATE`, before sending anything else.
    pub fn start_deflate(&mut self) {
        if let Layer::Raw(raw) = std::mem::replace(&mut self.layer, Layer::Switching) {
            self.layer = Layer::Deflate(Box::new(Deflate::new(raw)));
        }
    }

    /// True once DEFLATE is on.
    pub fn is_deflate(&self) -> bool {
        matches!(self.layer, Layer::Deflate(_))
    }

    /// Wire byte counters of this connection.
    pub fn counters(&self) -> Arc<WireCounters> {
        self.counters.clone()
    }
}

fn switching() -> io::Error {
    io::Error::other("transport used while switching compression")
}

impl AsyncRead for Transport {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.layer {
            Layer::Raw(s) => Pin::new(s).poll_read(cx, buf),
            Layer::Deflate(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Layer::Switching => Poll::Ready(Err(switching())),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.layer {
            Layer::Raw(s) => Pin::new(s).poll_write(cx, buf),
            Layer::Deflate(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Layer::Switching => Poll::Ready(Err(switching())),
        }
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.layer {
            Layer::Raw(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Layer::Deflate(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Layer::Switching => Poll::Ready(Err(switching())),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match &self.layer {
            Layer::Raw(s) => s.is_write_vectored(),
            _ => false,
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.layer {
            Layer::Raw(s) => Pin::new(s).poll_flush(cx),
            Layer::Deflate(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Layer::Switching => Poll::Ready(Err(switching())),
        }
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.layer {
            Layer::Raw(s) => Pin::new(s).poll_shutdown(cx),
            Layer::Deflate(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Layer::Switching => Poll::Ready(Err(switching())),
        }
    }
}

/// Raw DEFLATE (RFC 1951) in both directions over the stream below, as RFC 4978 wants: the
/// writer sync-flushes on every flush, so each command reaches the server whole.
struct Deflate {
    inner: Counted,
    compress: Compress,
    decompress: Decompress,
    /// Compressed bytes not yet written to `inner`.
    out: Vec<u8>,
    out_pos: usize,
    /// Bytes were compressed since the last sync flush.
    unflushed: bool,
    /// Compressed bytes read from `inner`, not yet inflated: `input[in_pos..in_end]`.
    input: Box<[u8]>,
    in_pos: usize,
    in_end: usize,
}

/// Compressed output kept before the writer waits for the socket.
const DEFLATE_HIGH_WATER: usize = 256 * 1024;

impl Deflate {
    fn new(inner: Counted) -> Self {
        Deflate {
            inner,
            // Level 1: on any link worth compressing for, the compressor must outrun the link.
            compress: Compress::new(Compression::fast(), false),
            decompress: Decompress::new(false),
            out: Vec::with_capacity(64 * 1024),
            out_pos: 0,
            unflushed: false,
            input: vec![0u8; 64 * 1024].into_boxed_slice(),
            in_pos: 0,
            in_end: 0,
        }
    }

    /// Writes pending compressed bytes to the stream below.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = match Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_pos..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            self.out_pos += n;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Compresses `data` (with `flush`) onto the pending output.
    fn deflate(&mut self, mut data: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            if self.out.capacity() - self.out.len() < 1024 + data.len() / 2 {
                self.out.reserve(64 * 1024 + data.len() / 2);
            }
            let before_in = self.compress.total_in();
            self.compress
                .compress_vec(data, &mut self.out, flush)
                .map_err(io::Error::other)?;
            data = &data[(self.compress.total_in() - before_in) as usize..];
            // zlib is done when all input is taken and it stopped with output room to spare;
            // a call that filled the buffer may have more to say (deflate(3)).
            if data.is_empty() && self.out.len() < self.out.capacity() {
                return Ok(());
            }
        }
    }
}

impl AsyncWrite for Deflate {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.out.len() - this.out_pos >= DEFLATE_HIGH_WATER {
            match this.poll_drain(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map(|r| r.map(|()| 0)),
            }
        }
        this.deflate(buf, FlushCompress::None)?;
        this.unflushed = true;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.unflushed {
            this.deflate(&[], FlushCompress::Sync)?;
            this.unflushed = false;
        }
        std::task::ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncRead for Deflate {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            // Inflate what we have (also with no input: the inflater may hold output).
            let out = buf.initialize_unfilled();
            if out.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let (before_in, before_out) = (this.decompress.total_in(), this.decompress.total_out());
            let status = this
                .decompress
                .decompress(
                    &this.input[this.in_pos..this.in_end],
                    out,
                    FlushDecompress::None,
                )
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            this.in_pos += (this.decompress.total_in() - before_in) as usize;
            let produced = (this.decompress.total_out() - before_out) as usize;
            if produced > 0 {
                buf.advance(produced);
                return Poll::Ready(Ok(()));
            }
            if status == Status::StreamEnd {
                return Poll::Ready(Ok(())); // the peer ended the DEFLATE stream: EOF
            }
            if this.in_pos < this.in_end {
                continue; // consumed input (e.g. a sync marker) without output yet
            }
            // Need more compressed bytes.
            this.in_pos = 0;
            this.in_end = 0;
            let mut rb = ReadBuf::new(&mut this.input);
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                return Poll::Ready(Ok(())); // EOF below
            }
            this.in_end = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn pair() -> (Transport, Transport) {
        let (a, b) = tokio::io::duplex(8 * 1024);
        let (mut a, mut b) = (Transport::new(Box::new(a)), Transport::new(Box::new(b)));
        a.start_deflate();
        b.start_deflate();
        (a, b)
    }

    fn payload(len: usize, seed: u32) -> Vec<u8> {
        // Half text (compressible), half noise (not).
        let mut x = seed | 1;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if (i / 4096) % 2 == 0 {
                    b"the quick brown fox "[i % 20]
                } else {
                    x as u8
                }
            })
            .collect()
    }

    /// What a flush sends must arrive whole, with nothing held back in either direction: the
    /// peer answers only after reading all of it (an IMAP server waiting for a literal's end).
    #[tokio::test]
    async fn every_flush_delivers_everything_written_so_far() {
        let (mut client, mut server) = pair();
        let echo = tokio::spawn(async move {
            for round in 0..40u32 {
                let want = 1 + (round as usize * 7919) % 300_000;
                let mut got = vec![0u8; want];
                server.read_exact(&mut got).await.unwrap();
                assert_eq!(got, payload(want, round), "round {round}");
                server
                    .write_all(format!("P{round} OK\r\n").as_bytes())
                    .await
                    .unwrap();
                server.flush().await.unwrap();
            }
        });
        for round in 0..40u32 {
            let want = 1 + (round as usize * 7919) % 300_000;
            let data = payload(want, round);
            // Written in uneven pieces, flushed once, like an APPEND command.
            for chunk in data.chunks(1 + round as usize * 131) {
                client.write_all(chunk).await.unwrap();
            }
            client.flush().await.unwrap();
            let line = format!("P{round} OK\r\n");
            let mut answer = vec![0u8; line.len()];
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                client.read_exact(&mut answer),
            )
            .await
            .expect("answer held back")
            .unwrap();
            assert_eq!(answer, line.as_bytes());
        }
        echo.await.unwrap();
        let c = client.counters();
        assert!(c.written.load(Ordering::Relaxed) > 0);
    }
}
