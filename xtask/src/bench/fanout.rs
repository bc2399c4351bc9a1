//! Chat fan-out through the Room Durable Object (issue 8, section 2), beside
//! a floor: the least a Durable Object can do to broadcast (`bench/floor/`,
//! hibernating WebSockets, each message sent on to every other socket, its
//! payloads padded to the size of the room's chat frames).
//!
//! Both run under the project's pinned `wrangler dev` (local workerd, real D1
//! and SQLite-backed Durable Objects), started the same way by
//! [`Worker::start_config`], each as its own process on fresh state, one
//! after the other so that neither perturbs the other. (One `wrangler dev`
//! given both configurations serves only the first on its port; the second
//! would be reachable only through a service binding added to our own
//! `wrangler.toml`.)
//!
//! For each target and room size, all clients join one room (the room:
//! guests of one invite, the cheapest legitimate way to 1000 distinct
//! participants; an account is one participant, whatever its sockets). Then
//! probes: for a few seconds an offered rate of chat messages, open loop and
//! evenly spaced, spread round-robin over enough senders to keep each under
//! the room's per-participant rate limit. Each message carries its send time
//! (nanoseconds on this process's monotonic clock) and its probe's number;
//! every client records arrival minus send time. The rate doubles until a
//! probe fails the rule ([`PASS_RULE`]), then a few probes bisect between the
//! last that passed and the first that failed. The CPU time of workerd and of
//! this process over each probe says which one limits. The clients'
//! WebSocket stack is optimised even in this dev build (the workspace
//! `Cargo.toml`'s `[profile.dev.package.*]`): unoptimised it took about four
//! times the CPU per delivery, from the two cores the server needs.
//!
//! On its own: `cargo xtask bench --only fanout` (add `--tiny` for the
//! smallest size). Points are also written to `target/bench-fanout.json`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use e2e::api::Agent;
use e2e::paths::Paths;
use e2e::worker::{self, Worker, WorkerOptions};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use protocol::ParticipantId;
use protocol::room::{ChatMessage, ClientMessage, ServerMessage};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// One measured point, for plotting offered against delivered rate and
/// latency (also written to `target/bench-fanout.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct FanoutPoint {
    /// `room` or `floor`.
    pub target: &'static str,
    /// Clients in the room.
    pub clients: usize,
    /// Offered chat messages per second.
    pub offered: f64,
    /// Deliveries (a message arriving at one client) per second.
    pub delivered: f64,
    /// Deliveries that arrived, of those due.
    pub fraction: f64,
    /// Median latency from send to arrival.
    pub p50_ms: f64,
    /// 99th percentile of the same.
    pub p99_ms: f64,
    /// Whether the probe met [`PASS_RULE`].
    pub pass: bool,
}

/// The rule a probe must meet to count as sustained, in words for the results.
const PASS_RULE: &str = "at least 99% of the deliveries due arrive (within 5 s of the probe's last send) and their p99 latency stays under 250 ms";
/// See [`PASS_RULE`].
const MIN_FRACTION: f64 = 0.99;
/// See [`PASS_RULE`]. A probe of `T` seconds at a rate the server cannot
/// hold builds a backlog whose wait grows through the probe, so the rule
/// overstates what is sustained by at most this bound over `T` (here under
/// 9%); 1 s would allow a third.
const MAX_P99: Duration = Duration::from_millis(250);
/// How long an unfinished probe waits for stragglers.
const DRAIN: Duration = Duration::from_secs(5);
/// No frame for this long: the sockets have gone quiet.
const QUIET: Duration = Duration::from_millis(300);
/// Chat messages per second one sender offers at most where the room's
/// rate limit applies (10 a second per participant, bursts of 20): just
/// under it, so that 100 clients can offer more than the room holds.
const PER_SENDER: f64 = 9.5;
/// The room's participant cap can be raised to this, and no further.
const ROOM_CAP: usize = 1000;
/// Probes bisecting between the last rate that passed and the first that
/// failed: a factor of 2 narrowed to 2^(1/8), about 9%.
const BISECTIONS: usize = 3;
/// Most probes per run (doubling and bisecting).
const MAX_PROBES: usize = 16;
/// Sockets opened, or guests made, at once while a room fills.
const PARALLEL_JOINS: usize = 16;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What is measured, and how it is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Our Room Durable Object, through the worker's `/rooms/{id}/ws`.
    Room,
    /// The minimal broadcast object in `bench/floor/`.
    Floor,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Room => "room",
            Target::Floor => "floor",
        }
    }

    /// How many clients receive each message: the room echoes a message to
    /// its sender too (that is how a client learns it was accepted); the
    /// floor sends it to the others only.
    fn receivers(self, clients: usize) -> u64 {
        match self {
            Target::Room => clients as u64,
            Target::Floor => clients.saturating_sub(1) as u64,
        }
    }

    /// The frame a client sends for `text`.
    fn frame(self, text: String) -> String {
        match self {
            Target::Room => ClientMessage::Say { text, to: None }.encode(),
            Target::Floor => format!("{text:<width$}", width = *FLOOR_FRAME),
        }
    }
}

