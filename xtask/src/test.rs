//! `cargo xtask test`: formatting, lints (native and wasm32), unit tests, the
//! wasm builds, the deployable bundle, and the end-to-end tests, then one
//! summary line.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::build::{self, WASM};
use crate::run;
use crate::tools::{self, Tools};

/// Crates that build for wasm32 and are linted for it.
const WASM_CRATES: &[&str] = &["protocol", "durable-objects", "worker-app", "client"];

struct Step {
    name: &'static str,
    outcome: Result<String, String>,
    seconds: f64,
}

fn step(
    steps: &mut Vec<Step>,
    name: &'static str,
    f: impl FnOnce() -> anyhow::Result<String>,
) -> bool {
    eprintln!("\n=== {name} ===");
    let t = Instant::now();
    let outcome = f().map_err(|e| format!("{e:#}"));
    let ok = outcome.is_ok();
    if let Err(e) = &outcome {
        eprintln!("FAILED {name}: {e}");
    }
    steps.push(Step {
        name,
        outcome,
        seconds: t.elapsed().as_secs_f64(),
    });
    ok
}

/// Total size of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// Runs every check; exits non-zero if any failed.
/// Builds what the end-to-end tests run, then runs only `tests/tests/{name}.rs`
/// (with `filter` passed to the test binary): the quick loop while working
/// on one feature. Not a substitute for [`run_all`].
pub fn run_one(name: &str, filter: &[String]) -> anyhow::Result<()> {
    let paths = e2e::paths::Paths::default();
    let root = paths.root.clone();
    let tools = Tools::ensure(&root)?;
    tools::ensure_browser()?;
    let python = tools::ensure_aiortc(&root)?;
    build::all(&tools)?;
    run(build::cargo(&tools)
        .args([
            "test",
            "-p",
            "e2e",
            "--test",
            name,
            "--",
            "--test-threads=2",
        ])
        .args(filter)
        .env("OPENTELECON_AIORTC_PYTHON", &python)
        .env("RUST_BACKTRACE", "1"))
}

pub fn run_all() -> anyhow::Result<()> {
    let started = Instant::now();
    let paths = e2e::paths::Paths::default();
    let root = paths.root.clone();
    let tools = Tools::ensure(&root)?;
    tools::ensure_browser()?;
    let python = tools::ensure_aiortc(&root)?;
    let mut steps = Vec::new();

    step(&mut steps, "fmt", || {
        run(Command::new("cargo")
            .args(["fmt", "--all", "--check"])
            .current_dir(&root))?;
        Ok(String::new())
    });
    step(&mut steps, "clippy native", || {
        run(build::cargo(&tools).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
        Ok(String::new())
    });
    step(&mut steps, "clippy wasm32", || {
        let mut cmd = build::cargo(&tools);
        cmd.args(["clippy", "--target", WASM]);
        for krate in WASM_CRATES {
            cmd.args(["-p", krate]);
        }
        run(cmd.args(["--", "-D", "warnings"]))?;
        Ok(String::new())
    });
    step(&mut steps, "unit tests", || {
        run(build::cargo(&tools).args(["test", "--workspace", "--exclude", "e2e"]))?;
        Ok(String::new())
    });
    let built = step(&mut steps, "wasm and media-node builds", || {
        build::all(&tools)?;
        let client = dir_size(&root.join("dist"));
        Ok(format!("client {:.1} MiB", client as f64 / 1048576.0))
    });
    if built {
        step(&mut steps, "wrangler deploy --dry-run", || {
            let out = root.join("target/deploy-dry-run");
            let _ = std::fs::remove_dir_all(&out);
            run(Command::new(tools.wrangler())
                .current_dir(&root)
                .args(["deploy", "--dry-run", "--outdir"])
                .arg(&out)
                .env("WRANGLER_SEND_METRICS", "false")
                .env("CI", "true"))?;
            let size = dir_size(&out);
            eprintln!(
                "deployable worker bundle: {size} bytes ({:.2} MiB)",
                size as f64 / 1048576.0
            );
            Ok(format!("worker bundle {:.2} MiB", size as f64 / 1048576.0))
        });
        step(&mut steps, "bench harness (tiny)", || {
            crate::bench::measure(&paths, true)?;
            Ok("target/bench-tiny.md".into())
        });
        step(&mut steps, "end-to-end tests", || {
            run(build::cargo(&tools)
                .args([
                    "test",
                    "-p",
                    "e2e",
                    "--no-fail-fast",
                    "--",
                    "--test-threads=2",
                ])
                .env("OPENTELECON_AIORTC_PYTHON", &python)
                .env("RUST_BACKTRACE", "1"))?;
            Ok(String::new())
        });
    }

    eprintln!();
    for s in &steps {
        let (mark, detail) = match &s.outcome {
            Ok(d) => ("ok  ", d.as_str()),
            Err(_) => ("FAIL", ""),
        };
        eprintln!("{mark} {:<28} {:>6.1}s {detail}", s.name, s.seconds);
    }
    let passed = steps.iter().filter(|s| s.outcome.is_ok()).count();
    let failed = steps.len() - passed;
    // Skipped steps (their build failed) count as failures.
    let skipped = if built { 0 } else { 2 };
    eprintln!("total {:.0}s", started.elapsed().as_secs_f64());
    println!("xtask: {passed} passed, {} failed", failed + skipped);
    if failed + skipped > 0 {
        std::process::exit(1);
    }
    Ok(())
}
