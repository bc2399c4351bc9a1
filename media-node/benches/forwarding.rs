//! What the forwarding core costs per forwarded packet, on the simulated
//! network of the tests (`tests/sim`): no kernel, no sockets, no other
//! process, one datagram in at a time. `cargo xtask bench` measures the
//! whole node against Janus over real UDP; this isolates our core and
//! str0m inside it, so a change to either can be compared in minutes.
//!
//! `cargo bench --profile media -p media-node --bench forwarding [-- PUBLISHERS SUBSCRIBERS]`
//! (30 and 30 by default, as the load generator's fixed 30x30): every
//! subscriber shows every publisher's camera at 180 p (the low layer);
//! every publisher sends a microphone and a three-layer camera. Prints
//! packets forwarded and the wall time spent inside the node's calls per
//! packet. Wall time drifts with the machine; for a figure that does not,
//! run the binary under `valgrind --tool=callgrind
//! --toggle-collect='media_node::sfu::Sfu::*'` and divide the instructions
//! by the packets forwarded since the first join (joins and negotiation
//! are in that count too, a small share).

#![allow(clippy::unwrap_used)]

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::time::Duration;

use protocol::media::Source;
use sim::Sim;

fn main() {
    // The numbers among the arguments (the program's path is not one).
    let args: Vec<usize> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let publishers = args.first().copied().unwrap_or(30);
    let subscribers = args.get(1).copied().unwrap_or(30);
    let mut s = Sim::with_limits(media_node::sfu::Limits {
        max_room: publishers + subscribers,
        ..Default::default()
    });
    let mut pubs = Vec::new();
    for i in 0..publishers {
        let mut claims = Sim::claims(
            "bench",
            &format!("u-pub{i}"),
            &[Source::Microphone, Source::Camera],
        );
        claims.subscribe = false;
        // Two speak, the rest are quiet, as in the load generator.
        let name = if i < 2 {
            format!("loud{i}")
        } else {
            format!("pub{i}")
        };
        pubs.push(s.join_with(&name, claims, true, true).unwrap());
    }
    let mut subs = Vec::new();
    for i in 0..subscribers {
        let claims = Sim::claims("bench", &format!("u-sub{i}"), &[]);
        subs.push(
            s.join_with(&format!("sub{i}"), claims, false, false)
                .unwrap(),
        );
    }
    s.run(Duration::from_secs(3));
    let tiles: Vec<(usize, u32)> = pubs.iter().map(|&p| (p, 180)).collect();
    for &i in &subs {
        s.view(i, &tiles);
    }
    s.run(Duration::from_secs(12));
    let before = s.sfu.stats().packets_out;
    s.sfu_busy = Duration::ZERO;
    let window = Duration::from_secs(5);
    s.run(window);
    let packets = s.sfu.stats().packets_out - before;
    let busy = s.sfu_busy;
    println!(
        "{publishers}x{subscribers}: {packets} packets forwarded in {:.0} s simulated; \
         {:.2} µs of node time per packet ({:.0} ms in all); {} forwarded since the \
         first join (for instructions per packet under callgrind, which counts the \
         whole run)",
        window.as_secs_f64(),
        busy.as_secs_f64() * 1e6 / packets.max(1) as f64,
        busy.as_secs_f64() * 1e3,
        s.sfu.stats().packets_out,
    );
}