/// Bytes of a chat frame as the room sends it to every client (a guest's
/// stamped message). The floor's payloads are padded to it, so that both
/// carry the same bytes per delivery and the difference is the room's work.
static FLOOR_FRAME: LazyLock<usize> = LazyLock::new(|| {
    let Ok(from) = ParticipantId::parse("g-abcdefghijklmnop") else {
        return 0;
    };
    let message = ChatMessage {
        seq: 10_000,
        from,
        from_name: "c999".into(),
        to: None,
        text: stamp(9, 99_999_999_999),
        at_ms: 1_764_000_000_000,
        edited_ms: None,
        deleted: false,
        rev: 10_000,
    };
    ServerMessage::Chat { message }.encode().len()
});

/// Latencies in microseconds, 64 sub-buckets per power of two (within 1.6%),
/// counted with atomics so every reader task adds to it directly.
struct Histogram {
    count: AtomicU64,
    buckets: Vec<AtomicU32>,
}

/// Buckets: exact below 64 µs, then 64 per doubling up to 2^37 µs.
const BUCKETS: usize = 64 + 31 * 64;

fn bucket(us: u64) -> usize {
    let us = us.min((1 << 37) - 1);
    if us < 64 {
        return us as usize;
    }
    let e = 63 - us.leading_zeros() as usize; // 6 and up
    64 + (e - 6) * 64 + ((us >> (e - 6)) as usize - 64)
}

/// The middle of bucket `i`, in microseconds.
fn bucket_value(i: usize) -> f64 {
    if i < 64 {
        return i as f64;
    }
    let e = (i - 64) / 64 + 6;
    let low = ((i - 64) % 64 + 64) << (e - 6);
    low as f64 + f64::from(1u32 << (e - 6)) / 2.0
}

