//! The running server: binds loopback, accepts connections (TLS as configured) and runs one
//! task per connection. Dropping the [`MockServer`] aborts the accept task, whose `JoinSet`
//! aborts every connection task.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::config::{MockConfig, MockTls};
use super::connection::Connection;
use super::session::{Action, Session, Shared};
use super::stats::{MockStats, StatsCollector};
use super::store::MockStore;
use crate::certs::TestCa;

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
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            store,
            stats: Arc::new(StatsCollector::default()),
        });
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
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                connections.spawn(serve(tcp, shared.clone(), acceptor.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one connection to the end; errors just end it.
async fn serve(tcp: TcpStream, shared: Arc<Shared>, acceptor: Option<Acceptor>) {
    let _open = shared.stats.connection();
    let _ = tcp.set_nodelay(true);
    let mut tcp = tcp;
    let result: anyhow::Result<()> = async {
        match (shared.config.tls, acceptor) {
            (MockTls::Implicit, Some(acceptor)) => {
                let mut tls = acceptor.accept(tcp).await?;
                let mut conn = Connection::new(Session::new(shared.clone(), true));
                conn.greet();
                conn.serve(&mut tls).await?;
            }
            (MockTls::StartTls, Some(acceptor)) => {
                let mut conn = Connection::new(Session::new(shared.clone(), false));
                conn.greet();
                if conn.serve(&mut tcp).await? == Action::StartTls {
                    let mut tls = acceptor.accept(tcp).await?;
                    conn.session.tls_started();
                    conn.serve(&mut tls).await?;
                }
            }
            _ => {
                let mut conn = Connection::new(Session::new(shared.clone(), false));
                conn.greet();
                conn.serve(&mut tcp).await?;
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::debug!("mock IMAP connection ended: {e:#}");
    }
}
