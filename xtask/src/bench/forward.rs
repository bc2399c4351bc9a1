//! Section 1: the media node's forwarding cost and capacity, beside Janus's
//! videoroom driven by the same load generator in the same run. Each SFU
//! runs pinned to CPU 0 (`taskset -c 0`), `loadgen` to CPU 1; every run
//! starts a fresh SFU process (so memory and CPU belong to that load) and
//! stops it after.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::paths::Paths;
use e2e::process::Group;
use serde_json::Value;

/// The CPU the SFU runs on; the load generator gets [`GENERATOR_CPU`].
const SFU_CPU: usize = 0;
const GENERATOR_CPU: usize = 1;

/// The media-token seed and node secret of the benchmark's node.
const SEED: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const SECRET: &str = "bench-node-secret";

/// Which SFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sfu {
    Ours,
    Janus,
}

impl Sfu {
    pub fn name(self) -> &'static str {
        match self {
            Sfu::Ours => "openTelecon",
            Sfu::Janus => "Janus 1.1.2",
        }
    }
}

/// One load generator run and what it reported.
#[derive(Debug, Clone)]
pub struct Measured {
    pub sfu: Sfu,
    pub label: String,
    pub publishers: usize,
    pub subscribers: usize,
    pub report: Value,
}

impl Measured {
    fn num(&self, path: &[&str]) -> f64 {
        let mut v = &self.report;
        for p in path {
            v = &v[*p];
        }
        v.as_f64().unwrap_or(f64::NAN)
    }
    pub fn forwarded(&self) -> f64 {
        self.num(&["forwarded_pps"])
    }
    pub fn loss(&self) -> f64 {
        self.num(&["loss"])
    }
    pub fn p99(&self) -> f64 {
        self.num(&["latency_ms", "p99"])
    }
    pub fn cpu_per_packet(&self) -> f64 {
        self.num(&["cpu_us_per_packet"])
    }
    /// Under 1 % loss and p99 under 50 ms: the capacity rule.
    pub fn holds(&self) -> bool {
        self.loss() < 0.01 && self.p99() < 50.0
    }
    /// The generator used (nearly) its whole core: it may be the limit.
    pub fn generator_bound(&self) -> bool {
        self.num(&["generator_cores"]) > 0.9
    }
}

/// A running SFU: its process and how the load generator reaches it.
enum Running {
    Ours { node: Group, control: String },
    Janus(loadgen::janus::JanusProcess),
}

impl Running {
    fn pid(&self) -> u32 {
        match self {
            Running::Ours { node, .. } => node.pid(),
            Running::Janus(j) => j.pid(),
        }
    }

    fn target_args(&self) -> Vec<String> {
        match self {
            Running::Ours { control, .. } => vec![
                "--control".into(),
                control.clone(),
                "--secret".into(),
                SECRET.into(),
                "--seed".into(),
                SEED.into(),
            ],
            Running::Janus(j) => vec!["--janus".into(), j.url.clone()],
        }
    }
}

fn loadgen_bin(paths: &Paths) -> PathBuf {
    paths.root.join("target/media/loadgen")
}

fn shim(paths: &Paths) -> PathBuf {
    paths.root.join("target/bench/loopback_shim.so")
}

/// Builds the load generator and the Janus shim (quick when fresh).
pub fn prepare(paths: &Paths) -> anyhow::Result<()> {
    crate::tools::ensure_janus()?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&paths.root)
        .args(["build", "--profile", "media", "-p", "loadgen"])
        .status()?;
    anyhow::ensure!(status.success(), "building loadgen failed");
    std::fs::create_dir_all(paths.root.join("target/bench"))?;
    loadgen::janus::compile_shim(
        &paths.root.join("bench/janus/loopback_shim.c"),
        &shim(paths),
    )
}

