//! A UDP relay standing in for the network between browsers and a media
//! node, which a test can cut and restore. Like a NAT, it sends each
//! browser's datagrams to the node from a socket of its own; restoring after
//! a cut opens new sockets, so the node sees every browser come back from a
//! new address, as after a Wi-Fi to cellular switch.
//!
//! The node advertises the relay's address as its own (`public_addr`).
//! Everything is on 127.0.0.1; the relay's tasks stop when it drops.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// A running relay.
pub struct Relay {
    /// Where browsers send (the node's advertised address).
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    /// One upstream socket per browser address, and the task reading it.
    mappings: Arc<Mutex<HashMap<SocketAddr, Mapping>>>,
    main: JoinHandle<()>,
}

struct Mapping {
    socket: Arc<UdpSocket>,
    reader: JoinHandle<()>,
}

impl Relay {
    /// Starts relaying to the node's UDP address `node`.
    pub async fn start(node: SocketAddr) -> anyhow::Result<Relay> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = front.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let mappings: Arc<Mutex<HashMap<SocketAddr, Mapping>>> = Arc::default();
        let (f, c, m) = (front.clone(), cut.clone(), mappings.clone());
        let main = tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                let Ok((n, from)) = f.recv_from(&mut buf).await else {
                    return;
                };
                if c.load(Ordering::Relaxed) {
                    continue;
                }
                let Some(up) = upstream(&m, &f, &c, from, node).await else {
                    continue;
                };
                let _ = up.send(&buf[..n]).await;
            }
        });
        Ok(Relay {
            addr,
            cut,
            mappings,
            main,
        })
    }

    /// Drops every datagram, both ways, until [`Relay::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }

    /// Lets datagrams through again, each browser from a new address.
    pub fn restore(&self) {
        for (_, m) in self.mappings.lock().unwrap().drain() {
            m.reader.abort();
        }
        self.cut.store(false, Ordering::Relaxed);
    }

    /// The addresses the node sees now, one per browser.
    pub fn upstream_addrs(&self) -> Vec<SocketAddr> {
        let map = self.mappings.lock().unwrap();
        map.values()
            .filter_map(|m| m.socket.local_addr().ok())
            .collect()
    }
}

/// The socket that carries `from`'s datagrams to the node, opened on first
/// use with a task sending the node's replies back to `from`.
async fn upstream(
    mappings: &Arc<Mutex<HashMap<SocketAddr, Mapping>>>,
    front: &Arc<UdpSocket>,
    cut: &Arc<AtomicBool>,
    from: SocketAddr,
    node: SocketAddr,
) -> Option<Arc<UdpSocket>> {
    if let Some(m) = mappings.lock().unwrap().get(&from) {
        return Some(m.socket.clone());
    }
    let socket = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    socket.connect(node).await.ok()?;
    let socket = Arc::new(socket);
    let (s, f, c) = (socket.clone(), front.clone(), cut.clone());
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok(n) = s.recv(&mut buf).await {
            if !c.load(Ordering::Relaxed) {
                let _ = f.send_to(&buf[..n], from).await;
            }
        }
    });
    mappings.lock().unwrap().insert(
        from,
        Mapping {
            socket: socket.clone(),
            reader,
        },
    );
    Some(socket)
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.main.abort();
        for (_, m) in self.mappings.lock().unwrap().drain() {
            m.reader.abort();
        }
    }
}

/// A free UDP port on 127.0.0.1 (free when asked; the caller binds it soon).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}
