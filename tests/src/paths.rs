//! Where the repository, its built artefacts and its tools are.

use std::path::{Path, PathBuf};

/// Paths derived from the repository root.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The repository root.
    pub root: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        // This crate lives in `<root>/tests`.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf);
        Self {
            root: root.unwrap_or_else(|| PathBuf::from(".")),
        }
    }
}

impl Paths {
    /// `wrangler` from the project's pinned npm packages.
    pub fn wrangler(&self) -> PathBuf {
        self.root.join("node_modules/.bin/wrangler")
    }

    /// The Workers configuration.
    pub fn wrangler_toml(&self) -> PathBuf {
        self.root.join("wrangler.toml")
    }

    /// The worker bundle built by worker-build.
    pub fn worker_bundle(&self) -> PathBuf {
        self.root.join("worker/build/index.js")
    }

    /// The static assets: the WASM client.
    pub fn assets(&self) -> PathBuf {
        self.root.join("dist")
    }

    /// The media node as shipped (static, musl, the `media` profile).
    pub fn media_node(&self) -> PathBuf {
        self.root
            .join("target")
            .join(musl_target())
            .join("media/media-node")
    }

    /// Debian's Chromium.
    pub fn chromium(&self) -> PathBuf {
        PathBuf::from("/usr/bin/chromium")
    }

    /// Debian's chromedriver.
    pub fn chromedriver(&self) -> PathBuf {
        PathBuf::from("/usr/bin/chromedriver")
    }

    /// Fails, naming the command to run, unless everything the system needs
    /// has been built.
    pub fn check_built(&self) -> anyhow::Result<()> {
        let needed = [
            self.wrangler(),
            self.worker_bundle(),
            self.assets().join("pkg/client_bg.wasm"),
            self.media_node(),
        ];
        for path in needed {
            if !path.exists() {
                anyhow::bail!(
                    "{} is missing: run `cargo xtask test` (or `cargo xtask dev`), which installs and builds everything first",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// The musl target of this machine's architecture, which the media node is
/// built for: one static binary, no shared libraries to match on a host.
pub fn musl_target() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}
