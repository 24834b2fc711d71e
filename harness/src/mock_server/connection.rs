//! One connection's I/O loop: read into a large buffer, frame and run every complete command,
//! then write all responses in one batch. Generic over the stream so TLS, STARTTLS and, later,
//! latency/bandwidth shaping wrap the transport without touching the protocol.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::framing::Framer;
use super::response::OutBuf;
use super::session::{Action, Session};

/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// One connection's protocol state and buffers. Only the session survives a STARTTLS upgrade:
/// buffered input is dropped so nothing sent in plaintext is read as if it came over TLS.
pub(crate) struct Connection {
    /// Protocol state.
    pub(crate) session: Session,
    framer: Framer,
    input: BytesMut,
    output: OutBuf,
}

impl Connection {
    /// A connection around a new session.
    pub(crate) fn new(session: Session) -> Self {
        Connection {
            session,
            framer: Framer::default(),
            input: BytesMut::with_capacity(READ_CHUNK),
            output: OutBuf::default(),
        }
    }

    /// Queues the greeting (sent with the first flush).
    pub(crate) fn greet(&mut self) {
        self.session.greeting(&mut self.output);
    }

    /// Serves `stream` until the client leaves, the session closes it, or STARTTLS.
    pub(crate) async fn serve<S>(&mut self, stream: &mut S) -> std::io::Result<Action>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            let action = self.run_buffered();
            flush(stream, &mut self.output).await?;
            match action {
                Action::Continue => {}
                Action::StartTls => {
                    self.input.clear();
                    self.framer = Framer::default();
                    return Ok(Action::StartTls);
                }
                Action::Close => {
                    let _ = stream.shutdown().await;
                    return Ok(Action::Close);
                }
            }
            self.input.reserve(READ_CHUNK);
            if stream.read_buf(&mut self.input).await? == 0 {
                return Ok(Action::Close);
            }
        }
    }

    /// Runs every complete command in the input buffer.
    fn run_buffered(&mut self) -> Action {
        loop {
            let action = if self.session.wants_line() {
                match self.framer.next_line(&mut self.input) {
                    None => return Action::Continue,
                    Some(Ok(line)) => self.session.handle_line(line, &mut self.output),
                    Some(Err(text)) => {
                        self.output.status(b"*", "BAD", text);
                        Action::Close
                    }
                }
            } else {
                let session = &self.session;
                let check = |cmd: &[u8], len: u64, non_sync: bool| {
                    session.literal_check(cmd, len, non_sync)
                };
                match self.framer.next(&mut self.input, &mut self.output, &check) {
                    None => return Action::Continue,
                    Some(event) => self.session.handle(event, &mut self.output),
                }
            };
            if action != Action::Continue {
                return action;
            }
        }
    }
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