impl Histogram {
    fn new() -> Self {
        Self {
            count: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn record(&self, us: u64) {
        self.buckets[bucket(us)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// The `q` quantile in milliseconds (`NaN` when empty).
    fn quantile_ms(&self, q: f64) -> f64 {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| u64::from(b.load(Relaxed)))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return f64::NAN;
        }
        let rank = ((total as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_value(i) / 1000.0;
            }
        }
        f64::NAN
    }
}

/// What every client's reader adds to, for one run (a target at one size).
struct Tally {
    /// The clock send times are stamped on.
    origin: Instant,
    /// Frames of any kind, to see when the sockets have gone quiet.
    frames: AtomicU64,
    /// The room's refusals (`rate_limited` and others): the senders are
    /// meant to stay within the rules, so this should stay 0.
    refused: AtomicU64,
    /// Arrivals of each probe's messages, by probe number.
    probes: Vec<Histogram>,
    /// How the first sockets to close ended, to say why a run broke off.
    closes: std::sync::Mutex<Vec<String>>,
}

/// Marks a stamped message: `fanout:{probe}:{nanoseconds}`, inside the chat
/// text for the room, the whole payload for the floor.
const MARK: &str = "fanout:";

fn stamp(probe: usize, ns: u64) -> String {
    format!("{MARK}{probe}:{ns}")
}

/// The probe and send time in a received frame, if it carries a stamp.
fn read_stamp(frame: &str) -> Option<(usize, u64)> {
    let rest = &frame[frame.find(MARK)? + MARK.len()..];
    let (probe, rest) = rest.split_once(':')?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    Some((probe.parse().ok()?, rest[..digits].parse().ok()?))
}

impl Tally {
    fn new(origin: Instant) -> Self {
        Self {
            origin,
            frames: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            probes: (0..MAX_PROBES).map(|_| Histogram::new()).collect(),
            closes: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    fn frame(&self, text: &str) {
        self.frames.fetch_add(1, Relaxed);
        if let Some((probe, sent)) = read_stamp(text) {
            if let Some(h) = self.probes.get(probe) {
                h.record(self.now_ns().saturating_sub(sent) / 1000);
            }
        } else if text.starts_with(r#"{"type":"error""#) {
            self.refused.fetch_add(1, Relaxed);
        }
    }

    /// Notes how a socket ended (the first few).
    fn closed(&self, how: String) {
        if let Ok(mut closes) = self.closes.lock()
            && closes.len() < 5
        {
            closes.push(how);
        }
    }

    /// Waits until no frame has arrived for [`QUIET`] (at most `limit`).
    async fn quiet(&self, limit: Duration) {
        let until = Instant::now() + limit;
        let mut last = self.frames.load(Relaxed);
        let mut still = Instant::now();
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.frames.load(Relaxed);
            if now != last {
                (last, still) = (now, Instant::now());
            } else if still.elapsed() >= QUIET {
                return;
            }
        }
    }
}

/// Reads a client's socket until it closes, adding to the tally.
async fn read(client: usize, mut stream: SplitStream<Ws>, tally: Arc<Tally>) {
    let end = loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => {
                if text.starts_with(r#"{"type":"closing""#) {
                    tally.closed(format!("client {client}: {text}"));
                }
                tally.frame(text.as_str());
            }
            Some(Ok(Message::Close(frame))) => break format!("client {client}: closed {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => break format!("client {client}: {e}"),
            None => break format!("client {client}: ended"),
        }
    };
    tally.closed(end);
}

/// Opens a WebSocket (Nagle off, as browsers do), with a session cookie.
async fn connect(url: &str, cookie: Option<&str>) -> anyhow::Result<Ws> {
    let mut req = url.into_client_request()?;
    if let Some(cookie) = cookie {
        req.headers_mut()
            .insert("Cookie", HeaderValue::from_str(cookie)?);
    }
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, None, true).await?;
    Ok(ws)
}

/// Runs `f(0)`, ..., `f(count - 1)` with at most `parallel` at once; the
/// results in order.
async fn each<T, F, Fut>(count: usize, parallel: usize, f: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let mut set = JoinSet::new();
    let mut out: Vec<Option<T>> = (0..count).map(|_| None).collect();
    let mut next = 0;
    while next < count || !set.is_empty() {
        while next < count && set.len() < parallel {
            let job = f(next);
            set.spawn(async move { (next, job.await) });
            next += 1;
        }
        if let Some(done) = set.join_next().await {
            let (i, result) = done?;
            out[i] = Some(result?);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// Everyone in one room: the sending halves, and a reader task per socket.
struct Clients {
    sinks: Vec<SplitSink<Ws, Message>>,
    /// Aborted on drop.
    _readers: JoinSet<()>,
}

impl Clients {
    fn new(sockets: Vec<Ws>, tally: &Arc<Tally>) -> Self {
        let mut readers = JoinSet::new();
        let sinks = sockets
            .into_iter()
            .enumerate()
            .map(|(i, ws)| {
                let (sink, stream) = ws.split();
                readers.spawn(read(i, stream, tally.clone()));
                sink
            })
            .collect();
        Self {
            sinks,
            _readers: readers,
        }
    }
}

/// How long making the room's people took.
#[derive(Debug, Clone, Copy)]
struct Making {
    /// The host's sign-up: one account (Argon2id in the worker).
    signup: Duration,
    /// Every guest's session, [`PARALLEL_JOINS`] at a time.
    guests: Duration,
}

/// Fills a new room with `n` guests (the host, an account, stays out) and
/// returns their sockets, each past its welcome.
async fn fill_room(w: &Worker, n: usize, tally: &Arc<Tally>) -> anyhow::Result<(Vec<Ws>, Making)> {
    anyhow::ensure!(
        n <= ROOM_CAP,
        "a room holds at most {ROOM_CAP} participants (max_participants)"
    );
    let mut host = Agent::new(w.url());
    let started = Instant::now();
    let signed_up = host.signup("host@example.org", "Host").await;
    let signup = started.elapsed();
    anyhow::ensure!(signed_up.status == 201, "sign-up: {:?}", signed_up.body);
    let room = host
        .post(
            "/api/rooms",
            serde_json::json!({"name": "Fan-out", "allow_guests": true, "max_participants": n.max(1)}),
        )
        .await;
    let room = room.body["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("room not created: {:?}", room.body))?
        .to_owned();
    let invite = host
        .post(
            &format!("/api/rooms/{room}/invites"),
            serde_json::json!({"role": "participant", "expires_in": 3600}),
        )
        .await;
    let token = invite.body["url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .ok_or_else(|| anyhow::anyhow!("no invite: {:?}", invite.body))?
        .to_owned();
    let http = reqwest::Client::new();
    let accept = format!("{}/api/invites/{token}/accept", w.url());
    let started = Instant::now();
    let cookies = each(n, PARALLEL_JOINS, |i| {
        let req = http
            .post(&accept)
            .json(&serde_json::json!({"guest_name": format!("c{i}")}));
        async move {
            let resp = req.send().await?.error_for_status()?;
            let cookie = resp
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .ok_or_else(|| anyhow::anyhow!("a guest got no session"))?;
            Ok(cookie.to_owned())
        }
    })
    .await?;
    let making = Making {
        signup,
        guests: started.elapsed(),
    };
    let url = w.room_ws(&room);
    let cookies = Arc::new(cookies);
    let tally = tally.clone();
    let sockets = each(n, PARALLEL_JOINS, move |i| {
        let (url, cookies, tally) = (url.clone(), cookies.clone(), tally.clone());
        async move {
            let mut ws = connect(&url, Some(&cookies[i])).await?;
            // Past the welcome, the client is in the room.
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        tally.frame(t.as_str());
                        if t.starts_with(r#"{"type":"welcome""#) {
                            return Ok(ws);
                        }
                        anyhow::ensure!(
                            !t.starts_with(r#"{"type":"closing""#),
                            "client {i} refused: {t}"
                        );
                    }
                    Some(Ok(_)) => {}
                    other => {
                        anyhow::bail!("client {i}: socket ended before the welcome: {other:?}")
                    }
                }
            }
        }
    })
    .await?;
    Ok((sockets, making))
}

/// Connects `n` clients to the floor's one object.
async fn fill_floor(w: &Worker, n: usize) -> anyhow::Result<Vec<Ws>> {
    let url = format!("{}/ws", w.url().replacen("http://", "ws://", 1));
    each(n, PARALLEL_JOINS, |_| {
        let url = url.clone();
        async move { connect(&url, None).await }
    })
    .await
}

/// CPU time of one process, per thread, in clock ticks (USER_HZ, 100 a
/// second for `/proc` on Linux).
fn thread_ticks(pid: Option<u32>) -> HashMap<u32, u64> {
    let mut out = HashMap::new();
    let Some(Ok(dir)) = pid.map(|pid| std::fs::read_dir(format!("/proc/{pid}/task"))) else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // After the command name's closing parenthesis: state is field 0,
        // utime 11, stime 12.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if let (Some(user), Some(system)) = (field(11), field(12)) {
            out.insert(tid, user + system);
        }
    }
    out
}

/// Busy clock ticks of the whole machine, all cores (`/proc/stat`).
fn machine_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: idle and iowait are
    // not busy.
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    ticks.iter().sum::<u64>().saturating_sub(idle)
}

const TICKS_PER_SECOND: f64 = 100.0;

/// Busy cores below which the machine counts as quiet before a probe.
const QUIET_MACHINE: f64 = 0.25;
/// How long one run of the section may wait in all for a quiet machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits, while `patience` lasts, until the machine is nearly idle between
/// probes (another program's CPU would be taken from the server measured).
async fn calm(patience: &mut Duration) {
    while !patience.is_zero() {
        let (t0, at) = (machine_ticks(), Instant::now());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let busy = machine_ticks().saturating_sub(t0) as f64
            / TICKS_PER_SECOND
            / at.elapsed().as_secs_f64();
        *patience = patience.saturating_sub(at.elapsed());
        if busy < QUIET_MACHINE {
            return;
        }
    }
}

/// Where a probe's CPU went, in cores (1.0: one core busy throughout).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    /// This process: the clients.
    bench: f64,
    /// wrangler's front workerd (its proxy), which every frame passes.
    front: f64,
    /// The workerd running the worker and the Durable Object.
    workerd: f64,
    /// That workerd's busiest thread: the object's.
    workerd_thread: f64,
    /// The rest of the machine (wrangler's node, the kernel, another
    /// build): a probe with much of it was disturbed.
    others: f64,
}

