//! Janus 1.1.2's videoroom plugin, the SFU our media node is measured
//! against: starting the `janus` process for a run, and joining its rooms
//! through the plain-HTTP Janus API.
//!
//! The process ([`spawn`]) runs from a throwaway folder made from the
//! templates in `bench/janus/` (only the videoroom plugin and the HTTP
//! transport can load; the HTTP port is filled in), with
//! `bench/janus/loopback_shim.c` preloaded: Janus leaves loopback interfaces
//! out of its ICE candidates, and the shim hides the loopback flag of
//! 127.0.0.1 so a peer on this host can reach it. [`compile_shim`] builds it.
//!
//! The API side ([`Janus`]) is one Janus session with one long poll: every
//! plugin request is a `message` on a handle, acknowledged at once and
//! answered later by an event carrying the same transaction, which the poll
//! task routes back to the waiting call. Events nobody waits for (`webrtcup`,
//! `media`, `hangup`, `slowlink`, room notifications) are kept, a bounded
//! number, for [`Janus::drain_notices`]. Our config turns session timeouts
//! off, so no keepalives are sent.
//!
//! Publishers offer (str0m peers never trickle, so every JSEP we send says
//! `trickle: false`) with simulcast rids listed lowest first (`l;m;h`), and
//! we tell Janus so (`rid_order: "lmh"`), which makes Janus's substream 0
//! the lowest layer. Subscribers use Janus 1.x multistream: one handle per
//! subscriber, one `join` naming every feed, Janus offers, we answer with
//! `start`. Nothing read from the network can panic here: a malformed or
//! unexpected reply is an error.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How long a plugin request may take to be answered by its event.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Janus answers an idle long poll after 30 s; the client waits longer.
const POLL_TIMEOUT: Duration = Duration::from_secs(45);

/// Events fetched per long poll.
const POLL_BATCH: usize = 32;

/// Unsolicited events kept for [`Janus::drain_notices`]; older ones are
/// dropped first.
const NOTICES_KEPT: usize = 4096;

/// How long [`spawn`] waits for the HTTP API to answer.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The config templates in `bench/janus/`, copied with placeholders filled.
const TEMPLATES: [&str; 3] = [
    "janus.jcfg",
    "janus.transport.http.jcfg",
    "janus.plugin.videoroom.jcfg",
];

/// The simulcast substream Janus calls the highest (0 is the lowest).
const MAX_SUBSTREAM: usize = 2;

// ---------------------------------------------------------------------------
// The process.

/// A running `janus`, killed (and its run folder removed) on drop: every
/// server a bench starts, it stops.
#[derive(Debug)]
pub struct JanusProcess {
    /// The process; `taskset` execs `janus`, so this is Janus's own pid.
    child: Child,
    /// The throwaway folder with the filled-in config and the log.
    run_dir: PathBuf,
    /// The API base, `http://127.0.0.1:PORT/janus`, for [`Janus::connect`].
    pub url: String,
}

impl JanusProcess {
    /// Janus's pid, for reading its CPU time and memory from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Janus's log (stdout and stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.run_dir.join("janus.log")).unwrap_or_default()
    }
}

impl Drop for JanusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// Compiles the loopback shim `src` (`bench/janus/loopback_shim.c`) into the
/// shared object `out` with gcc, unless `out` is already newer than `src`.
pub fn compile_shim(src: &Path, out: &Path) -> anyhow::Result<()> {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    if let (Some(o), Some(s)) = (modified(out), modified(src))
        && o >= s
    {
        return Ok(());
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let status = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(out)
        .arg(src)
        .arg("-ldl")
        .status()
        .context("running gcc to build Janus's loopback shim (apt-get install -y gcc)")?;
    if !status.success() {
        bail!("gcc failed to build {}", src.display());
    }
    Ok(())
}

/// Where Debian's package put Janus's plugin and transport folders
/// (`/usr/lib/<multiarch>/janus`).
fn janus_lib_dir() -> anyhow::Result<PathBuf> {
    let mut candidates = vec![
        PathBuf::from("/usr/lib/janus"),
        PathBuf::from("/usr/local/lib/janus"),
        PathBuf::from("/opt/janus/lib/janus"),
    ];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        for e in entries.flatten() {
            candidates.push(e.path().join("janus"));
        }
    }
    candidates
        .into_iter()
        .find(|d| d.join("plugins/libjanus_videoroom.so").exists())
        .ok_or_else(|| anyhow!("Janus's videoroom plugin was not found: apt-get install -y janus"))
}

