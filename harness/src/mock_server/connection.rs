//! One connection's I/O loop: read into a large buffer, frame and run every complete command,
//! then write all responses in one batch. Generic over the stream so TLS, STARTTLS and
//! COMPRESS wrap the transport without touching the protocol.
//!
//! Two paths. Unshaped, responses are written as soon as they are made. Shaped (latency,
//! bandwidth, think time) or faulty, a reader and a writer run side by side joined by a bounded
//! queue: the reader runs commands one at a time and stamps each answer with the time it may
//! leave (the server is busy `think_time` per command, then the link adds `latency`); the writer
//! waits for that time and paces the bytes through the bandwidth bucket. Faults strike between
//! answers, counted per connection.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::faults::{Armed, Fault, ShortWriter};
use super::framing::Framer;
use super::response::OutBuf;
use super::session::{Action, Session};
use super::shaping::{pace, wait_until, LinkPacers};

/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;
/// Answers queued for the writer before the reader waits.
const QUEUED_ANSWERS: usize = 64;
/// Bytes the writer sends per pacing step.
const PACED_PIECE: usize = 16 * 1024;
/// What a garbage fault sends.
const GARBAGE: &[u8] = b"\x00\x01\x02 }{ this is not IMAP (\xff\xfe\r\n";

/// One connection's protocol state and buffers. Only the session and the fault schedule
/// survive a STARTTLS or COMPRESS switch: buffered input is dropped so nothing sent in plaintext
/// is read as if it came over TLS.
pub(crate) struct Connection {
    /// Protocol state.
    pub(crate) session: Session,
    framer: Framer,
    input: BytesMut,
    output: OutBuf,
    /// Faults still to strike, soonest first.
    faults: Vec<Armed>,
    /// Commands answered so far.
    answered: u32,
    /// When the server finishes the last command it took (think time).
    busy_until: Instant,
    /// Close at the next read that stops inside an APPEND literal.
    drop_mid_literal: bool,
    /// The writer's fault state, kept across STARTTLS and COMPRESS.
    writer_faults: WriterFaults,
    /// Numbers the connection for the fault schedule.
    connection: u64,
}

/// Faults the writer applies: a byte budget before a cut, short writes.
#[derive(Default)]
struct WriterFaults {
    drop_after: Option<u64>,
    short: Option<Box<ShortWriter>>,
}

/// What the reader hands the writer.
enum Out {
    /// Bytes that may leave at the instant.
    Answer(Instant, Vec<Bytes>),
    /// Send at most this many more bytes, then close.
    DropAfter(u64),
    /// From now on write in tiny pieces.
    ShortWrites(Box<ShortWriter>),
}

impl Connection {
    /// A connection around a new session; `connection` numbers it for the fault schedule.
    pub(crate) fn new(session: Session, connection: u64) -> Self {
        let faults = session.shared.config.faults.arm(connection);
        Connection {
            session,
            framer: Framer::default(),
            input: BytesMut::with_capacity(READ_CHUNK),
            output: OutBuf::default(),
            faults,
            answered: 0,
            busy_until: Instant::now(),
            drop_mid_literal: false,
            writer_faults: WriterFaults::default(),
            connection,
        }
    }

    /// Queues the greeting (sent with the first flush).
    pub(crate) fn greet(&mut self) {
        self.session.greeting(&mut self.output);
    }

