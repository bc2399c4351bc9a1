//! What a run measured: packets sent and received inside the steady window
//! (by their send time, so packets in flight at the window's edges count
//! where they belong), added latency, and the SFU process's CPU time and
//! memory read from `/proc`.

use serde::Serialize;

/// Counters of one run. Latencies are kept as raw microseconds and sorted
/// once at the end: a few million `u32`s at most.
#[derive(Debug, Default)]
pub struct Counters {
    /// Video packets sent inside the window, per layer.
    pub sent_video: [u64; 3],
    /// Audio packets sent inside the window.
    pub sent_audio: u64,
    /// Packets received inside the window (by send time), per layer and audio.
    pub received: [u64; 4],
    /// Latency samples in microseconds, of packets sent inside the window:
    /// send to arrival at the subscriber's socket (the kernel's stamp).
    pub latency_us: Vec<u32>,
    /// The same packets, send to the generator reading and decrypting them:
    /// adds the generator's own queue.
    pub read_latency_us: Vec<u32>,
    /// Packets received that were sent outside the window (warm-up, drain).
    pub outside: u64,
    /// Silent (DTX) audio received inside the window. Not counted for loss:
    /// an SFU may rightly drop it (ours forwards only voiced microphones in
    /// rooms of more than 8), but it is forwarding work when it does send it.
    pub silent: u64,
}

/// The percentile `q` (0..1) of sorted samples.
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// CPU time (user + system) of a process, in microseconds, from
/// `/proc/PID/stat` (fields 14 and 15, in clock ticks).
pub fn cpu_us(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) * 1_000_000 / ticks_per_second())
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on.
fn ticks_per_second() -> u64 {
    100
}

/// Resident memory of a process in KiB, from `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The report of one run, printed as JSON for `cargo xtask bench`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// "opentelecon" or "janus".
    pub target: String,
    pub publishers: usize,
    pub subscribers: usize,
    /// Length of the steady window, seconds.
    pub window_s: f64,
    /// Packets the publishers sent per second in the window.
    pub sent_pps: f64,
    /// Packets the subscribers should have received per second (what the
    /// SFU should forward, given the layers asked for).
    pub expected_pps: f64,
    /// Packets the subscribers received per second (all of them, silent
    /// audio included).
    pub forwarded_pps: f64,
    /// 1 - received / expected, over video and voiced audio.
    pub loss: f64,
    /// Received per layer (low, mid, high) and audio, per second.
    pub received_pps_by_layer: [f64; 4],
    /// Added latency, send to arrival at the subscriber's socket (the
    /// kernel's receive stamp), milliseconds.
    pub latency_ms: Latency,
    /// Send to the generator having read and decrypted the packet: the
    /// above plus the generator's own wait, milliseconds.
    pub read_latency_ms: Latency,
    /// SFU CPU time over the window divided by packets forwarded, µs.
    pub cpu_us_per_packet: Option<f64>,
    /// SFU CPU use over the window (1.0 = one core).
    pub cpu_cores: Option<f64>,
    /// SFU resident memory before anyone joined, KiB.
    pub rss_idle_kib: Option<u64>,
    /// SFU resident memory during the window, KiB.
    pub rss_loaded_kib: Option<u64>,
    /// (loaded - idle) / participants, KiB.
    pub kib_per_participant: Option<f64>,
    /// The generator's own CPU use over the window (1.0 = one core): near
    /// 1.0 means the generator, not the SFU, is the limit.
    pub generator_cores: Option<f64>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// From unsorted microsecond samples (sorts them).
    pub fn of(samples: &mut [u32]) -> Latency {
        samples.sort_unstable();
        let ms = |us: u32| f64::from(us) / 1000.0;
        Latency {
            p50: ms(percentile(samples, 0.5)),
            p99: ms(percentile(samples, 0.99)),
            p999: ms(percentile(samples, 0.999)),
            max: ms(samples.last().copied().unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let mut s: Vec<u32> = (1..=1000).rev().collect();
        let l = Latency::of(&mut s);
        assert_eq!(l.p50, 0.501);
        assert_eq!(l.p99, 0.990);
        assert_eq!(l.p999, 0.999);
        assert_eq!(l.max, 1.0);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = std::process::id();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(cpu_us(me).is_some());
        assert!(rss_kib(me).is_some_and(|k| k > 0));
        assert_eq!(cpu_us(u32::MAX), None);
    }
}
