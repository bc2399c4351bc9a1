//! Debian's Chromium, headless, under chromedriver, driven through WebDriver
//! by fantoccini. Never downloads a browser.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::paths::Paths;
use crate::process::Group;

/// Flags that make Chromium work on this kind of machine: no sandbox as
/// root, no network beyond loopback, fake camera and microphone, and WebRTC
/// allowed on loopback.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--window-size=1280,720",
];

/// A browser session, with its chromedriver stopped on drop.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Group,
    /// Chromium's profile, removed on drop.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a fresh Chromium profile. `log_dir` receives
    /// chromedriver's log.
    pub async fn start(paths: &Paths, log_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        let port = crate::free_port();
        let mut cmd = Command::new(paths.chromedriver());
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1");
        let mut driver = Group::spawn(
            "chromedriver",
            &mut cmd,
            Some(&log_dir.join("chromedriver.log")),
        )?;
        let profile = tempfile::tempdir()?;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": paths.chromium(),
                "args": args,
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("a JSON object literal")
        };
        let url = format!("http://127.0.0.1:{port}");
        let client = crate::eventually(
            "chromedriver to start a session",
            Duration::from_secs(30),
            || {
                let exited = driver.try_status();
                let mut builder = ClientBuilder::new(HttpConnector::new());
                builder.capabilities(caps.clone());
                let url = url.clone();
                async move {
                    if let Some(status) = exited {
                        return Some(Err(anyhow::anyhow!("chromedriver exited: {status}")));
                    }
                    builder.connect(&url).await.ok().map(Ok)
                }
            },
        )
        .await??;
        Ok(Self {
            client,
            driver,
            _profile: profile,
        })
    }

    /// Ends the session and stops chromedriver and Chromium.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.driver.stop();
    }
}
