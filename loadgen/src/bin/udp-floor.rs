//! `udp-floor [--fanout N] [--rate PPS] [--size BYTES] [--seconds S]`:
//! the kernel's cost per forwarded datagram on this machine, with `sendto`
//! and with `sendmmsg` (see `loadgen::floor`). Prints JSON.

use std::time::Duration;

use loadgen::floor::{self, Floor, Send};

fn main() {
    // Options are found by name; the program name never matches one.
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let num = |name: &str, default: u64| -> u64 {
        get(name).and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let base = Floor {
        send: Send::Sendto,
        fanout: num("--fanout", 30) as usize,
        rate: num("--rate", 1000) as u32,
        size: num("--size", 400) as usize,
        warmup: Duration::from_secs(1),
        window: Duration::from_secs(num("--seconds", 5)),
        forwarder_cpu: 0,
        source_cpu: 1,
    };
    let mut reports = Vec::new();
    for send in [Send::Sendto, Send::Sendmmsg] {
        match floor::run(Floor { send, ..base }) {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("udp-floor: {e:#}");
                std::process::exit(1);
            }
        }
    }
    match serde_json::to_string_pretty(&reports) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("udp-floor: {e}");
            std::process::exit(1);
        }
    }
}