/// Starts `janus` on 127.0.0.1:`port` from the templates in `config_dir`
/// (`bench/janus/`), with the loopback shim `shim` preloaded, pinned to
/// `cpu` with `taskset -c` when given, and waits until its HTTP API answers.
pub async fn spawn(
    config_dir: &Path,
    port: u16,
    shim: &Path,
    cpu: Option<usize>,
) -> anyhow::Result<JanusProcess> {
    let lib = janus_lib_dir()?;
    // A Janus left over from a crashed run would answer our readiness check
    // (the new one then fails to bind) and be measured in its place.
    std::net::TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("port {port} is taken (a janus left from an earlier run?)"))?;
    let run_dir =
        std::env::temp_dir().join(format!("opentelecon-janus-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run_dir);
    let conf = run_dir.join("conf");
    let plugins = run_dir.join("plugins");
    let transports = run_dir.join("transports");
    let empty = run_dir.join("empty");
    for d in [&conf, &plugins, &transports, &empty] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    // One plugin and one transport: nothing else can load.
    std::os::unix::fs::symlink(
        lib.join("plugins/libjanus_videoroom.so"),
        plugins.join("libjanus_videoroom.so"),
    )?;
    std::os::unix::fs::symlink(
        lib.join("transports/libjanus_http.so"),
        transports.join("libjanus_http.so"),
    )?;
    let path = |p: &Path| p.display().to_string();
    for name in TEMPLATES {
        let src = config_dir.join(name);
        let text =
            std::fs::read_to_string(&src).with_context(|| format!("reading {}", src.display()))?;
        let text = text
            .replace("@CONFIGS@", &path(&conf))
            .replace("@PLUGINS@", &path(&plugins))
            .replace("@TRANSPORTS@", &path(&transports))
            .replace("@EMPTY@", &path(&empty))
            .replace("@PORT@", &port.to_string());
        std::fs::write(conf.join(name), text)?;
    }
    let log = std::fs::File::create(run_dir.join("janus.log"))?;
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string(), "janus"]);
            c
        }
        None => Command::new("janus"),
    };
    cmd.arg("--configs-folder")
        .arg(&conf)
        .env("LD_PRELOAD", shim)
        .current_dir(&run_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let child = cmd
        .spawn()
        .context("starting janus (apt-get install -y janus)")?;
    let mut process = JanusProcess {
        child,
        run_dir,
        url: format!("http://127.0.0.1:{port}/janus"),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let info = format!("{}/info", process.url);
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = process.child.try_wait() {
            bail!("janus exited ({status}) at start:\n{}", process.log());
        }
        if let Ok(r) = http.get(&info).send().await
            && r.status().is_success()
        {
            return Ok(process);
        }
        if Instant::now() > deadline {
            bail!(
                "janus did not answer on {info} within {START_TIMEOUT:?}:\n{}",
                process.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// The API.

/// A plugin handle: one PeerConnection in Janus.
pub type Handle = u64;

/// An event nobody waited for (`webrtcup`, `media`, `hangup`, `slowlink`,
/// a plugin notification).
#[derive(Debug, Clone)]
pub struct Notice {
    /// The handle it concerns (0 when Janus named none).
    pub handle: Handle,
    /// Janus's `janus` field: `webrtcup`, `hangup`, `media`, `event`...
    pub kind: String,
    /// The whole event, for anything else.
    pub body: Value,
}

/// One stream of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// Its mid in Janus's offer to the subscriber.
    pub mid: String,
    /// `audio`, `video` or `data`.
    pub kind: String,
    /// The publisher (feed) it comes from.
    pub feed: u64,
}

/// A subscriber's handle and Janus's offer to it.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The subscriber's handle, for `start` and `configure`.
    pub handle: Handle,
    /// Janus's SDP offer, for the subscriber to answer.
    pub offer_sdp: String,
    /// Which mid carries which feed's audio or video.
    pub streams: Vec<Stream>,
}

impl Subscription {
    /// The mid carrying `feed`'s video.
    pub fn video_mid(&self, feed: u64) -> Option<&str> {
        self.streams
            .iter()
            .find(|s| s.feed == feed && s.kind == "video")
            .map(|s| s.mid.as_str())
    }
}

/// What the poll task shares with the calls.
#[derive(Default)]
struct Shared {
    /// Calls waiting for the event that answers their transaction.
    waiting: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// Events nobody waited for, newest last.
    notices: Mutex<VecDeque<Notice>>,
}

/// One Janus session on the HTTP API, with its long poll running.
pub struct Janus {
    http: reqwest::Client,
    /// The API base, `http://127.0.0.1:PORT/janus`.
    base: String,
    /// The session's id, in every later URL.
    session: u64,
    shared: Arc<Shared>,
    /// Makes transaction ids unique within the session.
    next_transaction: AtomicU64,
    /// Each publisher's handle by feed id, for [`Janus::unpublish`].
    publishers: Mutex<HashMap<u64, Handle>>,
    /// The long-poll task, stopped on drop.
    poll: tokio::task::JoinHandle<()>,
}

impl Drop for Janus {
    fn drop(&mut self) {
        self.poll.abort();
    }
}

/// Locks a mutex, taking the data even if a panicking holder poisoned it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `value[key]` as a u64 (Janus's ids are JSON numbers).
fn id_of(value: &Value, key: &str) -> anyhow::Result<u64> {
    value
        .get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("Janus's reply has no numeric {key:?}: {value}"))
}

/// The core's error, when the reply is one.
fn core_error(reply: &Value) -> Option<String> {
    (reply.get("janus").and_then(Value::as_str) == Some("error")).then(|| {
        let e = reply.get("error");
        format!(
            "Janus error {}: {}",
            e.and_then(|e| e.get("code")).unwrap_or(&Value::Null),
            e.and_then(|e| e.get("reason"))
                .and_then(Value::as_str)
                .unwrap_or("(no reason)")
        )
    })
}

/// The plugin's data in a reply or event, or the plugin's error as an error.
fn plugin_data(reply: &Value) -> anyhow::Result<&Value> {
    if let Some(e) = core_error(reply) {
        bail!(e);
    }
    let data = reply
        .get("plugindata")
        .and_then(|p| p.get("data"))
        .ok_or_else(|| anyhow!("Janus's reply has no plugin data: {reply}"))?;
    if let Some(code) = data.get("error_code") {
        bail!(
            "videoroom error {code}: {}",
            data.get("error").and_then(Value::as_str).unwrap_or("")
        );
    }
    Ok(data)
}

/// The SDP of the event's JSEP of type `kind` (`offer` or `answer`).
fn jsep_sdp(event: &Value, kind: &str) -> anyhow::Result<String> {
    let jsep = event
        .get("jsep")
        .ok_or_else(|| anyhow!("Janus sent no JSEP {kind}: {event}"))?;
    if jsep.get("type").and_then(Value::as_str) != Some(kind) {
        bail!("Janus sent a JSEP that is not an {kind}: {jsep}");
    }
    let sdp = jsep
        .get("sdp")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("Janus's JSEP has no SDP"))?;
    // Without the shim Janus offers only the host's other interfaces, and ICE
    // fails much later and less clearly.
    if !sdp
        .lines()
        .any(|l| l.starts_with("a=candidate:") && l.contains(" 127.0.0.1 "))
    {
        bail!("Janus's SDP has no 127.0.0.1 candidate: is loopback_shim.so preloaded?\n{sdp}");
    }
    Ok(sdp.to_owned())
}

