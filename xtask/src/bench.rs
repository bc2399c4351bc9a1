//! `cargo xtask bench [--tiny]`: measures, and writes `bench/RESULTS.md`
//! with the machine, the versions and the exact command. Benchmarks, not
//! tests: nothing here passes or fails on a number. `--tiny` runs every
//! measurement once at the smallest size (the test command does, so the
//! harness keeps working) and writes to `target/bench-tiny.md` instead.
//!
//! Measured so far (issue 8, section 4): gzipped sizes of what ships, and
//! the worker's cold start under `wrangler dev`. The media-node load
//! generator, chat fan-out and join time are still to come.

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

/// Runs the benchmarks; `tiny` runs each once and keeps the results out of
/// the repository.
pub fn run(tiny: bool) -> anyhow::Result<()> {
    let paths = Paths::default();
    let tools = Tools::ensure(&paths.root)?;
    crate::build::all(&tools)?;
    measure(&paths, tiny)
}

/// The measurements, on what is built already.
pub fn measure(paths: &Paths, tiny: bool) -> anyhow::Result<()> {
    let paths = paths.clone();
    let mut out = String::new();
    let command = if tiny {
        "cargo xtask bench --tiny"
    } else {
        "cargo xtask bench"
    };
    writeln!(
        out,
        "# Benchmarks\n\nWritten by `{command}`. Numbers are measurements on the machine below, not targets.\n"
    )?;
    machine(&mut out, &paths)?;
    sizes(&mut out, &paths)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(cold_start(&mut out, &paths, if tiny { 1 } else { 5 }))?;
    writeln!(
        out,
        "## Not measured yet\n\nThe media node's forwarding cost and capacity against Janus, chat fan-out through the Room Durable Object, and join time in Chromium (issue 8, sections 1 to 3).\n"
    )?;
    let file = if tiny {
        paths.root.join("target/bench-tiny.md")
    } else {
        std::fs::create_dir_all(paths.root.join("bench"))?;
        paths.root.join("bench/RESULTS.md")
    };
    std::fs::write(&file, &out)?;
    eprintln!("{out}\nwritten to {}", file.display());
    Ok(())
}
