//! The kernel's floor under any SFU on this machine: a forwarder that does
//! nothing but read each datagram and send it on to every subscriber (no
//! SRTP, no RTCP, no decisions), pinned to one core while a source and the
//! sinks run on the other. Its CPU time per datagram sent is what the
//! loopback path alone costs, once with a `sendto` per datagram (as our
//! node and Janus send) and once with one `sendmmsg` per fan-out.

use std::io::{ErrorKind, IoSlice};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, sendmmsg};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::Pid;
use serde::Serialize;

/// How the forwarder sends one datagram's copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Send {
    /// One `sendto` per copy.
    Sendto,
    /// One `sendmmsg` for all the copies of a datagram.
    Sendmmsg,
}

/// One floor run's settings.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    pub send: Send,
    /// Copies of each datagram (subscribers).
    pub fanout: usize,
    /// Datagrams into the forwarder per second.
    pub rate: u32,
    /// Payload bytes.
    pub size: usize,
    pub warmup: Duration,
    pub window: Duration,
    /// Core of the forwarder; the source and sinks take `source_cpu`.
    pub forwarder_cpu: usize,
    pub source_cpu: usize,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FloorReport {
    pub send: Send,
    pub fanout: usize,
    pub size: usize,
    /// Datagrams the forwarder sent per second in the window.
    pub sent_pps: f64,
    /// Of those, the share the sinks received.
    pub received_share: f64,
    /// Forwarder thread CPU time (user and system) per datagram sent, µs.
    pub cpu_us_per_packet: f64,
}

fn pin(cpu: usize) -> anyhow::Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu)?;
    sched_setaffinity(Pid::from_raw(0), &set)?;
    Ok(())
}

fn thread_cpu() -> anyhow::Result<Duration> {
    Ok(Duration::from(clock_gettime(
        ClockId::CLOCK_THREAD_CPUTIME_ID,
    )?))
}

fn v4(addr: SocketAddr) -> anyhow::Result<SockaddrIn> {
    match addr {
        SocketAddr::V4(a) => Ok(SockaddrIn::from(a)),
        SocketAddr::V6(_) => anyhow::bail!("the floor runs on IPv4 loopback"),
    }
}

