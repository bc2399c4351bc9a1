//! Every tool the build and tests need: found, or installed when missing.
//!
//! Rust tools are `cargo install`ed into versioned folders of the cache, so a
//! version bump installs beside the old one and a warm machine installs
//! nothing. npm packages come from `package-lock.json` with `npm ci`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::run;

/// Tools located for this run.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The repository root.
    pub root: PathBuf,
    /// `wasm-bindgen` at exactly the version in Cargo.lock.
    pub wasm_bindgen: PathBuf,
    /// `worker-build` at the version of the `worker` crate in Cargo.lock.
    pub worker_build: PathBuf,
}

/// The tools cache, outside the clone.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OPENTELECON_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/opentelecon")
}

/// The version of package `name` in Cargo.lock.
pub fn locked_version(root: &Path, name: &str) -> anyhow::Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    let wanted = format!("name = \"{name}\"");
    while let Some(line) = lines.next() {
        if line == wanted
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(v.trim_end_matches('"').to_owned());
        }
    }
    anyhow::bail!("{name} is not in Cargo.lock")
}

fn cargo_install(krate: &str, version: &str, bin: &str) -> anyhow::Result<PathBuf> {
    let root = cache_dir().join("tools").join(format!("{krate}-{version}"));
    let path = root.join("bin").join(bin);
    if path.exists() {
        return Ok(path);
    }
    eprintln!(
        "installing {krate} {version} into {} (once per machine)",
        root.display()
    );
    // Without --locked: the crate's own lockfile can name versions this
    // registry lacks.
    run(Command::new("cargo")
        .args([
            "install",
            krate,
            "--version",
            &format!("={version}"),
            "--root",
        ])
        .arg(&root))?;
    Ok(path)
}

/// Adds a Rust target through rustup when it is missing.
fn ensure_target(target: &str) -> anyhow::Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match out {
        Ok(o)
            if String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == target) =>
        {
            Ok(())
        }
        Ok(_) => run(Command::new("rustup").args(["target", "add", target])),
        Err(_) => anyhow::bail!(
            "rustup was not found; install Rust with rustup, then run: rustup target add {target}"
        ),
    }
}

fn ensure_node(root: &Path) -> anyhow::Result<()> {
    let version = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success());
    let Some(version) = version else {
        anyhow::bail!("Node.js 20 or newer is needed: apt-get install -y nodejs npm");
    };
    let v = String::from_utf8_lossy(&version.stdout);
    let major: u32 = v
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 20 {
        anyhow::bail!("Node.js {v} is too old: wrangler needs 20 or newer");
    }
    // npm ci when node_modules is missing or older than the lockfile.
    let installed = root.join("node_modules/.package-lock.json");
    let lock = root.join("package-lock.json");
    let stale = match (
        installed.metadata().and_then(|m| m.modified()),
        lock.metadata().and_then(|m| m.modified()),
    ) {
        (Ok(i), Ok(l)) => i < l,
        _ => true,
    };
    if stale || !root.join("node_modules/.bin/wrangler").exists() {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(root)
            .env("npm_config_update_notifier", "false"))?;
    }
    Ok(())
}

/// Installs Chromium and chromedriver from Debian's packages when missing and
/// running as root; otherwise names the command to run.
pub fn ensure_browser() -> anyhow::Result<()> {
    ensure_packages(
        "the browser tests need Debian's Chromium",
        &[
            ("chromium", "/usr/bin/chromium"),
            ("chromium-driver", "/usr/bin/chromedriver"),
        ],
    )
}

/// The media node is one static binary, built for musl: the target, and
/// `musl-gcc` for the C parts of its TLS and DTLS library (aws-lc).
pub fn ensure_musl() -> anyhow::Result<()> {
    ensure_target(&e2e::paths::musl_target())?;
    ensure_packages(
        "the static media-node build needs musl's C compiler",
        &[("musl-tools", "/usr/bin/musl-gcc")],
    )
}

/// The media benchmark's reference SFU: Debian's Janus (videoroom plugin,
/// HTTP transport), and gcc for the loopback shim it runs with.
pub fn ensure_janus() -> anyhow::Result<()> {
    ensure_packages(
        "the media benchmark compares against Debian's Janus",
        &[("janus", "/usr/bin/janus"), ("gcc", "/usr/bin/gcc")],
    )
}

/// Installs Debian packages (`package`, a file it provides) that are missing,
/// when running as root with apt; otherwise stops with the command to run.
fn ensure_packages(why: &str, packages: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|(_, path)| !Path::new(path).exists())
        .map(|(pkg, _)| pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false);
    let has_apt = Path::new("/usr/bin/apt-get").exists();
    if !(is_root && has_apt) {
        anyhow::bail!(
            "{why}; run:\n  sudo apt-get update && sudo apt-get install -y {}",
            missing.join(" ")
        );
    }
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// A Python virtualenv with aiortc (the interop test's independent WebRTC
/// stack), made under the tool cache from `tests/interop/requirements.txt`.
/// Returns its `python`.
pub fn ensure_aiortc(root: &Path) -> anyhow::Result<PathBuf> {
    let requirements = root.join("tests/interop/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)?;
    let venv = cache_dir().join("aiortc-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("requirements.installed");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status();
    if !matches!(made, Ok(s) if s.success()) {
        anyhow::bail!(
            "the interop test needs Python 3 with venv; run:\n  sudo apt-get install -y python3-venv"
        );
    }
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

impl Tools {
    /// Finds or installs everything the build needs.
    pub fn ensure(root: &Path) -> anyhow::Result<Self> {
        ensure_target("wasm32-unknown-unknown")?;
        ensure_musl()?;
        ensure_node(root)?;
        let wasm_bindgen = cargo_install(
            "wasm-bindgen-cli",
            &locked_version(root, "wasm-bindgen")?,
            "wasm-bindgen",
        )?;
        let worker_build = cargo_install(
            "worker-build",
            &locked_version(root, "worker")?,
            "worker-build",
        )?;
        Ok(Self {
            root: root.to_path_buf(),
            wasm_bindgen,
            worker_build,
        })
    }

    /// `wasm-opt` from the binaryen npm package.
    pub fn wasm_opt(&self) -> PathBuf {
        self.root.join("node_modules/.bin/wasm-opt")
    }

    /// `esbuild` from npm.
    pub fn esbuild(&self) -> PathBuf {
        self.root.join("node_modules/.bin/esbuild")
    }

    /// `wrangler` from npm.
    pub fn wrangler(&self) -> PathBuf {
        self.root.join("node_modules/.bin/wrangler")
    }
}
