//! `cargo xtask bench [--tiny]`: measures, and writes `bench/RESULTS.md`
//! with the machine, the versions and the exact command. Benchmarks, not
//! tests: nothing here passes or fails on a number. `--tiny` runs every
//! measurement once at the smallest size (the test command does, so the
//! harness keeps working) and writes to `target/bench-tiny.md` instead.
//!
//! Sections (issue 8): gzipped sizes of what ships and the worker's cold
//! start under `wrangler dev` (here), join time in Chromium (here), chat
//! fan-out through the Room DO beside a minimal broadcast DO (`fanout.rs`),
//! the media node's forwarding cost and capacity beside Janus
//! (`forward.rs`), and the forwarding core alone on the simulated network
//! (`core_sim.rs`). `plot.rs` draws the SVG charts.

mod core_sim;
mod fanout;
mod forward;
mod plot;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::paths::Paths;
use e2e::worker::{self, Worker, WorkerOptions};

use crate::tools::Tools;

/// One line of a command's output, or `?`.
fn first_line(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("?")
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".into())
}

/// Bytes of `file` after `gzip -9`.
fn gzipped(file: &Path) -> anyhow::Result<u64> {
    let out = Command::new("gzip").args(["-9", "-c"]).arg(file).output()?;
    anyhow::ensure!(out.status.success(), "gzip {} failed", file.display());
    Ok(out.stdout.len() as u64)
}

fn kib(n: u64) -> String {
    format!("{:.1} KiB", n as f64 / 1024.0)
}

/// The median and the largest of `samples`.
fn summary(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let median = samples.get(samples.len() / 2).copied().unwrap_or_default();
    let max = samples.last().copied().unwrap_or_default();
    (median, max)
}

fn machine(out: &mut String, paths: &Paths) -> anyhow::Result<()> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    writeln!(out, "## Machine and versions\n")?;
    writeln!(out, "| | |\n|---|---|")?;
    writeln!(out, "| CPU | {cpu}, {cores} cores |")?;
    writeln!(
        out,
        "| kernel | {} |",
        first_line(Command::new("uname").arg("-sr"))
    )?;
    writeln!(
        out,
        "| rustc | {} |",
        first_line(Command::new("rustc").arg("-V"))
    )?;
    writeln!(
        out,
        "| node | {} |",
        first_line(Command::new("node").arg("--version"))
    )?;
    writeln!(
        out,
        "| wrangler | {} |",
        first_line(Command::new(paths.wrangler()).arg("--version"))
    )?;
    writeln!(out, "| commit | {} |\n", crate::build::git_sha(&paths.root))?;
    Ok(())
}

fn sizes(out: &mut String, paths: &Paths) -> anyhow::Result<()> {
    writeln!(out, "## Size (gzip -9)\n")?;
    writeln!(out, "| artefact | bytes | gzipped |\n|---|---|---|")?;
    let root = &paths.root;
    for (name, file) in [
        ("client WASM", root.join("dist/pkg/client_bg.wasm")),
        ("client JS glue", root.join("dist/pkg/client.js")),
        ("worker WASM", root.join("worker/build/index_bg.wasm")),
        ("worker JS", root.join("worker/build/index.js")),
        ("media node (static binary)", paths.media_node()),
    ] {
        let raw = std::fs::metadata(&file)?.len();
        writeln!(out, "| {name} | {} | {} |", kib(raw), kib(gzipped(&file)?))?;
    }
    writeln!(out)?;
    Ok(())
}