/// Runs one floor measurement: a forwarder thread and a source-and-sinks
/// thread, each pinned, on 127.0.0.1.
pub fn run(f: Floor) -> anyhow::Result<FloorReport> {
    let forwarder = UdpSocket::bind("127.0.0.1:0")?;
    forwarder.set_read_timeout(Some(Duration::from_millis(50)))?;
    let forwarder_addr = forwarder.local_addr()?;
    let sinks: Vec<UdpSocket> = (0..f.fanout)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let sink_addrs: Vec<SocketAddr> = sinks
        .iter()
        .map(UdpSocket::local_addr)
        .collect::<Result<_, _>>()?;
    for s in &sinks {
        s.set_nonblocking(true)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));

    // The forwarder: read, send on, count; CPU time read at the window's
    // edges (signalled by the source through `mark`).
    let mark = Arc::new(AtomicU64::new(0));
    let fwd = {
        let stop = stop.clone();
        let sent = sent.clone();
        let mark = mark.clone();
        let targets = sink_addrs.clone();
        std::thread::spawn(move || -> anyhow::Result<(Duration, u64)> {
            pin(f.forwarder_cpu)?;
            let names: Vec<Option<SockaddrIn>> = targets
                .iter()
                .map(|a| v4(*a).map(Some))
                .collect::<Result<_, _>>()?;
            let mut headers = MultiHeaders::<SockaddrIn>::preallocate(targets.len(), None);
            let mut buf = vec![0u8; 2048];
            let mut window_start: Option<(Duration, u64)> = None;
            let mut result = None;
            // The window's edges, seen at the top of a turn: `mark` goes
            // 0 (warm-up), 1 (in the window), 2 (closed).
            let edges = |window_start: &mut Option<(Duration, u64)>,
                         result: &mut Option<(Duration, u64)>|
             -> anyhow::Result<()> {
                match (mark.load(Ordering::Relaxed), *window_start) {
                    (1, None) => {
                        *window_start = Some((thread_cpu()?, sent.load(Ordering::Relaxed)));
                    }
                    (2, Some((cpu0, sent0))) if result.is_none() => {
                        *result = Some((
                            thread_cpu()?.saturating_sub(cpu0),
                            sent.load(Ordering::Relaxed) - sent0,
                        ));
                    }
                    _ => {}
                }
                Ok(())
            };
            while !stop.load(Ordering::Relaxed) {
                edges(&mut window_start, &mut result)?;
                let n = match forwarder.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                let payload = &buf[..n];
                match f.send {
                    Send::Sendto => {
                        for t in &targets {
                            if forwarder.send_to(payload, t).is_ok() {
                                sent.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Send::Sendmmsg => {
                        let slices: Vec<[IoSlice<'_>; 1]> =
                            targets.iter().map(|_| [IoSlice::new(payload)]).collect();
                        if let Ok(r) = sendmmsg(
                            forwarder.as_raw_fd(),
                            &mut headers,
                            &slices,
                            &names,
                            [],
                            MsgFlags::empty(),
                        ) {
                            sent.fetch_add(r.count() as u64, Ordering::Relaxed);
                        }
                    }
                }
            }
            edges(&mut window_start, &mut result)?;
            result.ok_or_else(|| anyhow::anyhow!("the window never closed"))
        })
    };

    // The source, evenly paced, and the sinks, drained between sends.
    pin(f.source_cpu)?;
    let source = UdpSocket::bind("127.0.0.1:0")?;
    let payload = vec![0x5a; f.size];
    let period = Duration::from_secs(1) / f.rate.max(1);
    let start = Instant::now();
    let window_from = start + f.warmup;
    let window_to = window_from + f.window;
    let mut next = start;
    let mut received = 0u64;
    let mut received_at_mark = 0u64;
    let mut sink_buf = vec![0u8; 2048];
    loop {
        let now = Instant::now();
        if now >= window_from && mark.load(Ordering::Relaxed) == 0 {
            mark.store(1, Ordering::Relaxed);
            received_at_mark = received;
        }
        if now >= window_to {
            mark.store(2, Ordering::Relaxed);
            break;
        }
        if now >= next {
            source.send_to(&payload, forwarder_addr)?;
            next += period;
        }
        for s in &sinks {
            while s.recv(&mut sink_buf).is_ok() {
                received += 1;
            }
        }
        let idle = next.saturating_duration_since(Instant::now());
        if idle > Duration::from_micros(200) {
            std::thread::sleep(idle - Duration::from_micros(100));
        }
    }
    // Let the window's last copies arrive before stopping the forwarder.
    std::thread::sleep(Duration::from_millis(50));
    for s in &sinks {
        while s.recv(&mut sink_buf).is_ok() {
            received += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (cpu, sent_in_window) = fwd
        .join()
        .map_err(|_| anyhow::anyhow!("the forwarder thread panicked"))??;
    let sent_in_window = sent_in_window.max(1);
    Ok(FloorReport {
        send: f.send,
        fanout: f.fanout,
        size: f.size,
        sent_pps: sent_in_window as f64 / f.window.as_secs_f64(),
        received_share: ((received - received_at_mark) as f64 / sent_in_window as f64).min(1.0),
        cpu_us_per_packet: cpu.as_secs_f64() * 1e6 / sent_in_window as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_datagram_reaches_every_sink_and_its_cost_is_counted() {
        for send in [Send::Sendto, Send::Sendmmsg] {
            let r = run(Floor {
                send,
                fanout: 3,
                rate: 200,
                size: 100,
                warmup: Duration::from_millis(100),
                window: Duration::from_millis(500),
                forwarder_cpu: 0,
                source_cpu: 0,
            })
            .expect("floor run");
            // 200 a second in, three copies each.
            assert!(
                (400.0..800.0).contains(&r.sent_pps),
                "{send:?}: {} sent per second",
                r.sent_pps
            );
            assert!(r.received_share > 0.99, "{send:?}: {r:?}");
            assert!(r.cpu_us_per_packet > 0.0, "{send:?}: {r:?}");
        }
    }
}