    /// Serves `stream` until the client leaves, the session closes it, or it switches layers
    /// (STARTTLS, COMPRESS).
    pub(crate) async fn serve<S>(&mut self, stream: &mut S) -> std::io::Result<Action>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let shared = self.session.shared.clone();
        if shared.config.shaping.is_active() || !shared.config.faults.rules.is_empty() {
            return self.serve_shaped(stream).await;
        }
        loop {
            let action = self.run_buffered();
            flush(stream, &mut self.output).await?;
            if action != Action::Continue {
                return self.finish(stream, action).await;
            }
            self.input.reserve(READ_CHUNK);
            if stream.read_buf(&mut self.input).await? == 0 {
                return Ok(Action::Close);
            }
        }
    }

    /// Resets the input for a layer switch, or shuts the stream down.
    async fn finish<S>(&mut self, stream: &mut S, action: Action) -> std::io::Result<Action>
    where
        S: AsyncWrite + Unpin,
    {
        match action {
            Action::StartTls | Action::Compress => {
                self.input.clear();
                self.framer = Framer::default();
            }
            Action::Close => {
                let _ = stream.shutdown().await;
            }
            Action::Continue => {}
        }
        Ok(action)
    }

    /// Runs every complete command in the input buffer.
    fn run_buffered(&mut self) -> Action {
        loop {
            match self.run_one() {
                None => return Action::Continue,
                Some(Action::Continue) => {}
                Some(action) => return action,
            }
        }
    }

    /// Runs the next complete command, if there is one.
    fn run_one(&mut self) -> Option<Action> {
        if self.session.wants_line() {
            match self.framer.next_line(&mut self.input)? {
                Ok(line) => Some(self.session.handle_line(line, &mut self.output)),
                Err(text) => {
                    self.output.status(b"*", "BAD", text);
                    Some(Action::Close)
                }
            }
        } else {
            let session = &self.session;
            let check =
                |cmd: &[u8], len: u64, non_sync: bool| session.literal_check(cmd, len, non_sync);
            let event = self
                .framer
                .next(&mut self.input, &mut self.output, &check)?;
            Some(self.session.handle(event, &mut self.output))
        }
    }

    /// The shaped path: see the module doc.
    async fn serve_shaped<S>(&mut self, stream: &mut S) -> std::io::Result<Action>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let shared = self.session.shared.clone();
        let shaping = &shared.config.shaping;
        let pacers = shaping
            .bandwidth
            .as_ref()
            .map(|b| LinkPacers::for_connection(b, &shared.link));
        let (mut rd, mut wr) = tokio::io::split(&mut *stream);
        let action = {
            let (tx, rx) = mpsc::channel(QUEUED_ANSWERS);
            let down = pacers.as_ref().map(|p| p.down.clone());
            let faults = std::mem::take(&mut self.writer_faults);
            let writer = write_answers(&mut wr, rx, down, faults);
            let up = pacers.map(|p| p.up);
            let reader = self.read_commands(&mut rd, tx, up);
            tokio::pin!(reader, writer);
            tokio::select! {
                action = &mut reader => {
                    let action = action?;
                    // Let the writer send everything queued before the answer to the action.
                    let faults = (&mut writer).await?;
                    (action, faults)
                }
                written = &mut writer => {
                    // The writer stopped first: a fault cut the connection, or the client left.
                    (Action::Close, written?)
                }
            }
        };
        let (action, faults) = action;
        self.writer_faults = faults;
        drop((rd, wr));
        self.finish(stream, action).await
    }

    /// The reader half of the shaped path.
    async fn read_commands<R>(
        &mut self,
        rd: &mut R,
        tx: mpsc::Sender<Out>,
        up: Option<super::shaping::SharedPacer>,
    ) -> std::io::Result<Action>
    where
        R: AsyncRead + Unpin,
    {
        let shaping = self.session.shared.config.shaping.clone();
        let send = |out: Out| {
            let tx = tx.clone();
            async move {
                tx.send(out)
                    .await
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            }
        };
        // The greeting, or whatever a layer switch left queued.
        if !self.output.is_empty() {
            let at = Instant::now() + shaping.latency;
            send(Out::Answer(at, self.output.take())).await?;
        }
        loop {
            loop {
                // A fault due after `answered` commands strikes before the next one runs,
                // whether or not that one is already buffered: the same seed gives the same
                // outcome however the client's bytes were split into reads.
                if let Some(stop) = self.strike(&send).await? {
                    return Ok(stop);
                }
                let Some(action) = self.run_one() else { break };
                let now = Instant::now();
                self.busy_until = self.busy_until.max(now) + shaping.think_time;
                self.answered += 1;
                if !self.output.is_empty() {
                    let at = self.busy_until + shaping.latency;
                    send(Out::Answer(at, self.output.take())).await?;
                }
                if action != Action::Continue {
                    return Ok(action);
                }
            }
            // A continuation (`+ Ready`) made while framing a literal goes out now: the client
            // waits for it before sending the literal.
            if !self.output.is_empty() {
                let at = self.busy_until.max(Instant::now()) + shaping.latency;
                send(Out::Answer(at, self.output.take())).await?;
            }
            if self.drop_mid_literal && self.framer.in_literal_of(b"APPEND") {
                return Ok(Action::Close);
            }
            self.input.reserve(READ_CHUNK);
            let n = rd.read_buf(&mut self.input).await?;
            if n == 0 {
                return Ok(Action::Close);
            }
            if let Some(up) = &up {
                pace(up, n).await;
            }
        }
    }

    /// Applies the faults due before the next answer; `Some(Close)` ends the connection.
    async fn strike<F, Fut>(&mut self, send: &F) -> std::io::Result<Option<Action>>
    where
        F: Fn(Out) -> Fut,
        Fut: std::future::Future<Output = std::io::Result<()>>,
    {
        while self
            .faults
            .first()
            .is_some_and(|f| f.after_commands <= self.answered)
        {
            let armed = self.faults.remove(0);
            tracing::debug!(
                "mock fault on connection {}: {:?} after {} commands",
                self.connection,
                armed.fault,
                self.answered
            );
            match armed.fault {
                Fault::Drop => {
                    self.output.take();
                    return Ok(Some(Action::Close));
                }
                Fault::Bye => {
                    self.output.take();
                    self.output.put(b"* BYE Server shutting down.\r\n");
                    let at = self.busy_until.max(Instant::now())
                        + self.session.shared.config.shaping.latency;
                    send(Out::Answer(at, self.output.take())).await?;
                    return Ok(Some(Action::Close));
                }
                Fault::DropAfterBytes(n) => send(Out::DropAfter(n)).await?,
                Fault::DropMidLiteral => self.drop_mid_literal = true,
                Fault::Stall(d) => tokio::time::sleep(d).await,
                Fault::Garbage => {
                    send(Out::Answer(
                        Instant::now(),
                        vec![Bytes::from_static(GARBAGE)],
                    ))
                    .await?
                }
                Fault::ShortWrites => {
                    let seed = self.session.shared.config.faults.seed;
                    send(Out::ShortWrites(Box::new(ShortWriter::new(
                        seed,
                        self.connection,
                    ))))
                    .await?;
                }
            }
        }
        Ok(None)
    }
}