/// The processes whose CPU time each probe reports.
struct Watched {
    front: Option<u32>,
    workerd: Option<u32>,
}

/// CPU ticks at one moment, per thread of each watched process.
struct Ticks {
    bench: HashMap<u32, u64>,
    front: HashMap<u32, u64>,
    workerd: HashMap<u32, u64>,
    machine: u64,
}

impl Watched {
    /// The two workerd processes in `w`'s process group: the front one
    /// listens on the port; the other runs the worker and its objects.
    fn find(w: &mut Worker) -> Self {
        let group = w.group().pid().to_string();
        let entry = format!(
            "entry=127.0.0.1:{}",
            w.url().rsplit(':').next().unwrap_or_default()
        );
        let (mut front, mut workerd) = (None, None);
        for proc in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = proc.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(proc.path().join("stat")).unwrap_or_default();
            let Some((head, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            // Field 2 after the name is the process group.
            if !head.ends_with("(workerd") || rest.split_whitespace().nth(2) != Some(&group) {
                continue;
            }
            let cmdline = std::fs::read_to_string(proc.path().join("cmdline")).unwrap_or_default();
            if cmdline.contains(&entry) {
                front = Some(pid);
            } else {
                workerd = Some(pid);
            }
        }
        Self { front, workerd }
    }

    fn ticks(&self) -> Ticks {
        Ticks {
            bench: thread_ticks(Some(std::process::id())),
            front: thread_ticks(self.front),
            workerd: thread_ticks(self.workerd),
            machine: machine_ticks(),
        }
    }

    /// The CPU used between two samples `secs` apart.
    fn cpu(before: &Ticks, after: &Ticks, secs: f64) -> Cpu {
        let deltas = |b: &HashMap<u32, u64>, a: &HashMap<u32, u64>| -> Vec<u64> {
            a.iter()
                .map(|(tid, t)| t.saturating_sub(b.get(tid).copied().unwrap_or(0)))
                .collect()
        };
        let cores = |ticks: u64| ticks as f64 / TICKS_PER_SECOND / secs;
        let workerd = deltas(&before.workerd, &after.workerd);
        let (bench, front) = (
            deltas(&before.bench, &after.bench).iter().sum(),
            deltas(&before.front, &after.front).iter().sum(),
        );
        let ours: u64 = bench + front + workerd.iter().sum::<u64>();
        Cpu {
            bench: cores(bench),
            front: cores(front),
            workerd: cores(workerd.iter().sum()),
            workerd_thread: cores(workerd.iter().copied().max().unwrap_or(0)),
            others: cores(
                after
                    .machine
                    .saturating_sub(before.machine)
                    .saturating_sub(ours),
            ),
        }
    }
}

/// One probe's outcome.
#[derive(Debug, Clone)]
struct Probe {
    /// Offered chat messages per second.
    rate: f64,
    senders: usize,
    /// Deliveries per second of sending.
    delivered: f64,
    fraction: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// How far the sender fell behind its schedule at worst: large means
    /// this process, not the server, set the pace.
    lag_ms: f64,
    /// Over the sending.
    cpu: Cpu,
    pass: bool,
}

/// One target at one size: every probe, and what the run was capped by.
struct Run {
    target: Target,
    clients: usize,
    probes: Vec<Probe>,
    /// The join before the probes: how long filling the room took.
    fill: Duration,
    /// Of which making its people (the room's).
    making: Option<Making>,
    /// Set when the rates stopped before any failed (the room's rate limit
    /// with every client sending).
    capped: bool,
    refused: u64,
}

impl Run {
    /// The highest passing rate below the lowest failing one.
    fn sustained(&self) -> Option<&Probe> {
        let fail = self
            .probes
            .iter()
            .filter(|p| !p.pass)
            .map(|p| p.rate)
            .fold(f64::INFINITY, f64::min);
        self.probes
            .iter()
            .filter(|p| p.pass && p.rate < fail)
            .max_by(|a, b| a.rate.total_cmp(&b.rate))
    }
}

/// Sends `rate` messages a second for `secs` from the first clients
/// (round-robin), then waits for them to arrive.
async fn probe(
    target: Target,
    clients: &mut Clients,
    tally: &Tally,
    watched: &Watched,
    number: usize,
    rate: f64,
    secs: f64,
) -> anyhow::Result<Probe> {
    let n = clients.sinks.len();
    let senders = ((rate / PER_SENDER).ceil() as usize).clamp(1, n);
    let total = (rate * secs).round().max(1.0) as u64;
    let due_count = total * target.receivers(n);
    let before = watched.ticks();
    let start = Instant::now();
    let mut lag = Duration::ZERO;
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        lag = lag.max(Instant::now().saturating_duration_since(due));
        let frame = target.frame(stamp(number, tally.now_ns()));
        let sender = i as usize % senders;
        if let Err(e) = clients.sinks[sender].send(Message::text(frame)).await {
            let closes = tally
                .closes
                .lock()
                .map(|c| c.join("\n"))
                .unwrap_or_default();
            anyhow::bail!("client {sender} could not send ({e}); sockets ended:\n{closes}");
        }
    }
    let sending = start.elapsed().as_secs_f64().max(secs);
    let cpu = Watched::cpu(&before, &watched.ticks(), sending);
    let arrived = &tally.probes[number];
    let (drain_start, mut last, mut still) = (Instant::now(), 0, Instant::now());
    while drain_start.elapsed() < DRAIN {
        let got = arrived.count.load(Relaxed);
        if got >= due_count {
            break;
        }
        if got != last {
            (last, still) = (got, Instant::now());
        } else if still.elapsed() >= Duration::from_secs(1) {
            break; // nothing more is coming
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = arrived.count.load(Relaxed);
    let fraction = got as f64 / due_count as f64;
    let (p50_ms, p99_ms) = (arrived.quantile_ms(0.5), arrived.quantile_ms(0.99));
    let pass = fraction >= MIN_FRACTION && p99_ms < MAX_P99.as_secs_f64() * 1000.0;
    // Let any backlog clear before the next probe.
    tally.quiet(Duration::from_secs(20)).await;
    let p = Probe {
        rate,
        senders,
        delivered: got as f64 / sending,
        fraction,
        p50_ms,
        p99_ms,
        lag_ms: lag.as_secs_f64() * 1000.0,
        cpu,
        pass,
    };
    eprintln!(
        "fanout {} x{n}: {:.1} msg/s ({} senders): {:.0} deliveries/s, {:.2}%, p50 {:.1} ms, p99 {:.1} ms, lag {:.1} ms, CPU bench {:.2} front {:.2} workerd {:.2} ({:.2}) others {:.2}: {}",
        target.name(),
        p.rate,
        p.senders,
        p.delivered,
        p.fraction * 100.0,
        p.p50_ms,
        p.p99_ms,
        p.lag_ms,
        cpu.bench,
        cpu.front,
        cpu.workerd,
        cpu.workerd_thread,
        cpu.others,
        if p.pass { "pass" } else { "FAIL" }
    );
    Ok(p)
}

/// Starts the target's server on fresh state, measures it with `n` clients
/// ([`measure_run`]) and stops it.
async fn run(
    paths: &Paths,
    target: Target,
    n: usize,
    tiny: bool,
    origin: Instant,
    patience: &mut Duration,
) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let opts = WorkerOptions {
        port: e2e::free_port(),
        state_dir: dir.path().join("state"),
        node_secret: e2e::random_secret()?,
        media_token_seed: e2e::random_secret()?,
        vars: vec![],
        log: Some(dir.path().join("wrangler.log")),
    };
    std::fs::create_dir_all(&opts.state_dir)?;
    let mut w = match target {
        Target::Room => {
            worker::migrate(paths, &opts.state_dir)?;
            Worker::start(paths, &opts).await?
        }
        Target::Floor => {
            let config = paths.root.join("bench/floor/wrangler.toml");
            Worker::start_config(paths, &config, &opts).await?
        }
    };
    let result = measure_run(&mut w, target, n, tiny, origin, patience)
        .await
        .map_err(|e| {
            let log = w.group().log_tail(20);
            e.context(format!(
                "{} with {n} clients; wrangler said:\n{log}",
                target.name()
            ))
        });
    w.stop();
    // The clients go only now: closing 1000 sockets one by one while the
    // server ran would only make the room tell everyone about each departure.
    result.map(|(run, _clients)| run)
}

/// Fills the room and probes it: two fixed rates when tiny; else doubling
/// from 8000 deliveries a second until a probe fails (halving if the first
/// does), then bisecting. The clients are returned to outlive the server.
async fn measure_run(
    w: &mut Worker,
    target: Target,
    n: usize,
    tiny: bool,
    origin: Instant,
    patience: &mut Duration,
) -> anyhow::Result<(Run, Clients)> {
    let tally = Arc::new(Tally::new(origin));
    let filling = Instant::now();
    let mut making = None;
    let sockets = match target {
        Target::Room => {
            let (sockets, made) = fill_room(w, n, &tally).await?;
            making = Some(made);
            sockets
        }
        Target::Floor => fill_floor(w, n).await?,
    };
    let mut clients = Clients::new(sockets, &tally);
    // The room announces each arrival to everyone before it: let that end.
    tally.quiet(Duration::from_secs(60)).await;
    let fill = filling.elapsed();
    let watched = Watched::find(w);
    let receivers = target.receivers(n) as f64;
    let mut run = Run {
        target,
        clients: n,
        probes: Vec::new(),
        fill,
        making,
        capped: false,
        refused: 0,
    };
    let mut go = async |rate: f64, run: &mut Run| -> anyhow::Result<bool> {
        let number = run.probes.len();
        let secs = if tiny { 0.5 } else { 3.0 };
        calm(patience).await;
        let p = probe(target, &mut clients, &tally, &watched, number, rate, secs).await?;
        let pass = p.pass;
        run.probes.push(p);
        Ok(pass)
    };
    if tiny {
        for rate in [4.0, 8.0] {
            go(rate, &mut run).await?;
        }
    } else {
        // The room's rate limit caps what its clients may offer together.
        let cap = match target {
            Target::Room => PER_SENDER * n as f64,
            Target::Floor => f64::INFINITY,
        };
        // Start at 8000 deliveries a second, well within both.
        let mut rate = (8000.0 / receivers).min(cap);
        let (mut good, mut bad) = (None, None);
        while run.probes.len() + BISECTIONS < MAX_PROBES {
            if go(rate, &mut run).await? {
                good = Some(rate);
                if bad.is_some() || rate >= cap {
                    run.capped = bad.is_none();
                    break;
                }
                rate = (rate * 2.0).min(cap);
            } else {
                bad = Some(rate);
                if good.is_some() {
                    break;
                }
                rate /= 2.0;
            }
        }
        if let (Some(mut lo), Some(mut hi)) = (good, bad) {
            for _ in 0..BISECTIONS {
                let mid = (lo * hi).sqrt();
                if go(mid, &mut run).await? {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        }
    }
    run.refused = tally.refused.load(Relaxed);
    Ok((run, clients))
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.0} ms")
    }
}

fn rate_text(p: Option<&Probe>, capped: bool) -> String {
    match p {
        Some(p) => format!(
            "{}{:.0} msg/s ({:.0} deliveries/s)",
            if capped { "≥ " } else { "" },
            p.rate,
            p.delivered
        ),
        None => "below the first probe".into(),
    }
}

fn section(out: &mut String, runs: &[Run], tiny: bool) -> anyhow::Result<()> {
    let sizes: Vec<usize> = {
        let mut s: Vec<usize> = runs.iter().map(|r| r.clients).collect();
        s.dedup();
        s
    };
    let size_text = sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" and ");
    writeln!(
        out,
        "## Chat fan-out through the Room Durable Object ({size_text} clients)\n"
    )?;
    writeln!(
        out,
        "All clients in one room under `wrangler dev` (local workerd; the room with real D1 and SQLite), beside the floor: a minimal broadcast Durable Object (`bench/floor/worker.js`, hibernating WebSockets, every message sent on to every other socket; its clients' payloads are padded to the size of the room's chat frames, {} bytes, so both carry the same bytes per delivery) under the same wrangler, each on fresh state in its own `wrangler dev`, one after the other. Room clients are guests of one invite (an account is one participant). Each probe offers chat messages at an even, open-loop rate for {} s, round-robin from one client per {PER_SENDER} messages a second (the room allows a participant 10 a second, bursts of 20, so it is offered at most {PER_SENDER} per client; beyond that the floor's clients send faster); each message carries its send time on this process's monotonic clock, and every client records arrival minus send time. A delivery is one message arriving at one client (the room echoes to its sender too, the floor does not). The rate doubles until a probe fails, then {BISECTIONS} probes bisect. **Sustained** is the highest offered rate below every failing one at which {PASS_RULE}; a probe that cannot keep up builds a backlog through its few seconds, so a tighter latency bound than 1 s keeps that from passing as sustained. The object thread's CPU per delivery is summed over the rates at which both passed (within 2 %): steadier than the sustained rates, whose pass or fail near the knee swings by a probe or two between runs on this machine.\n",
        *FLOOR_FRAME,
        if tiny { "0.5" } else { "3" }
    )?;
    writeln!(
        out,
        "| clients | room: sustained | floor: sustained | room / floor | room p50 / p99 there | floor p50 / p99 there | object thread µs per delivery, room / floor | floor cost / room cost |\n|---|---|---|---|---|---|---|---|"
    )?;
    for &n in &sizes {
        let find = |t: Target| runs.iter().find(|r| r.target == t && r.clients == n);
        let (Some(room), Some(floor)) = (find(Target::Room), find(Target::Floor)) else {
            continue;
        };
        let (rs, fs) = (room.sustained(), floor.sustained());
        let ratio = match (rs, fs) {
            (Some(r), Some(f)) => format!(
                "{}{:.2}",
                if room.capped && !floor.capped {
                    "≥ "
                } else {
                    ""
                },
                r.rate / f.rate
            ),
            _ => "-".into(),
        };
        let lat = |p: Option<&Probe>| {
            p.map_or("-".into(), |p| {
                format!("{} / {}", ms(p.p50_ms), ms(p.p99_ms))
            })
        };
        let (cost, cost_ratio) = match thread_cost(room, floor) {
            Some((r, f)) => (format!("{r:.1} / {f:.1}"), format!("{:.2}", f / r)),
            None => ("-".into(), "-".into()),
        };
        writeln!(
            out,
            "| {n} | {} | {} | {ratio} | {} | {} | {cost} | {cost_ratio} |",
            rate_text(rs, room.capped),
            rate_text(fs, floor.capped),
            lat(rs),
            lat(fs)
        )?;
    }
    writeln!(out)?;
    let probes = runs.iter().flat_map(|r| &r.probes);
    let disturbed = probes
        .clone()
        .filter(|p| p.cpu.others >= QUIET_MACHINE)
        .count();
    if disturbed > 0 {
        writeln!(
            out,
            "{disturbed} of {} probes ran while something else kept at least {QUIET_MACHINE} cores busy (`others` below; the bench waits up to {} s in all for a quiet machine): there the server had less CPU, and the figures may be low.\n",
            probes.count(),
            PATIENCE.as_secs()
        )?;
    }
    for run in runs {
        writeln!(
            out,
            "**{} with {} clients** (filled in {:.1} s{}{}):\n",
            run.target.name(),
            run.clients,
            run.fill.as_secs_f64(),
            run.making.map_or(String::new(), |m| format!(
                ": the host's sign-up {} ms, {} guest sessions {:.1} s ({} at a time), then the joins",
                m.signup.as_millis(),
                run.clients,
                m.guests.as_secs_f64(),
                PARALLEL_JOINS
            )),
            if run.refused > 0 {
                format!("; {} refusals from the room", run.refused)
            } else {
                String::new()
            }
        )?;
        writeln!(
            out,
            "| offered msg/s | senders | deliveries/s | arrived | p50 | p99 | sender lag | CPU: bench | front workerd | workerd (busiest thread) | others | |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
        )?;
        let mut probes = run.probes.clone();
        probes.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        for p in &probes {
            let c = p.cpu;
            writeln!(
                out,
                "| {:.1} | {} | {:.0} | {:.2}% | {} | {} | {} | {:.2} | {:.2} | {:.2} ({:.2}) | {:.2} | {} |",
                p.rate,
                p.senders,
                p.delivered,
                p.fraction * 100.0,
                ms(p.p50_ms),
                ms(p.p99_ms),
                ms(p.lag_ms),
                c.bench,
                c.front,
                c.workerd,
                c.workerd_thread,
                c.others,
                if p.pass { "pass" } else { "fail" }
            )?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "CPU is in cores (1.00: one core busy throughout the probe's sending), from `/proc`: `bench` is this process (every client), `workerd` runs the worker and the Durable Objects (its busiest thread is the object's), `front workerd` is wrangler's proxy in front of it (every frame passes both), `others` is the rest of the machine (wrangler's node, the kernel's share not charged to these, anything else running: a probe with much of it was disturbed). Sender lag is how late the sender ran against its schedule at worst (timers tick in milliseconds); a large one means the bench, not the server, set the pace.\n"
    )?;
    Ok(())
}

/// CPU time of the object's thread per delivery, in µs, for the room and the
/// floor over the offered rates at which both passed (rates within 2 %: the
/// floor's are a little higher for the same deliveries, as it does not echo).
/// Steadier than the sustained rates, whose pass or fail at the knee swings
/// with the machine; it says what a delivery costs the object below it.
fn thread_cost(room: &Run, floor: &Run) -> Option<(f64, f64)> {
    let (mut r_cpu, mut r_del, mut f_cpu, mut f_del) = (0.0, 0.0, 0.0, 0.0);
    for r in room.probes.iter().filter(|p| p.pass) {
        let same = floor
            .probes
            .iter()
            .find(|f| f.pass && (f.rate / r.rate - 1.0).abs() < 0.02);
        if let Some(f) = same {
            r_cpu += r.cpu.workerd_thread;
            r_del += r.delivered;
            f_cpu += f.cpu.workerd_thread;
            f_del += f.delivered;
        }
    }
    (r_del > 0.0 && f_del > 0.0 && r_cpu > 0.0).then(|| (r_cpu * 1e6 / r_del, f_cpu * 1e6 / f_del))
}

/// Raises this process's open-file limit (inherited by `wrangler dev`, which
/// holds a socket per client too, twice) to what `clients` need.
fn raise_file_limit(clients: usize) -> anyhow::Result<()> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let need = (clients as u64) * 4 + 1024;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < need {
        anyhow::ensure!(
            hard >= need,
            "{clients} clients need {need} open files; the hard limit is {hard}"
        );
        setrlimit(Resource::RLIMIT_NOFILE, need, hard)?;
    }
    Ok(())
}

