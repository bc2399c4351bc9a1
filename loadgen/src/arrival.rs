//! When a datagram reached its socket, by the kernel's receive timestamp
//! (`SO_TIMESTAMPNS`), not when the generator got round to reading it.
//!
//! The generator is one thread serving every peer: a datagram can wait in
//! its socket while the thread works through others. Latency measured at
//! the kernel's timestamp is what the SFU and the loopback path added; the
//! generator's own wait is reported beside it, not mixed in.

use std::io;
use std::io::IoSliceMut;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use nix::sys::time::TimeSpec;

/// Asks the kernel to stamp every datagram `socket` receives.
pub fn enable(socket: &impl AsFd) -> io::Result<()> {
    setsockopt(socket, sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)
}

/// Room for one timestamp's control message.
pub struct Stamps(Vec<u8>);

impl Stamps {
    pub fn new() -> Self {
        Stamps(nix::cmsg_space!(TimeSpec))
    }
}

impl Default for Stamps {
    fn default() -> Self {
        Self::new()
    }
}

/// One datagram read.
pub struct Datagram {
    pub len: usize,
    pub from: SocketAddr,
    /// When it reached the socket, on the monotonic clock (`now` if the
    /// kernel gave no stamp).
    pub arrived: Instant,
}

/// Reads one datagram from `socket` into `buf` with its arrival time;
/// `WouldBlock` when there is none.
pub fn recv(socket: &impl AsFd, buf: &mut [u8], stamps: &mut Stamps) -> io::Result<Datagram> {
    let fd = socket.as_fd().as_raw_fd();
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut stamps.0), MsgFlags::empty())
        .map_err(io::Error::from)?;
    let now = Instant::now();
    let from = msg
        .address
        .as_ref()
        .and_then(socket_addr)
        .ok_or_else(|| io::Error::other("datagram without an IP source address"))?;
    let stamped = msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|m| match m {
            ControlMessageOwned::ScmTimestampns(ts) => Some(Duration::from(ts)),
            _ => None,
        })
    });
    Ok(Datagram {
        len: msg.bytes,
        from,
        arrived: stamped.map_or(now, |at| on_monotonic(at, now, SystemTime::now())),
    })
}

/// The kernel stamps on the real-time clock: `stamp` is that far before
/// `wall_now`, so it was that far before `now`. Only the short gap is
/// carried across clocks, so a slewing real-time clock cannot skew it.
fn on_monotonic(stamp: Duration, now: Instant, wall_now: SystemTime) -> Instant {
    let wall = wall_now.duration_since(UNIX_EPOCH).unwrap_or_default();
    now.checked_sub(wall.saturating_sub(stamp)).unwrap_or(now)
}

fn socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_before_the_wall_clock_is_as_far_before_now() {
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let stamp = Duration::from_secs(1_000_000) - Duration::from_micros(1500);
        assert_eq!(
            on_monotonic(stamp, now, wall),
            now - Duration::from_micros(1500)
        );
    }

    #[test]
    fn a_stamp_after_the_wall_clock_reads_as_now() {
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(10);
        assert_eq!(on_monotonic(Duration::from_secs(11), now, wall), now);
    }

    #[test]
    fn a_datagram_carries_its_sender_and_a_stamp_no_later_than_its_reading() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        enable(&rx).expect("SO_TIMESTAMPNS");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        // The kernel switches receive stamping on a moment after the first
        // socket asks (deferred work): until then a datagram is stamped as
        // it is read. The generator's warm-up covers that; here, a few
        // tries do.
        let mut waits = Vec::new();
        for _ in 0..20 {
            let before = Instant::now();
            tx.send_to(b"hello", rx.local_addr().expect("addr"))
                .expect("send");
            std::thread::sleep(Duration::from_millis(20));
            let mut buf = [0u8; 64];
            let d = recv(&rx, &mut buf, &mut Stamps::new()).expect("recv");
            let read = Instant::now();
            assert_eq!(&buf[..d.len], b"hello");
            assert_eq!(d.from, tx.local_addr().expect("addr"));
            assert!(d.arrived >= before - Duration::from_millis(1));
            assert!(d.arrived <= read);
            // Stamped on arrival, before the 20 ms sleep ended.
            if read - d.arrived >= Duration::from_millis(15) {
                return;
            }
            waits.push(read - d.arrived);
        }
        panic!("never stamped on arrival: {waits:?}");
    }
}
