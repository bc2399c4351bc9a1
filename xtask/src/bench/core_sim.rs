//! Section 5: the forwarding core alone. Runs the media node's `forwarding`
//! bench (`media-node/benches/forwarding.rs`): the node's core and str0m
//! peers in one process on the tests' simulated network, no kernel, no
//! sockets, one datagram in at a time, and the wall time spent inside the
//! node's calls per forwarded packet. Beside section 4 it says how much of
//! a forwarded packet's cost is ours and str0m's rather than the kernel's.

use std::fmt::Write as _;
use std::process::Command;

use e2e::paths::Paths;

/// Runs the bench for each room size and appends the section.
pub fn core(out: &mut String, paths: &Paths, tiny: bool) -> anyhow::Result<()> {
    let sizes: &[usize] = if tiny { &[2] } else { &[30, 50] };
    writeln!(out, "## The forwarding core alone (simulated network)\n")?;
    writeln!(
        out,
        "`cargo bench --profile media -p media-node --bench forwarding -- N N`: N publishers (microphone, \
         three-layer camera; two speak) and N subscribers showing every camera at 180 p, \
         as the fixed loads above, but every peer a str0m `Rtc` in the same process, \
         datagrams handed over in memory one at a time (no kernel, no batching), time \
         simulated. The node's share is the wall time inside its own calls over 5 \
         simulated seconds after 15 of warm-up, divided by the packets it forwarded. \
         Wall time drifts with the machine like the figures above; for instruction \
         counts run the bench binary under callgrind (see ARCHITECTURE.md).\n"
    )?;
    writeln!(
        out,
        "| room | packets forwarded in 5 s | node time per packet |"
    )?;
    writeln!(out, "|---|---|---|")?;
    for &n in sizes {
        let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&paths.root)
            .args([
                "bench",
                "-q",
                "--profile",
                "media",
                "-p",
                "media-node",
                "--bench",
                "forwarding",
                "--",
            ])
            .args([n.to_string(), n.to_string()])
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "the forwarding bench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        eprintln!("bench: core {n}x{n}: {}", text.trim());
        let (packets, per_packet) = parse(&text)
            .ok_or_else(|| anyhow::anyhow!("unexpected output of the forwarding bench: {text}"))?;
        writeln!(out, "| {n}x{n} | {packets} | {per_packet:.2} µs |")?;
    }
    writeln!(out)?;
    Ok(())
}

/// Packets forwarded in the window and µs of node time per packet, from
/// the bench's line ("…: 150900 packets forwarded in 5 s simulated; 8.09
/// µs of node time per packet …").
fn parse(text: &str) -> Option<(u64, f64)> {
    let line = text.lines().find(|l| l.contains("packets forwarded in"))?;
    let (_, rest) = line.split_once(": ")?;
    let packets = rest.split_whitespace().next()?.parse().ok()?;
    let (_, after) = rest.split_once("; ")?;
    let per_packet = after.split_whitespace().next()?.parse().ok()?;
    Some((packets, per_packet))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_bench_line() {
        let line = "30x30: 150900 packets forwarded in 5 s simulated; 8.09 µs of node time \
                    per packet (1221 ms in all); 247920 forwarded since the first join";
        assert_eq!(super::parse(line), Some((150900, 8.09)));
        assert_eq!(super::parse("something else"), None);
    }
}