/// The writer half of the shaped path: each answer at its time, paced, maybe cut short.
async fn write_answers<W>(
    wr: &mut W,
    mut rx: mpsc::Receiver<Out>,
    down: Option<super::shaping::SharedPacer>,
    faults: WriterFaults,
) -> std::io::Result<WriterFaults>
where
    W: AsyncWrite + Unpin,
{
    let WriterFaults {
        mut drop_after,
        mut short,
    } = faults;
    while let Some(out) = rx.recv().await {
        let (at, chunks) = match out {
            Out::Answer(at, chunks) => (at, chunks),
            Out::DropAfter(n) => {
                drop_after = Some(n);
                continue;
            }
            Out::ShortWrites(s) => {
                short = Some(s);
                continue;
            }
        };
        wait_until(at).await;
        for chunk in chunks {
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let mut n = rest.len().min(PACED_PIECE);
                if let Some(s) = &mut short {
                    n = n.min(s.next_len());
                }
                if let Some(left) = drop_after {
                    n = n.min(left as usize);
                }
                if n == 0 {
                    // The fault's byte budget is spent: cut the connection here.
                    wr.flush().await?;
                    return Ok(WriterFaults { drop_after, short });
                }
                if let Some(down) = &down {
                    pace(down, n).await;
                }
                wr.write_all(&rest[..n]).await?;
                if short.is_some() {
                    wr.flush().await?;
                }
                rest = &rest[n..];
                if let Some(left) = &mut drop_after {
                    *left -= n as u64;
                }
            }
        }
        wr.flush().await?;
    }
    Ok(WriterFaults { drop_after, short })
}

async fn flush<S: AsyncWrite + Unpin>(stream: &mut S, output: &mut OutBuf) -> std::io::Result<()> {
    if output.is_empty() {
        return Ok(());
    }
    for chunk in output.take() {
        stream.write_all(&chunk).await?;
    }
    stream.flush().await
}