/// Measures chat fan-out (room and floor, 100 and 1000 clients; tiny: 5
/// clients and two short probes), appends the section to `out`, writes the
/// points to `target/bench-fanout.json` (`-tiny` when tiny) and returns them.
pub async fn fanout(
    out: &mut String,
    paths: &Paths,
    tiny: bool,
) -> anyhow::Result<Vec<FanoutPoint>> {
    let sizes: &[usize] = if tiny { &[5] } else { &[100, 1000] };
    raise_file_limit(sizes.iter().copied().max().unwrap_or(0))?;
    let origin = Instant::now();
    let mut patience = if tiny { Duration::ZERO } else { PATIENCE };
    let mut runs = Vec::new();
    for &n in sizes {
        for target in [Target::Room, Target::Floor] {
            runs.push(run(paths, target, n, tiny, origin, &mut patience).await?);
        }
    }
    section(out, &runs, tiny)?;
    let points: Vec<FanoutPoint> = runs
        .iter()
        .flat_map(|r| {
            r.probes.iter().map(|p| FanoutPoint {
                target: r.target.name(),
                clients: r.clients,
                offered: p.rate,
                delivered: p.delivered,
                fraction: p.fraction,
                p50_ms: p.p50_ms,
                p99_ms: p.p99_ms,
                pass: p.pass,
            })
        })
        .collect();
    let json: Vec<serde_json::Value> = points
        .iter()
        .map(|p| {
            serde_json::json!({
                "target": p.target, "clients": p.clients, "offered": p.offered,
                "delivered": p.delivered, "fraction": p.fraction,
                "p50_ms": p.p50_ms, "p99_ms": p.p99_ms, "pass": p.pass,
            })
        })
        .collect();
    let file = if tiny {
        "target/bench-fanout-tiny.json"
    } else {
        "target/bench-fanout.json"
    };
    std::fs::write(paths.root.join(file), serde_json::to_string_pretty(&json)?)?;
    Ok(points)
}

