//! Reading the media socket's receive queue from the kernel, for overload
//! control: how many bytes wait in it and how many datagrams the kernel
//! has dropped on it. Linux publishes both per socket in `/proc/net/udp`
//! (and `udp6`), found by the socket's inode; elsewhere there is no
//! reading and overload control falls back to CPU time alone.
//!
//! One read is a few tens of microseconds on a node's handful of sockets;
//! the engine reads once per load interval.

use std::path::PathBuf;
use std::time::Duration;

/// The kernel's figures for one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Bytes of kernel buffer held by queued datagrams (each costs its
    /// length plus about 1 KiB of bookkeeping).
    pub queued_bytes: u64,
    /// Datagrams dropped since the socket opened (buffer full).
    pub drops: u64,
}

/// Kernel buffer per queued datagram beyond its payload, measured on
/// loopback (a 100-byte datagram holds 832 bytes, a 1000-byte one 2120): an
/// estimate, good to a third, which is as good as a drain time needs.
pub const OVERHEAD_PER_DATAGRAM: u64 = 1024;

/// Where one socket's figures are read from.
#[derive(Debug, Clone)]
pub struct RxQueue {
    table: PathBuf,
    inode: u64,
}

impl RxQueue {
    /// The reader for the socket behind file descriptor `fd` of this
    /// process, or `None` where the kernel does not publish its queue.
    #[cfg(target_os = "linux")]
    pub fn for_fd(fd: i32, ipv6: bool) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        // A socket's descriptor links to "socket:[inode]"; its metadata is
        // the socket's.
        let inode = std::fs::metadata(format!("/proc/self/fd/{fd}")).ok()?.ino();
        let table = PathBuf::from(if ipv6 {
            "/proc/self/net/udp6"
        } else {
            "/proc/self/net/udp"
        });
        let q = RxQueue { table, inode };
        q.read().map(|_| q)
    }

    /// Elsewhere there is no reading.
    #[cfg(not(target_os = "linux"))]
    pub fn for_fd(_fd: i32, _ipv6: bool) -> Option<Self> {
        None
    }

    /// The socket's figures now, if its line is found.
    pub fn read(&self) -> Option<Reading> {
        let table = std::fs::read_to_string(&self.table).ok()?;
        find(&table, self.inode)
    }
}

/// How long what is queued would take to read at the rate datagrams were
/// read over the last `window` (`read` datagrams, `read_bytes` of them):
/// the wait the newest queued datagram faces. Nothing read while something
/// waits is a wait of at least the whole window.
pub fn drain_time(queued_bytes: u64, read: u64, read_bytes: u64, window: Duration) -> Duration {
    if queued_bytes == 0 {
        return Duration::ZERO;
    }
    if read == 0 {
        return window;
    }
    let per_datagram = read_bytes / read + OVERHEAD_PER_DATAGRAM;
    let queued = queued_bytes.div_ceil(per_datagram);
    window.mul_f64(queued as f64 / read as f64)
}

/// The figures on the line of `/proc/net/udp` for `inode`. Columns: sl,
/// local, remote, st, tx_queue:rx_queue (hex), tr:when, retrnsmt, uid,
/// timeout, inode, ref, pointer, drops.
fn find(table: &str, inode: u64) -> Option<Reading> {
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.get(9)?.parse::<u64>().ok()? != inode {
            return None;
        }
        let (_, rx) = cols.get(4)?.split_once(':')?;
        Some(Reading {
            queued_bytes: u64::from_str_radix(rx, 16).ok()?,
            drops: cols.get(12)?.parse().ok()?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  747: 0100007F:A3C2 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 48211 2 0000000000000000 0
  803: 0100007F:8E7A 00000000:0000 07 00000000:00033C00 00:00000000 00000000     0        0 48230 2 0000000000000000 17
";

    #[test]
    fn finds_a_sockets_line_by_inode() {
        assert_eq!(
            find(TABLE, 48230),
            Some(Reading {
                queued_bytes: 0x33C00,
                drops: 17
            })
        );
        assert_eq!(
            find(TABLE, 48211),
            Some(Reading {
                queued_bytes: 0,
                drops: 0
            })
        );
        assert_eq!(find(TABLE, 1), None);
        assert_eq!(find("garbage\nnot a table at all", 1), None);
    }

    #[test]
    fn drain_time_is_the_queue_over_the_read_rate() {
        let w = Duration::from_millis(250);
        assert_eq!(drain_time(0, 0, 0, w), Duration::ZERO);
        assert_eq!(drain_time(5000, 0, 0, w), w, "stuck: at least the window");
        // 1000 datagrams of 1000 bytes read in 250 ms: 4000 a second; 40
        // queued (each 2024 bytes of buffer) take 10 ms.
        let t = drain_time(40 * 2024, 1000, 1_000_000, w);
        assert_eq!(t, Duration::from_millis(10));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_a_real_sockets_queue_and_sees_it_fill() {
        use std::os::fd::AsRawFd;
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let q = RxQueue::for_fd(rx.as_raw_fd(), false).expect("linux publishes the queue");
        assert_eq!(q.read().map(|r| r.queued_bytes), Some(0));
        for _ in 0..10 {
            tx.send_to(&[0u8; 1000], rx.local_addr().expect("addr"))
                .expect("send");
        }
        let queued = q.read().expect("reading").queued_bytes;
        assert!(
            (10 * 1000..=10 * (1000 + 2 * OVERHEAD_PER_DATAGRAM)).contains(&queued),
            "ten datagrams of 1000 bytes hold {queued} bytes"
        );
    }
}