async fn start(paths: &Paths, sfu: Sfu) -> anyhow::Result<Running> {
    let port = e2e::free_port();
    match sfu {
        Sfu::Ours => {
            let public_key = worker_app::media_token::public_key_hex(SEED)?;
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", &SFU_CPU.to_string()])
                .arg(paths.media_node())
                .env("MEDIA_NODE_NODE_ID", "bench")
                .env("MEDIA_NODE_REGION", "local")
                // Nobody answers there: the node keeps retrying its
                // registration in the background, which costs nothing here.
                .env("MEDIA_NODE_WORKER_URL", "http://127.0.0.1:9")
                .env("MEDIA_NODE_NODE_SECRET", SECRET)
                .env("MEDIA_NODE_UDP_BIND", "127.0.0.1:0")
                .env("MEDIA_NODE_HTTP_BIND", format!("127.0.0.1:{port}"))
                .env("MEDIA_NODE_TOKEN_PUBLIC_KEY", public_key)
                .env("MEDIA_NODE_ROOM_LIMIT", "400")
                .env("RUST_LOG", "error")
                .env("NO_COLOR", "1");
            let log = paths.root.join("target/bench/media-node.log");
            let node = Group::spawn("media node (bench)", &mut cmd, Some(&log))?;
            let control = format!("http://127.0.0.1:{port}");
            let http = reqwest::Client::new();
            for _ in 0..200 {
                if http
                    .get(format!("{control}/healthz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    return Ok(Running::Ours { node, control });
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            anyhow::bail!("the media node did not start: {}", node.log_tail(20))
        }
        Sfu::Janus => Ok(Running::Janus(
            loadgen::janus::spawn(
                &paths.root.join("bench/janus"),
                port,
                &shim(paths),
                Some(SFU_CPU),
            )
            .await?,
        )),
    }
}

/// The generator's settings for one run.
#[derive(Debug, Clone, Copy)]
struct Load {
    publishers: usize,
    subscribers: usize,
    speaker_view: bool,
    warmup_s: f64,
    window_s: f64,
}

fn generate(paths: &Paths, running: &Running, load: Load) -> anyhow::Result<Value> {
    let out = Command::new("taskset")
        .args(["-c", &GENERATOR_CPU.to_string()])
        .arg(loadgen_bin(paths))
        .args(running.target_args())
        .args(["--publishers", &load.publishers.to_string()])
        .args(["--subscribers", &load.subscribers.to_string()])
        .args(["--view", if load.speaker_view { "speaker" } else { "low" }])
        .args(["--warmup", &load.warmup_s.to_string()])
        .args(["--seconds", &load.window_s.to_string()])
        .args(["--pid", &running.pid().to_string()])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Starts `sfu`, runs `loads` against it one after the other, stops it.
async fn session(
    paths: &Paths,
    sfu: Sfu,
    label: &str,
    loads: &[Load],
) -> anyhow::Result<Vec<Measured>> {
    let running = start(paths, sfu).await?;
    let mut all = Vec::new();
    for (k, &load) in loads.iter().enumerate() {
        let report = generate(paths, &running, load)?;
        eprintln!(
            "bench: {} {}x{} {label}: {}",
            sfu.name(),
            load.publishers,
            load.subscribers,
            report
        );
        all.push(Measured {
            sfu,
            label: if k == 0 {
                label.to_owned()
            } else {
                format!("{label}, then")
            },
            publishers: load.publishers,
            subscribers: load.subscribers,
            report,
        });
    }
    drop(running);
    Ok(all)
}

/// What section 1 measured, for the plots.
#[derive(Debug, Default)]
pub struct Forwarding {
    pub fixed: Vec<Measured>,
    pub ramp: Vec<Measured>,
    pub recovery: Vec<Measured>,
    /// `udp-floor`'s reports: the loopback path's own cost per datagram.
    pub floor: Vec<Value>,
}

/// Runs section 1 and appends its Markdown.
/// Plots go to `plots` (beside the results file).
pub async fn forward(
    out: &mut String,
    paths: &Paths,
    tiny: bool,
    plots: &Path,
) -> anyhow::Result<Forwarding> {
    prepare(paths)?;
    let (warmup_s, window_s) = if tiny { (2.0, 1.0) } else { (12.0, 10.0) };
    let load = |n: usize, speaker_view: bool| Load {
        publishers: n,
        subscribers: n,
        speaker_view,
        warmup_s,
        window_s,
    };
    let mut f = Forwarding::default();
    let fixed: Vec<(usize, bool)> = if tiny {
        vec![(2, false)]
    } else {
        vec![(30, false), (50, false), (64, true)]
    };
    for &(n, speaker) in &fixed {
        for sfu in [Sfu::Ours, Sfu::Janus] {
            let label = if speaker {
                "64-publisher room"
            } else {
                "fixed"
            };
            f.fixed
                .extend(session(paths, sfu, label, &[load(n, speaker)]).await?);
        }
    }
    if !tiny {
        // Capacity: square rooms of growing size until a run breaks the
        // rule; the breaking SFU then gets a 30x30 load to show recovery.
        // Below 30x30 both hold (the fixed runs show it).
        for sfu in [Sfu::Ours, Sfu::Janus] {
            for n in [35, 40, 45, 50, 55, 60, 70, 80] {
                // The recovery load waits longer: participants of the
                // overload run vanish without leaving, as dropped browsers
                // do, and the SFU must notice before the load has fallen.
                let recovery = Load {
                    warmup_s: warmup_s + 30.0,
                    ..load(30, false)
                };
                let mut runs = session(paths, sfu, "ramp", &[load(n, false), recovery]).await?;
                let recovery = runs.pop();
                let first = runs.remove(0);
                let held = first.holds();
                let bound = first.generator_bound();
                f.ramp.push(first);
                if !held || bound {
                    f.recovery.extend(recovery);
                    break;
                }
            }
        }
    }
    f.floor = floor(paths, if tiny { 1 } else { 5 })?;
    write(out, &f, tiny)?;
    draw(out, &f, plots)?;
    Ok(f)
}

/// Runs `udp-floor` (it pins its own two threads, to the SFU's core and
/// the generator's).
fn floor(paths: &Paths, seconds: u32) -> anyhow::Result<Vec<Value>> {
    let out = Command::new(paths.root.join("target/media/udp-floor"))
        .args(["--fanout", "30", "--rate", "1000", "--size", "400"])
        .args(["--seconds", &seconds.to_string()])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "udp-floor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout)?;
    anyhow::ensure!(
        reports.len() == 2,
        "udp-floor gave {} reports",
        reports.len()
    );
    Ok(reports)
}

fn ms(v: &Value) -> String {
    v.as_f64().map_or("?".into(), |x| format!("{x:.2}"))
}

fn row(out: &mut String, m: &Measured) -> anyhow::Result<()> {
    let r = &m.report;
    let l = &r["latency_ms"];
    let opt = |v: &Value, digits: usize| v.as_f64().map_or("?".into(), |x| format!("{x:.digits$}"));
    writeln!(
        out,
        "| {} {}x{} | {} | {:.0} | {:.0} | {:.2} % | {} / {} / {} | {} | {} | {} | {} | {} |",
        m.label,
        m.publishers,
        m.subscribers,
        m.sfu.name(),
        r["sent_pps"].as_f64().unwrap_or(0.0),
        m.forwarded(),
        m.loss() * 100.0,
        ms(&l["p50"]),
        ms(&l["p99"]),
        ms(&l["p999"]),
        ms(&r["read_latency_ms"]["p99"]),
        opt(&r["cpu_us_per_packet"], 2),
        opt(&r["cpu_cores"], 2),
        opt(&r["kib_per_participant"], 0),
        opt(&r["generator_cores"], 2),
    )?;
    Ok(())
}

const HEADER: &str = "| load | SFU | sent pkt/s | forwarded pkt/s | loss | added latency p50 / p99 / p99.9 ms | p99 read by the generator ms | SFU CPU µs per forwarded packet | SFU cores | SFU KiB per participant | generator cores |\n|---|---|---|---|---|---|---|---|---|---|---|";

fn write(out: &mut String, f: &Forwarding, tiny: bool) -> anyhow::Result<()> {
    writeln!(
        out,
        "## Forwarding: our media node and Janus, same load generator\n"
    )?;
    writeln!(
        out,
        "Each SFU pinned to CPU {SFU_CPU}, the load generator (`loadgen`, str0m peers in RTP mode on one thread) to CPU {GENERATOR_CPU}; a fresh SFU process per run. Publishers send VP8 in three simulcast layers, one packet per frame per layer at 30 fps (400, 1000, 1150 bytes), spread evenly over the frame period, and Opus: two talk (50 packets/s, voiced audio level), the rest are silent (DTX, 2.5 packets/s). Every subscriber shows every publisher at 180 p (the low layer), or in the 64-publisher room 9 tiles at 180 p and 1 at 720 p (the high layer). Each payload carries its send time, read as it is written; added latency is its arrival at the subscriber's socket (the kernel's receive timestamp, `SO_TIMESTAMPNS`) minus that, on the generator's clock, so it includes both loopback paths but not the generator's own queue: its single thread serves every peer, and what it reads late is shown beside it (\"read by the generator\"). Loss counts video and voiced audio sent inside the {}s window; silent audio forwarded is counted as forwarded but not required (our node forwards only voiced microphones in rooms of more than 8; Janus forwards all). CPU is the SFU process's user+system time over the window from `/proc`, divided by the packets the subscribers received. Memory is resident memory under load minus before the first join, divided by participants.\n",
        if tiny { 1 } else { 10 }
    )?;
    writeln!(out, "{HEADER}")?;
    for m in &f.fixed {
        row(out, m)?;
    }
    let floor_of = |send: &str| {
        f.floor
            .iter()
            .find(|r| r["send"] == send)
            .and_then(|r| r["cpu_us_per_packet"].as_f64())
            .map_or("?".into(), |x| format!("{x:.2}"))
    };
    writeln!(
        out,
        "\n**The loopback path's own cost** (`udp-floor`, in `loadgen`): a forwarder on CPU {SFU_CPU} that reads each 400-byte datagram and sends it on to 30 sockets, and nothing else (no SRTP, no RTCP, no choices), fed 1000 a second from CPU {GENERATOR_CPU}, used **{} µs** of CPU per datagram sent with a `sendto` for each (as both SFUs above send) and {} µs with one `sendmmsg` for the 30. That much of every figure above is the kernel's, on this machine, for any SFU.",
        floor_of("sendto"),
        floor_of("sendmmsg"),
    )?;
    if !f.ramp.is_empty() {
        writeln!(
            out,
            "\n### Capacity\n\nSquare rooms (N publishers, N subscribers) of growing size until a run loses 1 % or more, or its p99 added latency reaches 50 ms; then, on the same SFU process, a 30x30 load (\"ramp, then\", after 30 s more warm-up: the overload run's participants vanish without leaving, like dropped browsers) shows whether it recovers. A run whose generator used more than 0.9 of its core is marked: there the generator, not the SFU, may be the limit.\n"
        )?;
        writeln!(out, "{HEADER}")?;
        for m in f.ramp.iter().chain(&f.recovery) {
            row(out, m)?;
        }
        writeln!(out)?;
        for sfu in [Sfu::Ours, Sfu::Janus] {
            // The fixed square rooms count too: the ramp starts above them.
            let best = f
                .ramp
                .iter()
                .chain(f.fixed.iter().filter(|m| m.label == "fixed"))
                .filter(|m| m.sfu == sfu && m.holds())
                .map(Measured::forwarded)
                .fold(0.0, f64::max);
            let limit = f
                .ramp
                .iter()
                .rev()
                .find(|m| m.sfu == sfu)
                .map(|m| {
                    if m.generator_bound() {
                        "the load generator reached its core's limit first"
                    } else if m.holds() {
                        "no run broke the rule"
                    } else {
                        "the next size broke the rule"
                    }
                })
                .unwrap_or("");
            writeln!(
                out,
                "- {}: highest forwarded rate within the rule {best:.0} packets/s ({limit}).",
                sfu.name()
            )?;
        }
    }
    writeln!(out)?;
    Ok(())
}

/// The two plots: CPU per forwarded packet and p99 added latency against
/// the forwarded rate, per SFU, over the square low-layer rooms.
fn draw(out: &mut String, f: &Forwarding, dir: &Path) -> anyhow::Result<()> {
    use super::plot::{Series, lines};
    let series = |metric: fn(&Measured) -> f64| -> Vec<Series> {
        [Sfu::Ours, Sfu::Janus]
            .into_iter()
            .map(|sfu| Series {
                name: sfu.name().into(),
                points: f
                    .fixed
                    .iter()
                    .chain(&f.ramp)
                    .filter(|m| m.sfu == sfu && m.label != "64-publisher room")
                    .map(|m| (m.forwarded(), metric(m)))
                    .collect(),
            })
            .collect()
    };
    let cpu = lines(
        "SFU CPU per forwarded packet (one core)",
        "forwarded packets per second",
        "CPU microseconds per packet",
        &series(Measured::cpu_per_packet),
    );
    let p99 = lines(
        "Added latency, 99th percentile",
        "forwarded packets per second",
        "p99 ms",
        &series(Measured::p99),
    );
    std::fs::write(dir.join("forwarding-cpu.svg"), cpu)?;
    std::fs::write(dir.join("forwarding-p99.svg"), p99)?;
    writeln!(
        out,
        "![CPU per forwarded packet](forwarding-cpu.svg)\n![p99 added latency](forwarding-p99.svg)\n"
    )?;
    Ok(())
}