/// The section's plot: p99 delivery latency against offered deliveries per
/// second, one line per target and room size (latency clipped at 500 ms,
/// where every probe has failed).
pub fn draw(out: &mut String, points: &[FanoutPoint], dir: &std::path::Path) -> anyhow::Result<()> {
    use super::plot::{Series, lines};
    let mut keys: Vec<(&str, usize)> = points.iter().map(|p| (p.target, p.clients)).collect();
    keys.sort();
    keys.dedup();
    let series: Vec<Series> = keys
        .iter()
        .map(|&(target, clients)| Series {
            name: format!("{target}, {clients} clients"),
            points: points
                .iter()
                .filter(|p| p.target == target && p.clients == clients)
                .map(|p| (p.offered * p.clients as f64, p.p99_ms.min(500.0)))
                .collect(),
        })
        .collect();
    let svg = lines(
        "Chat fan-out: p99 delivery latency",
        "offered deliveries per second",
        "p99 ms (clipped at 500)",
        &series,
    );
    std::fs::write(dir.join("fanout-p99.svg"), svg)?;
    writeln!(
        out,
        "![p99 delivery latency against offered load](fanout-p99.svg)\n"
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(target: Target, probes: &[(f64, f64, f64, bool)]) -> Run {
        Run {
            target,
            clients: 100,
            probes: probes
                .iter()
                .map(|&(rate, delivered, thread, pass)| Probe {
                    rate,
                    senders: 1,
                    delivered,
                    fraction: 1.0,
                    p50_ms: 1.0,
                    p99_ms: 2.0,
                    lag_ms: 0.0,
                    cpu: Cpu {
                        workerd_thread: thread,
                        ..Cpu::default()
                    },
                    pass,
                })
                .collect(),
            fill: Duration::ZERO,
            making: None,
            capped: false,
            refused: 0,
        }
    }

    #[test]
    fn thread_cost_compares_only_rates_both_passed() {
        let room = run(
            Target::Room,
            &[
                (80.0, 8000.0, 0.16, true),
                (160.0, 16000.0, 0.40, true),
                (320.0, 32000.0, 0.9, false),
            ],
        );
        let floor = run(
            Target::Floor,
            &[
                (80.8, 8000.0, 0.08, true),
                (161.6, 16000.0, 0.16, true),
                (323.2, 32000.0, 0.3, true),
            ],
        );
        let (r, f) = thread_cost(&room, &floor).unwrap();
        // (0.16 + 0.40) cores over 24,000 deliveries/s, and (0.08 + 0.16).
        assert!((r - 23.33).abs() < 0.01, "{r}");
        assert!((f - 10.0).abs() < 0.01, "{f}");
        let none = run(Target::Room, &[(80.0, 8000.0, 0.16, false)]);
        assert_eq!(thread_cost(&none, &floor), None);
    }

    #[test]
    fn buckets_round_trip_within_two_percent() {
        for us in [0u64, 1, 63, 64, 65, 100, 1000, 12_345, 999_999, 60_000_000] {
            let v = bucket_value(bucket(us));
            assert!(
                (v - us as f64).abs() <= (us as f64 * 0.016).max(0.5),
                "{us} -> {v}"
            );
        }
        assert!(bucket(u64::MAX) < BUCKETS);
    }

    #[test]
    fn stamps_are_read_back_from_the_rooms_chat_and_the_raw_floor() {
        let text = stamp(3, 123_456);
        let floor = Target::Floor.frame(text.clone());
        assert_eq!(floor.len(), *FLOOR_FRAME);
        assert!(*FLOOR_FRAME > 150, "a chat frame's size");
        assert_eq!(read_stamp(&floor), Some((3, 123_456)));
        assert_eq!(read_stamp(&text), Some((3, 123_456)));
        let message = ChatMessage {
            seq: 1,
            from: ParticipantId::parse("g-c1").expect("an id"),
            from_name: "c1".into(),
            to: None,
            text,
            at_ms: 5,
            edited_ms: None,
            deleted: false,
            rev: 1,
        };
        let chat = ServerMessage::Chat { message }.encode();
        assert_eq!(read_stamp(&chat), Some((3, 123_456)));
        assert_eq!(read_stamp(r#"{"type":"left","id":"g-c1"}"#), None);
    }
}
