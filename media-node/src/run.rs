//! The tokio adapter: binds the sockets, serves the control API, drives the
//! [`Registrar`] with real time and HTTP, and says goodbye on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protocol::node::{Heartbeat, NodeLoad, Registration, RegistrationAccepted};
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::Instant;

use crate::config::Config;
use crate::control::Control;
use crate::registrar::{Action, Outcome, Registrar};
use crate::sfu::client::Endpoint;
use crate::sfu::{Limits, Sfu};

/// Timeout of one call to the worker.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the node could not run.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A socket could not be bound.
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        /// Which socket.
        what: &'static str,
        /// Where.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
    /// The DTLS certificate could not be made.
    #[error("could not generate the DTLS certificate")]
    Crypto,
    /// The control API server failed.
    #[error("control API: {0}")]
    Serve(std::io::Error),
}

/// Runs the node until `shutdown` completes, then deregisters and returns.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let udp = media_socket(config.udp_bind).map_err(|source| NodeError::Bind {
        what: "media UDP",
        addr: config.udp_bind,
        source,
    })?;
    let udp_addr = udp.local_addr().map_err(|source| NodeError::Bind {
        what: "media UDP",
        addr: config.udp_bind,
        source,
    })?;
    let listener = TcpListener::bind(config.http_bind)
        .await
        .map_err(|source| NodeError::Bind {
            what: "control HTTP",
            addr: config.http_bind,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(|source| NodeError::Bind {
        what: "control HTTP",
        addr: config.http_bind,
        source,
    })?;
    let media_addr = config.public_addr.unwrap_or(udp_addr);
    let control_url = config
        .control_url
        .clone()
        .unwrap_or_else(|| format!("http://{http_addr}"));
    tracing::info!(%udp_addr, %media_addr, %control_url, node = %config.node_id, "media node up");

    let cert = crate::engine::crypto().ok_or(NodeError::Crypto)?;
    let udp = Arc::new(udp);
    let (jobs, job_rx) = tokio::sync::mpsc::channel(crate::engine::QUEUE);
    let (load_tx, load) = tokio::sync::watch::channel(NodeLoad::default());
    let limits = Limits {
        max_room: config.room_limit,
        ..Limits::default()
    };
    let sfu = Sfu::new(media_addr, limits);
    let engine = tokio::spawn(crate::engine::run(sfu, udp.clone(), job_rx, load_tx));
    let control = Control {
        secret: config.node_secret.as_str().into(),
        key: config.token_key.clone(),
        endpoint: Endpoint {
            public_addr: media_addr,
            cert,
        },
        jobs,
    };

    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, crate::control::router(control))
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .await
    });

    let worker = WorkerClient::new(&config, media_addr, control_url)?;
    let mut registrar = Registrar::new(Instant::now().into_std());
    tokio::pin!(shutdown);
    loop {
        while let Some(action) = registrar.poll_action(Instant::now().into_std()) {
            // Copy the load out first: a watch guard held across the call
            // would block the forwarding task's next update.
            let current = *load.borrow();
            let outcome = worker.call(action, current).await;
            if outcome == Outcome::Failed {
                tracing::warn!(?action, "call to worker failed; will retry");
            } else if action == Action::Register {
                tracing::info!(worker = %config.worker_url, "registered with worker");
            }
            registrar.handle_outcome(Instant::now().into_std(), outcome);
        }
        // Invariant: after handling an outcome nothing is in flight, so a
        // timeout always exists; fall back to a second to stay live anyway.
        let due = registrar
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep_until(due) => {}
        }
    }

    tracing::info!("shutting down");
    if registrar.is_registered() {
        worker.deregister().await;
    }
    let _ = stop_http.send(());
    let served = server.await;
    // The control API held the last job sender; the engine ends with it.
    engine.abort();
    drop(udp);
    match served {
        Ok(result) => result.map_err(NodeError::Serve),
        Err(_) => Ok(()),
    }
}

/// Socket buffer sizes asked for the media socket: bursts of small
/// datagrams from many participants (each costs about 1 KiB of kernel
/// buffer) must wait for the forwarding task, not be dropped. The kernel
/// caps them at `net.core.rmem_max` / `wmem_max`; raise those on a busy node.
const SOCKET_BUFFER: usize = 8 * 1024 * 1024;

/// The non-blocking media UDP socket, with large buffers.
fn media_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Best effort: a smaller cap still works, only with less headroom.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// The worker's registry API, as this node uses it.
struct WorkerClient {
    http: reqwest::Client,
    base: String,
    secret: String,
    registration: Registration,
}

impl WorkerClient {
    fn new(
        config: &Config,
        media_addr: SocketAddr,
        control_url: String,
    ) -> Result<Self, NodeError> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?,
            base: format!("{}/api/media-nodes", config.worker_url),
            secret: config.node_secret.clone(),
            registration: Registration {
                id: config.node_id.clone(),
                region: config.region.clone(),
                media_addr: media_addr.to_string(),
                control_url,
                version: crate::version(),
                load: NodeLoad::default(),
            },
        })
    }

    async fn call(&self, action: Action, load: NodeLoad) -> Outcome {
        let id = &self.registration.id;
        let request = match action {
            Action::Register => {
                self.http
                    .post(format!("{}/register", self.base))
                    .json(&Registration {
                        load,
                        ..self.registration.clone()
                    })
            }
            Action::Heartbeat => self
                .http
                .post(format!("{}/{id}/heartbeat", self.base))
                .json(&Heartbeat { load }),
        };
        let response = match request.bearer_auth(&self.secret).send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "worker unreachable");
                return Outcome::Failed;
            }
        };
        let status = response.status();
        match action {
            _ if status == reqwest::StatusCode::NOT_FOUND => Outcome::Unknown,
            _ if !status.is_success() => {
                tracing::warn!(%status, ?action, "worker refused");
                Outcome::Failed
            }
            Action::Heartbeat => Outcome::HeartbeatOk,
            Action::Register => match response.json::<RegistrationAccepted>().await {
                Ok(a) => Outcome::Registered {
                    heartbeat_interval: Duration::from_millis(a.heartbeat_interval_ms),
                },
                Err(_) => Outcome::Failed,
            },
        }
    }

    async fn deregister(&self) {
        let url = format!("{}/{}", self.base, self.registration.id);
        match self.http.delete(url).bearer_auth(&self.secret).send().await {
            Ok(r) if r.status().is_success() => tracing::info!("deregistered from worker"),
            Ok(r) => tracing::warn!(status = %r.status(), "deregistration refused"),
            Err(e) => tracing::warn!(error = %e, "deregistration failed"),
        }
    }
}
