//! The media benchmark's load generator. `cargo xtask bench` runs it pinned
//! to one core against an SFU pinned to the other: N publishers send
//! synthetic simulcast VP8 and Opus, M subscribers receive, and it prints
//! one JSON [`stats::Report`]. The library half lets `cargo xtask bench`
//! start Janus with the same code (`janus::spawn`).
//!
//! Layout:
//! - `media.rs`: synthetic packets and their trailer (publisher, layer,
//!   send time).
//! - `peer.rs`: one str0m peer on its own UDP socket.
//! - `drive.rs`: the single-threaded loop over every peer (mio readiness).
//! - `otc.rs`: joining our node through its control API.
//! - `janus.rs`: joining Janus's videoroom through its HTTP API.
//! - `stats.rs`: counters, percentiles, `/proc` readings, the report.
//! - `arrival.rs`: reading a datagram with the kernel's receive stamp.
//! - `floor.rs` (the `udp-floor` binary): the loopback path's own cost per
//!   forwarded datagram, with `sendto` and `sendmmsg`.
//!
//! Cheap by design: one thread, a few clock reads per datagram, str0m in
//! RTP mode with statistics off; it reports its own CPU use so a run where
//! the generator is the limit says so.

pub mod arrival;
pub mod drive;
pub mod floor;
pub mod janus;
pub mod media;
pub mod otc;
pub mod peer;
pub mod stats;

use std::time::Duration;

/// Which SFU, and how to reach it.
#[derive(Debug, Clone)]
pub enum Target {
    /// Our media node: its control API, the node secret, the token seed.
    Otc {
        control: String,
        secret: String,
        seed: String,
    },
    /// Janus's HTTP API base (`http://127.0.0.1:PORT/janus`).
    Janus { url: String },
}

/// What each subscriber looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Every publisher, small (the low layer).
    Low,
    /// Ten publishers: one large (the high layer), nine small.
    Speaker,
}

/// A run's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub target: Target,
    pub publishers: usize,
    pub subscribers: usize,
    /// Publishers sending audio every 20 ms; the rest are silent (DTX).
    pub talkers: usize,
    pub view: View,
    /// Connect, negotiate and let estimates settle before counting.
    pub warmup: Duration,
    /// The steady window.
    pub window: Duration,
    /// The SFU's process id, for its CPU time and memory.
    pub pid: Option<u32>,
}

/// Prints the usage and exits.
pub fn usage() -> ! {
    eprintln!(
        "usage: loadgen (--control URL --secret S --seed HEX | --janus URL) \
         [--publishers N] [--subscribers M] [--talkers K] [--view low|speaker] \
         [--warmup SECONDS] [--seconds SECONDS] [--pid PID]"
    );
    std::process::exit(2)
}

/// Reads the command line.
pub fn parse(args: &[String]) -> anyhow::Result<Settings> {
    let get = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let num = |v: Option<String>, default: f64| -> anyhow::Result<f64> {
        v.map_or(Ok(default), |v| Ok(v.parse()?))
    };
    let target = match (get("--control"), get("--janus")) {
        (Some(control), None) => Target::Otc {
            control,
            secret: get("--secret").ok_or_else(|| anyhow::anyhow!("--secret"))?,
            seed: get("--seed").ok_or_else(|| anyhow::anyhow!("--seed"))?,
        },
        (None, Some(url)) => Target::Janus { url },
        _ => usage(),
    };
    let view = match get("--view").as_deref() {
        None | Some("low") => View::Low,
        Some("speaker") => View::Speaker,
        Some(other) => anyhow::bail!("unknown view {other}"),
    };
    Ok(Settings {
        target,
        publishers: num(get("--publishers"), 30.0)? as usize,
        subscribers: num(get("--subscribers"), 30.0)? as usize,
        talkers: num(get("--talkers"), 2.0)? as usize,
        view,
        warmup: Duration::from_secs_f64(num(get("--warmup"), 5.0)?),
        window: Duration::from_secs_f64(num(get("--seconds"), 10.0)?),
        pid: get("--pid").map(|p| p.parse()).transpose()?,
    })
}