impl Janus {
    /// Creates a session on the API at `base` (`http://127.0.0.1:PORT/janus`)
    /// and starts its long poll.
    pub async fn connect(base: &str) -> anyhow::Result<Janus> {
        let http = reqwest::Client::builder().timeout(POLL_TIMEOUT).build()?;
        let base = base.trim_end_matches('/').to_owned();
        let reply: Value = http
            .post(&base)
            .json(&json!({"janus": "create", "transaction": "create"}))
            .send()
            .await
            .with_context(|| format!("reaching Janus at {base}"))?
            .json()
            .await?;
        if let Some(e) = core_error(&reply) {
            bail!(e);
        }
        let data = reply
            .get("data")
            .ok_or_else(|| anyhow!("Janus's create reply has no data: {reply}"))?;
        let session = id_of(data, "id")?;
        let shared = Arc::new(Shared::default());
        let poll = tokio::spawn(poll(
            http.clone(),
            format!("{base}/{session}?maxev={POLL_BATCH}"),
            shared.clone(),
        ));
        Ok(Janus {
            http,
            base,
            session,
            shared,
            next_transaction: AtomicU64::new(1),
            publishers: Mutex::new(HashMap::new()),
            poll,
        })
    }

    fn transaction(&self) -> String {
        format!("t{}", self.next_transaction.fetch_add(1, Ordering::Relaxed))
    }

