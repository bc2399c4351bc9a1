//! `wrangler dev`: workerd with local D1 and SQLite-backed Durable Objects,
//! serving the prebuilt bundle (wrangler.toml has no `[build]`, so nothing is
//! rebuilt here).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::paths::Paths;
use crate::process::Group;

/// How to start the worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Port on 127.0.0.1 (another is tried should something take it
    /// first; [`Worker::url`] tells the one in use).
    pub port: u16,
    /// Where D1 and Durable Object data persist.
    pub state_dir: PathBuf,
    /// The secret media nodes present.
    pub node_secret: String,
    /// The Ed25519 seed media tokens are signed with (hex).
    pub media_token_seed: String,
    /// Settings (`[vars]`) to override, as name and value.
    pub vars: Vec<(String, String)>,
    /// Where wrangler's output goes; `None` for this process's terminal.
    pub log: Option<PathBuf>,
}

/// A running `wrangler dev`.
#[derive(Debug)]
pub struct Worker {
    group: Group,
    url: String,
}

fn wrangler(paths: &Paths) -> Command {
    let mut cmd = Command::new(paths.wrangler());
    cmd.current_dir(&paths.root)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_LOG", "warn")
        // Never fetch `Request.cf` from the internet; use the placeholder.
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        // No prompts, no colour codes in logs.
        .env("CI", "true")
        .env("NO_COLOR", "1");
    cmd
}

/// Applies the D1 migrations in `schema/` to the local database in `state_dir`.
pub fn migrate(paths: &Paths, state_dir: &Path) -> anyhow::Result<()> {
    let out = wrangler(paths)
        .args(["d1", "migrations", "apply", "DB", "--local", "--config"])
        .arg(paths.wrangler_toml())
        .arg("--persist-to")
        .arg(state_dir)
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "applying D1 migrations failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Worker {
    /// Starts `wrangler dev` and waits until `/healthz` answers.
    pub async fn start(paths: &Paths, opts: &WorkerOptions) -> anyhow::Result<Self> {
        Self::start_config(paths, &paths.wrangler_toml(), opts).await
    }

    /// [`Worker::start`] with another Workers configuration (the benchmarks'
    /// floor), started the same way: same wrangler, flags and settings. Its
    /// worker must answer `/healthz`.
    pub async fn start_config(
        paths: &Paths,
        config: &Path,
        opts: &WorkerOptions,
    ) -> anyhow::Result<Self> {
        // A port found free can be taken by another process (a test running
        // beside this one) before wrangler binds it: then new ports, a few
        // times.
        let mut port = opts.port;
        let mut attempt = 1;
        loop {
            match Self::start_on(paths, config, opts, port).await {
                Err(e) if attempt < 3 && format!("{e:#}").contains("Address already in use") => {
                    attempt += 1;
                    port = crate::free_port();
                }
                started => return started,
            }
        }
    }

    async fn start_on(
        paths: &Paths,
        config: &Path,
        opts: &WorkerOptions,
        port: u16,
    ) -> anyhow::Result<Self> {
        let mut cmd = wrangler(paths);
        cmd.arg("dev")
            .arg("--config")
            .arg(config)
            .args(["--local", "--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &crate::free_port().to_string()])
            .arg("--persist-to")
            .arg(&opts.state_dir)
            .args([
                "--show-interactive-dev-session=false",
                "--log-level",
                "warn",
            ])
            .args(["--var", &format!("MEDIA_NODE_SECRET:{}", opts.node_secret)])
            .args([
                "--var",
                &format!("MEDIA_TOKEN_SEED:{}", opts.media_token_seed),
            ]);
        for (name, value) in &opts.vars {
            cmd.args(["--var", &format!("{name}:{value}")]);
        }
        let mut group = Group::spawn("wrangler dev", &mut cmd, opts.log.as_deref())?;
        let url = format!("http://127.0.0.1:{port}");
        let health = format!("{url}/healthz");
        let http = reqwest::Client::new();
        let started = crate::eventually(
            "wrangler dev to answer /healthz",
            Duration::from_secs(90),
            || {
                let exited = group.try_status();
                let req = http.get(&health).timeout(Duration::from_secs(2)).send();
                async move {
                    if let Some(status) = exited {
                        return Some(Err(anyhow::anyhow!("wrangler dev exited early: {status}")));
                    }
                    match req.await {
                        Ok(r) if r.status().is_success() => Some(Ok(())),
                        _ => None,
                    }
                }
            },
        )
        .await;
        match started {
            Ok(Ok(())) => Ok(Self { group, url }),
            Ok(Err(e)) | Err(e) => {
                let tail = group.log_tail(40);
                Err(e.context(format!("wrangler output:\n{tail}")))
            }
        }
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// WebSocket URL of a room.
    pub fn room_ws(&self, room: &str) -> String {
        format!(
            "{}/rooms/{room}/ws",
            self.url.replacen("http://", "ws://", 1)
        )
    }

    /// Stops wrangler and workerd.
    pub fn stop(mut self) {
        self.group.stop();
    }

    /// The process group, to watch or signal it.
    pub fn group(&mut self) -> &mut Group {
        &mut self.group
    }
}
