//! Builds the three deliverables: the worker bundle (worker-build), the
//! client (cargo + wasm-bindgen into `dist/`), the media node (the `media`
//! profile, static for musl).

use std::path::Path;
use std::process::Command;

use crate::run;
use crate::tools::Tools;

/// The wasm target every browser and Workers crate builds for.
pub const WASM: &str = "wasm32-unknown-unknown";

/// Remembers which compiled wasm (and tool) produced an output, so the slow
/// steps after compiling (wasm-bindgen, the JavaScript wasm-opt, esbuild) run
/// only when the wasm changed.
struct Stamp {
    file: std::path::PathBuf,
    value: String,
}

impl Stamp {
    fn of(tools: &Tools, name: &str, input: &Path, tool: &Path) -> anyhow::Result<Self> {
        let modified = std::fs::metadata(input)?.modified()?;
        Ok(Stamp {
            file: tools
                .root
                .join("target/xtask")
                .join(format!("{name}.stamp")),
            value: format!("{modified:?} {tool:?}"),
        })
    }

    /// Whether `output` exists and was made from this input.
    fn fresh(&self, output: &Path) -> bool {
        output.exists() && std::fs::read_to_string(&self.file).is_ok_and(|s| s == self.value)
    }

    fn record(&self) -> anyhow::Result<()> {
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(std::fs::write(&self.file, &self.value)?)
    }
}

/// The short git commit, baked into `/healthz` versions.
pub fn git_sha(root: &Path) -> String {
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// A cargo command with the environment every build shares.
pub fn cargo(tools: &Tools) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&tools.root)
        .env("OPENTELECON_GIT_SHA", git_sha(&tools.root))
        // worker-build sets this for its wasm build; wasm-bindgen's macro
        // reads it untracked, so every wasm build sets it too and all share
        // one consistent set of artefacts.
        .env("WASM_BINDGEN_USE_JS_SYS", "1");
    cmd
}

/// `worker/build/`: the Worker bundle wrangler serves and deploys.
pub fn worker(tools: &Tools) -> anyhow::Result<()> {
    // Compile first, exactly as worker-build would: a no-op when nothing
    // changed, and then the slow rest of worker-build (wasm-bindgen, the
    // JavaScript wasm-opt, esbuild) can be skipped too.
    run(cargo(tools).args([
        "build",
        "--lib",
        "--release",
        "--target",
        WASM,
        "-p",
        "worker-app",
    ]))?;
    let wasm = tools
        .root
        .join("target")
        .join(WASM)
        .join("release/worker_app.wasm");
    let stamp = Stamp::of(tools, "worker-build", &wasm, &tools.worker_build)?;
    let bundle = tools.root.join("worker/build/index.js");
    if stamp.fresh(&bundle) {
        eprintln!("worker bundle is up to date");
        return Ok(());
    }
    run(Command::new(&tools.worker_build)
        .arg("--release")
        .current_dir(tools.root.join("worker"))
        .env("OPENTELECON_GIT_SHA", git_sha(&tools.root))
        .env("WASM_BINDGEN_BIN", &tools.wasm_bindgen)
        .env("WASM_OPT_BIN", tools.wasm_opt())
        .env("ESBUILD_BIN", tools.esbuild()))?;
    stamp.record()
}

/// Features of the wasm that rustc emits for wasm32 by default, which wasm-opt
/// must be told it may keep.
const WASM_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// `dist/`: the client's page, styles and WASM (wasm-bindgen, then wasm-opt
/// -Oz, which halves it), served as static assets. The slow steps are skipped
/// when the compiled wasm has not changed.
pub fn client(tools: &Tools) -> anyhow::Result<()> {
    run(cargo(tools).args(["build", "--release", "--target", WASM, "-p", "client"]))?;
    let dist = tools.root.join("dist");
    let wasm = tools
        .root
        .join("target")
        .join(WASM)
        .join("release/client.wasm");
    let stamp = Stamp::of(tools, "client", &wasm, &tools.wasm_bindgen)?;
    let output = dist.join("pkg/client_bg.wasm");
    if !stamp.fresh(&output) {
        run(Command::new(&tools.wasm_bindgen)
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(dist.join("pkg"))
            .arg(&wasm))?;
        run(Command::new(tools.wasm_opt())
            .arg("-Oz")
            .args(WASM_FEATURES)
            .arg(&output)
            .arg("-o")
            .arg(&output))?;
        stamp.record()?;
    } else {
        eprintln!("client wasm is up to date");
    }
    for entry in std::fs::read_dir(tools.root.join("client/static"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), dist.join(entry.file_name()))?;
    }
    Ok(())
}

/// The media node as one static binary (musl), where
/// [`e2e::paths::Paths::media_node`] finds it.
pub fn media_node(tools: &Tools) -> anyhow::Result<()> {
    run(cargo(tools).args([
        "build",
        "--profile",
        "media",
        "-p",
        "media-node",
        "--target",
        &e2e::paths::musl_target(),
    ]))
}

/// Everything `dev` and the end-to-end tests run.
pub fn all(tools: &Tools) -> anyhow::Result<()> {
    client(tools)?;
    worker(tools)?;
    media_node(tools)
}