    /// Posts `body` (a `transaction` is added) to the session, or to
    /// `handle` when given; returns Janus's immediate reply.
    async fn post(&self, handle: Option<Handle>, mut body: Value) -> anyhow::Result<Value> {
        let url = match handle {
            Some(h) => format!("{}/{}/{h}", self.base, self.session),
            None => format!("{}/{}", self.base, self.session),
        };
        if let Some(fields) = body.as_object_mut()
            && !fields.contains_key("transaction")
        {
            fields.insert("transaction".into(), Value::String(self.transaction()));
        }
        let reply: Value = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("posting to {url}"))?
            .json()
            .await
            .with_context(|| format!("reading Janus's reply from {url}"))?;
        if let Some(e) = core_error(&reply) {
            bail!(e);
        }
        Ok(reply)
    }

    /// Attaches a new videoroom handle (one PeerConnection).
    pub async fn attach(&self) -> anyhow::Result<Handle> {
        let reply = self
            .post(
                None,
                json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
            )
            .await?;
        let data = reply
            .get("data")
            .ok_or_else(|| anyhow!("Janus's attach reply has no data: {reply}"))?;
        id_of(data, "id")
    }

    /// Detaches `handle`: hangs up its PeerConnection and leaves its room.
    pub async fn detach(&self, handle: Handle) -> anyhow::Result<()> {
        self.post(Some(handle), json!({"janus": "detach"})).await?;
        Ok(())
    }

    /// A plugin request answered in Janus's reply (create, destroy, list).
    async fn request(&self, handle: Handle, body: Value) -> anyhow::Result<Value> {
        let reply = self
            .post(Some(handle), json!({"janus": "message", "body": body}))
            .await?;
        Ok(plugin_data(&reply)?.clone())
    }

    /// A plugin request answered by a later event (join, start, configure):
    /// returns that whole event, after checking it is not an error.
    async fn message(
        &self,
        handle: Handle,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<Value> {
        let transaction = self.transaction();
        let (tx, rx) = oneshot::channel();
        // Registered first: the event can beat the acknowledgement.
        lock(&self.shared.waiting).insert(transaction.clone(), tx);
        let mut msg = json!({"janus": "message", "body": body, "transaction": transaction});
        if let (Some(jsep), Some(fields)) = (jsep, msg.as_object_mut()) {
            fields.insert("jsep".into(), jsep);
        }
        let sent = self.post(Some(handle), msg).await;
        let event = match sent {
            // A request the plugin answers at once comes back as "success".
            Ok(reply) if reply.get("janus").and_then(Value::as_str) == Some("success") => {
                lock(&self.shared.waiting).remove(&transaction);
                reply
            }
            Ok(_ack) => match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
                Ok(Ok(event)) => event,
                Ok(Err(_)) => bail!("Janus's session ended before answering {transaction}"),
                Err(_) => {
                    lock(&self.shared.waiting).remove(&transaction);
                    bail!("Janus did not answer {transaction} within {REPLY_TIMEOUT:?}")
                }
            },
            Err(e) => {
                lock(&self.shared.waiting).remove(&transaction);
                return Err(e);
            }
        };
        plugin_data(&event)?;
        Ok(event)
    }

    /// Creates videoroom `room` for up to `max_publishers` publishers: VP8
    /// and Opus, no recording, no join notifications, no periodic keyframe
    /// requests, no bitrate cap. Any existing room with that id is destroyed
    /// first.
    pub async fn create_room(&self, room: u64, max_publishers: usize) -> anyhow::Result<()> {
        let handle = self.attach().await?;
        let exists = self
            .request(handle, json!({"request": "exists", "room": room}))
            .await?;
        if exists.get("exists").and_then(Value::as_bool) == Some(true) {
            self.request(handle, json!({"request": "destroy", "room": room}))
                .await?;
        }
        self.request(
            handle,
            json!({
                "request": "create",
                "room": room,
                "permanent": false,
                "publishers": max_publishers,
                "audiocodec": "opus",
                "videocodec": "vp8",
                "record": false,
                "notify_joining": false,
                "fir_freq": 0,
                "bitrate": 0,
            }),
        )
        .await?;
        self.detach(handle).await
    }

    /// Destroys videoroom `room`, hanging up everyone in it.
    pub async fn destroy_room(&self, room: u64) -> anyhow::Result<()> {
        let handle = self.attach().await?;
        self.request(handle, json!({"request": "destroy", "room": room}))
            .await?;
        self.detach(handle).await
    }

    /// Joins `room` as publisher `display` with `offer_sdp` (simulcast rids
    /// listed lowest first); returns its feed id and Janus's SDP answer.
    pub async fn publish(
        &self,
        room: u64,
        display: &str,
        offer_sdp: &str,
    ) -> anyhow::Result<(u64, String)> {
        let handle = self.attach().await?;
        let event = self
            .message(
                handle,
                json!({
                    "request": "joinandconfigure",
                    "ptype": "publisher",
                    "room": room,
                    "display": display,
                }),
                Some(json!({
                    "type": "offer",
                    "sdp": offer_sdp,
                    "trickle": false,
                    "rid_order": "lmh",
                })),
            )
            .await?;
        let data = plugin_data(&event)?;
        let feed = id_of(data, "id")?;
        let answer = jsep_sdp(&event, "answer")?;
        lock(&self.publishers).insert(feed, handle);
        Ok((feed, answer))
    }

    /// Stops publishing `feed`: detaches its handle.
    pub async fn unpublish(&self, feed: u64) -> anyhow::Result<()> {
        let handle = lock(&self.publishers).remove(&feed);
        match handle {
            Some(h) => self.detach(h).await,
            None => bail!("feed {feed} was not published here"),
        }
    }

    /// Subscribes a new handle to every stream of `feeds` in `room`; returns
    /// Janus's offer and which mid carries what. Answer with [`Janus::start`].
    pub async fn subscribe(&self, room: u64, feeds: &[u64]) -> anyhow::Result<Subscription> {
        let handle = self.attach().await?;
        let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
        let event = self
            .message(
                handle,
                json!({
                    "request": "join",
                    "ptype": "subscriber",
                    "room": room,
                    "streams": streams,
                }),
                None,
            )
            .await?;
        let data = plugin_data(&event)?;
        let streams = data
            .get("streams")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("Janus's attached event lists no streams: {data}"))?
            .iter()
            .filter_map(|s| {
                Some(Stream {
                    mid: s.get("mid")?.as_str()?.to_owned(),
                    kind: s.get("type")?.as_str()?.to_owned(),
                    feed: s.get("feed_id")?.as_u64()?,
                })
            })
            .collect();
        Ok(Subscription {
            handle,
            offer_sdp: jsep_sdp(&event, "offer")?,
            streams,
        })
    }

    /// Completes a subscription with the subscriber's SDP answer.
    pub async fn start(&self, sub: &Subscription, answer_sdp: &str) -> anyhow::Result<()> {
        self.message(
            sub.handle,
            json!({"request": "start"}),
            Some(json!({"type": "answer", "sdp": answer_sdp, "trickle": false})),
        )
        .await?;
        Ok(())
    }

    /// Chooses the simulcast substream (0 lowest, 2 highest) the subscriber
    /// receives of `feed`'s video.
    pub async fn substream(
        &self,
        sub: &Subscription,
        feed: u64,
        layer: usize,
    ) -> anyhow::Result<()> {
        self.substreams(sub, &[(feed, layer)]).await
    }

    /// [`Janus::substream`] for several feeds in one request.
    pub async fn substreams(
        &self,
        sub: &Subscription,
        choices: &[(u64, usize)],
    ) -> anyhow::Result<()> {
        let mut streams = Vec::with_capacity(choices.len());
        for &(feed, layer) in choices {
            let mid = sub
                .video_mid(feed)
                .ok_or_else(|| anyhow!("the subscription has no video from feed {feed}"))?;
            streams.push(json!({"mid": mid, "substream": layer.min(MAX_SUBSTREAM)}));
        }
        if streams.is_empty() {
            return Ok(());
        }
        self.message(
            sub.handle,
            json!({"request": "configure", "streams": streams}),
            None,
        )
        .await?;
        Ok(())
    }

    /// Takes the events nobody waited for, oldest first.
    pub fn drain_notices(&self) -> Vec<Notice> {
        lock(&self.shared.notices).drain(..).collect()
    }

    /// Ends the session: Janus hangs up all its handles.
    pub async fn destroy(self) -> anyhow::Result<()> {
        self.post(None, json!({"janus": "destroy"})).await?;
        Ok(())
    }
}