/// Starts `wrangler dev` on fresh local state `runs` times: the time until
/// `/healthz` first answers (process start included), then the first and
/// second request for the app page.
async fn cold_start(out: &mut String, paths: &Paths, runs: usize) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let (mut ready, mut first, mut second) = (vec![], vec![], vec![]);
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        worker::migrate(paths, dir.path())?;
        let opts = WorkerOptions {
            port: e2e::free_port(),
            state_dir: dir.path().to_owned(),
            node_secret: e2e::random_secret()?,
            media_token_seed: e2e::random_secret()?,
            vars: vec![],
            log: Some(dir.path().join("wrangler.log")),
        };
        let started = Instant::now();
        let w = Worker::start(paths, &opts).await?;
        ready.push(started.elapsed());
        for list in [&mut first, &mut second] {
            let t = Instant::now();
            http.get(format!("{}/api/me", w.url())).send().await?;
            list.push(t.elapsed());
        }
        w.stop();
    }
    let row = |name: &str, v: &mut Vec<Duration>| -> String {
        let (m, max) = summary(v);
        format!("| {name} | {} ms | {} ms |", m.as_millis(), max.as_millis())
    };
    writeln!(out, "## Worker cold start (`wrangler dev`, {runs} runs)\n")?;
    writeln!(out, "| step | median | max |\n|---|---|---|")?;
    writeln!(
        out,
        "{}",
        row("process start to first `/healthz` answer", &mut ready)
    )?;
    writeln!(out, "{}", row("first API request after that", &mut first))?;
    writeln!(out, "{}", row("second API request", &mut second))?;
    writeln!(
        out,
        "\nLocal `wrangler dev` (workerd) on this machine, not Cloudflare's edge. The first figure is wrangler's start-up plus the worker's first request (`/healthz`, which instantiates its WASM), polled every few milliseconds; the API requests after it (a session lookup that finds none) run warm.\n"
    )?;
    Ok(())
}

/// Clicks Join in the page and waits, in the page, for the first decoded
/// frame of a remote video; returns the milliseconds between the two.
const JOIN_CLOCK: &str = r#"
const done = arguments[arguments.length - 1];
const old = window.__openTelecon && window.__openTelecon.pc;
const t0 = performance.now();
document.querySelector('#join-call').click();
const poll = () => {
  const pc = window.__openTelecon && window.__openTelecon.pc;
  if (!pc || pc === old) { setTimeout(poll, 5); return; }
  pc.getStats().then(s => {
    let frames = 0;
    s.forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'video') frames += r.framesDecoded || 0; });
    if (frames > 0) done(performance.now() - t0); else setTimeout(poll, 5);
  }, () => setTimeout(poll, 5));
};
poll();
"#;

