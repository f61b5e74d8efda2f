//! A host's listener: accepts while the host is online, closes (connection refused) while it
//! is offline or its XAPI is down, and drops open connections when the host's epoch moves on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::rpc;
use crate::shared::{NetState, Shared};
use crate::state::HostId;
use crate::tls::HostTls;

/// Runs host `h`'s endpoint until `shutdown` turns true. `first` is the listener bound at start.
pub async fn serve_host(
    shared: Arc<Shared>,
    h: HostId,
    addr: SocketAddr,
    mut first: Option<TcpListener>,
    tls: Option<HostTls>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut net = shared.net(h);
    loop {
        while !net.borrow_and_update().listening {
            if *shutdown.borrow() {
                return;
            }
            first = None;
            shared.set_bound(h, false);
            tokio::select! {
                _ = net.changed() => {}
                _ = shutdown.changed() => {}
            }
        }
        if *shutdown.borrow() {
            return;
        }
        let listener = match first.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "cannot listen again; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        shared.set_bound(h, true);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        let _ = stream.set_nodelay(true);
                        let conn = Connection { shared: shared.clone(), h, net: shared.net(h), shutdown: shutdown.clone() };
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            match tls {
                                None => conn.serve(stream).await,
                                Some(t) => {
                                    if let Ok(s) = t.acceptor.accept(stream).await {
                                        conn.serve(s).await;
                                    }
                                }
                            }
                        });
                    }
                }
                _ = net.changed() => if !net.borrow_and_update().listening { break },
                _ = shutdown.changed() => return,
            }
        }
        drop(listener);
        shared.set_bound(h, false);
    }
}

struct Connection {
    shared: Arc<Shared>,
    h: HostId,
    net: watch::Receiver<NetState>,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    async fn serve<I: AsyncRead + AsyncWrite + Unpin + Send + 'static>(self, io: I) {
        let Connection {
            shared,
            h,
            mut net,
            mut shutdown,
        } = self;
        let epoch = net.borrow().epoch;
        let service = service_fn(move |req| rpc::handle(shared.clone(), h, req));
        let conn = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(io), service);
        let stale = async move {
            loop {
                if net.borrow_and_update().epoch != epoch || net.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            _ = conn => {}
            _ = stale => {}
            _ = shutdown.changed() => {}
        }
    }
}