/// The session's long poll: routes each event to the call waiting for its
/// transaction, or keeps it as a notice. Ends when the session is gone.
async fn poll(http: reqwest::Client, url: String, shared: Arc<Shared>) {
    let mut failures = 0u32;
    loop {
        let reply = match http.get(&url).send().await {
            Ok(r) => r.json::<Value>().await,
            Err(e) => Err(e),
        };
        let events = match reply {
            Ok(Value::Array(events)) => events,
            Ok(event) => vec![event],
            Err(_) => {
                // Janus gone or restarting: retry a few times, then stop.
                failures += 1;
                if failures > 20 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        failures = 0;
        for event in events {
            let kind = event
                .get("janus")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            match kind.as_str() {
                "keepalive" => continue,
                // "No such session": nothing more will come.
                "error" => {
                    lock(&shared.waiting).clear();
                    return;
                }
                _ => {}
            }
            let waiter = event
                .get("transaction")
                .and_then(Value::as_str)
                .and_then(|t| lock(&shared.waiting).remove(t));
            match waiter {
                Some(w) => {
                    let _ = w.send(event);
                }
                None => {
                    let mut notices = lock(&shared.notices);
                    if notices.len() >= NOTICES_KEPT {
                        notices.pop_front();
                    }
                    notices.push_back(Notice {
                        handle: event.get("sender").and_then(Value::as_u64).unwrap_or(0),
                        kind,
                        body: event,
                    });
                }
            }
        }
    }
    lock(&shared.waiting).clear();
}