/// Join time in Chromium: Ada is in the call; Bob clicks Join `joins` times
/// (leaving in between), each time until Ada's video decodes at his page.
async fn join_time(out: &mut String, paths: &Paths, joins: usize) -> anyhow::Result<()> {
    use e2e::api::Agent;
    use e2e::call::{click, join_in, open_room, text_is};
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state)?;
    worker::migrate(paths, &state)?;
    let (secret, seed) = (e2e::random_secret()?, e2e::random_secret()?);
    let w = Worker::start(
        paths,
        &WorkerOptions {
            port: e2e::free_port(),
            state_dir: state,
            node_secret: secret.clone(),
            media_token_seed: seed.clone(),
            vars: vec![],
            log: Some(dir.path().join("wrangler.log")),
        },
    )
    .await?;
    let _node = e2e::media_node::start(
        paths,
        &e2e::media_node::NodeOptions {
            id: "bench-1".into(),
            region: "local".into(),
            worker_url: w.url().into(),
            node_secret: secret,
            token_public_key: worker_app::media_token::public_key_hex(&seed)?,
            udp_bind: "127.0.0.1:0".into(),
            public_addr: None,
            log: Some(dir.path().join("node.log")),
        },
    )?;
    let mut ada = Agent::new(w.url());
    ada.signup("ada@example.org", "Ada").await;
    let mut bob = Agent::new(w.url());
    let bob_id = bob.signup("bob@example.org", "Bob").await.body["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let room = ada
        .post("/api/rooms", serde_json::json!({"name": "Bench"}))
        .await;
    let room = room.body["id"].as_str().unwrap_or_default().to_owned();
    ada.post(
        &format!("/api/rooms/{room}/members"),
        serde_json::json!({"user_id": bob_id, "role": "participant"}),
    )
    .await;
    let a = join_in(
        paths,
        &dir.path().join("chrome-ada"),
        "ada@example.org",
        w.url(),
        &room,
        None,
    )
    .await;
    let b = open_room(
        paths,
        &dir.path().join("chrome-bob"),
        "bob@example.org",
        w.url(),
        &room,
    )
    .await;
    let mut samples = Vec::new();
    for i in 0..joins {
        if i > 0 {
            click(&b.client, "#leave-call").await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        text_is(&b.client, "#status", "connected").await;
        let ms = b.client.execute_async(JOIN_CLOCK, vec![]).await?;
        samples.push(Duration::from_secs_f64(
            ms.as_f64().unwrap_or(f64::NAN) / 1000.0,
        ));
    }
    a.close().await;
    b.close().await;
    w.stop();
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    writeln!(
        out,
        "## Join time in Chromium ({joins} joins)
"
    )?;
    writeln!(out, "| | p50 | p95 | max |\n|---|---|---|---|")?;
    writeln!(
        out,
        "| click on Join to a remote video's first decoded frame | {} ms | {} ms | {} ms |\n",
        pick(0.5).as_millis(),
        pick(0.95).as_millis(),
        pick(1.0).as_millis()
    )?;
    writeln!(
        out,
        "Both browsers, `wrangler dev` and the media node on this 2-core machine over loopback; measured in the page (`performance.now()` at the click, `getStats()` polled every 5 ms). Includes the camera and microphone opening, the offer through the room, placement, the node's answer, ICE, DTLS and a keyframe.\n"
    )?;
    Ok(())
}

/// Runs the benchmarks; `tiny` runs each once and keeps the results out of
/// the repository.
/// `only` names one section (`size`, `cold`, `join`, `fanout`, `forward`):
/// it alone runs, into `target/bench-only.md`.
pub fn run(tiny: bool, only: Option<&str>) -> anyhow::Result<()> {
    let paths = Paths::default();
    let tools = Tools::ensure(&paths.root)?;
    crate::build::all(&tools)?;
    measure_some(&paths, tiny, only)
}

/// Every measurement, on what is built already.
pub fn measure(paths: &Paths, tiny: bool) -> anyhow::Result<()> {
    measure_some(paths, tiny, None)
}

/// The sections of the results, in order.
pub const SECTIONS: [&str; 6] = ["size", "cold", "join", "fanout", "forward", "core"];

fn measure_some(paths: &Paths, tiny: bool, only: Option<&str>) -> anyhow::Result<()> {
    if let Some(name) = only {
        anyhow::ensure!(
            SECTIONS.contains(&name),
            "no section {name:?}; sections: {}",
            SECTIONS.join(", ")
        );
    }
    let wants = |name: &str| only.is_none_or(|o| o == name);
    let paths = paths.clone();
    // Plots go beside the results, which link to them by name.
    let (file, plots) = if only.is_some() {
        (
            paths.root.join("target/bench-only.md"),
            paths.root.join("target"),
        )
    } else if tiny {
        (
            paths.root.join("target/bench-tiny.md"),
            paths.root.join("target"),
        )
    } else {
        (
            paths.root.join("bench/RESULTS.md"),
            paths.root.join("bench"),
        )
    };
    std::fs::create_dir_all(&plots)?;
    let mut out = String::new();
    let command = format!(
        "cargo xtask bench{}{}",
        if tiny { " --tiny" } else { "" },
        only.map(|o| format!(" --only {o}")).unwrap_or_default()
    );
    writeln!(
        out,
        "# Benchmarks\n\nWritten by `{command}`. Numbers are measurements on the machine below, not targets.\n"
    )?;
    machine(&mut out, &paths)?;
    if wants("size") {
        sizes(&mut out, &paths)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if wants("cold") {
        runtime.block_on(cold_start(&mut out, &paths, if tiny { 1 } else { 5 }))?;
    }
    if wants("join") {
        runtime.block_on(join_time(&mut out, &paths, if tiny { 2 } else { 12 }))?;
    }
    if wants("fanout") {
        let points = runtime.block_on(fanout::fanout(&mut out, &paths, tiny))?;
        fanout::draw(&mut out, &points, &plots)?;
    }
    if wants("forward") {
        runtime.block_on(forward::forward(&mut out, &paths, tiny, &plots))?;
    }
    if wants("core") {
        core_sim::core(&mut out, &paths, tiny)?;
    }
    std::fs::write(&file, &out)?;
    eprintln!("{out}\nwritten to {}", file.display());
    Ok(())
}
