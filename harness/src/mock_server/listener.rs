//! The running server: binds loopback, accepts connections (TLS as configured) and runs one
//! task per connection. Dropping the [`MockServer`] aborts the accept task, whose `JoinSet`
//! aborts every connection task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::audit::{AuditBudget, BudgetAudit};
use super::config::{MockConfig, MockTls};
use super::connection::Connection;
use super::session::{Action, Session, Shared};
use super::stats::MockStats;
use super::store::MockStore;
use crate::certs::TestCa;
use cutover_engine::imap::{Io, Transport};
use tokio::io::AsyncWriteExt;

type Acceptor = Arc<async_native_tls::TlsAcceptor>;

/// A mock IMAP server running on `127.0.0.1`; dropping it stops accepting and closes every
/// connection.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    ca_pem: Option<String>,
    accept_task: JoinHandle<()>,
}

impl MockServer {
    /// Binds `127.0.0.1:0` and starts serving `store` as `config` says.
    pub async fn start(config: MockConfig, store: MockStore) -> anyhow::Result<MockServer> {
        anyhow::ensure!(
            config.delimiter == store.delimiter(),
            "config delimiter {:?} differs from the store's {:?}",
            config.delimiter,
            store.delimiter()
        );
        let mut ca_pem = None;
        let acceptor = if config.tls == MockTls::Plain {
            None
        } else {
            let identity = match &config.identity {
                Some(id) => id.clone(),
                None => {
                    let ca = TestCa::new()?;
                    ca_pem = Some(ca.ca_pem());
                    ca.server_cert(&["localhost", "127.0.0.1"])?
                }
            };
            let identity = native_tls::Identity::from_pkcs8(
                identity.cert_pem.as_bytes(),
                identity.key_pem.as_bytes(),
            )
            .context("mock server identity")?;
            let acceptor = native_tls::TlsAcceptor::new(identity).context("TLS acceptor")?;
            Some(Arc::new(async_native_tls::TlsAcceptor::from(acceptor)))
        };
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("mock server: cannot listen on {}", config.bind))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, store));
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone(), acceptor));
        Ok(MockServer {
            addr,
            shared,
            ca_pem,
            accept_task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `imaps://` (implicit TLS), `imap://` (STARTTLS) or `imap+plain://` (no TLS) URL.
    pub fn url(&self) -> String {
        let scheme = match self.shared.config.tls {
            MockTls::Implicit => "imaps",
            MockTls::StartTls => "imap",
            MockTls::Plain => "imap+plain",
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The data the server serves.
    pub fn store(&self) -> &MockStore {
        &self.shared.store
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MockStats {
        self.shared.stats.snapshot()
    }

    /// The budget audit: peak connections per user and per client IP, peak users per IP.
    pub fn audit(&self) -> BudgetAudit {
        self.shared.audit.snapshot()
    }

    /// The audit's violations of `budget`, one sentence each (empty when none).
    pub fn budget_violations(&self, budget: &AuditBudget) -> Vec<String> {
        self.audit().violations(budget)
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &MockConfig {
        &self.shared.config
    }

    /// The CA to trust when the server made its own certificate (`identity: None`).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, acceptor: Option<Acceptor>) {
    let mut connections = JoinSet::new();
    let numbers = AtomicU64::new(0);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else { continue };
                let number = numbers.fetch_add(1, Ordering::Relaxed);
                connections.spawn(serve(tcp, peer, number, shared.clone(), acceptor.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one connection to the end; errors just end it.
async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    number: u64,
    shared: Arc<Shared>,
    acceptor: Option<Acceptor>,
) {
    let _open = shared.stats.connection();
    let _ = tcp.set_nodelay(true);
    // Count the socket's bytes, under TLS and DEFLATE: what crossed the wire.
    let tcp = Transport::new(Box::new(tcp));
    let wire = tcp.counters();
    let result: anyhow::Result<()> = async {
        let ip_cap = shared.config.limits.max_connections_per_ip;
        let ticket = shared.audit.connect(peer.ip(), ip_cap);
        let implicit = shared.config.tls == MockTls::Implicit;
        let mut stream: Box<dyn Io> = match (&acceptor, implicit) {
            (Some(acceptor), true) => Box::new(acceptor.accept(tcp).await?),
            _ => Box::new(tcp),
        };
        let Ok(ticket) = ticket else {
            stream
                .write_all(b"* BYE Too many connections from your IP address.\r\n")
                .await?;
            let _ = stream.shutdown().await;
            return Ok(());
        };
        let session = Session::new(shared.clone(), implicit, ticket.ip());
        let mut conn = Connection::new(session, number);
        conn.greet();
        loop {
            match conn.serve(&mut stream).await? {
                Action::StartTls => {
                    let Some(acceptor) = &acceptor else {
                        anyhow::bail!("STARTTLS without a TLS acceptor")
                    };
                    stream = Box::new(acceptor.accept(stream).await?);
                    conn.session.tls_started();
                }
                Action::Compress => {
                    let mut transport = Transport::new(stream);
                    transport.start_deflate();
                    stream = Box::new(transport);
                }
                Action::Close | Action::Continue => break,
            }
        }
        drop(ticket);
        Ok(())
    }
    .await;
    shared.stats.wire(
        wire.read.load(Ordering::Relaxed),
        wire.written.load(Ordering::Relaxed),
    );
    if let Err(e) = result {
        tracing::debug!("mock IMAP connection ended: {e:#}");
    }
}
