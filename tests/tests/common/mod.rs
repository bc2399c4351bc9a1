//! Shared setup of the end-to-end tests: a fresh worker (and state) per test.
#![allow(dead_code)] // each test binary uses a subset of these helpers

use std::path::PathBuf;

use e2e::paths::Paths;
use e2e::worker::{self, Worker, WorkerOptions};

/// A worker with its own temp state dir and logs, both removed on drop.
pub struct Setup {
    pub paths: Paths,
    pub dir: tempfile::TempDir,
    pub secret: String,
    /// The worker's media-token seed (hex).
    pub media_seed: String,
}

impl Setup {
    pub fn new() -> Self {
        let paths = Paths::default();
        paths.check_built().unwrap();
        let dir = tempfile::Builder::new()
            .prefix("opentelecon-e2e-")
            .tempdir()
            .unwrap();
        let setup = Self {
            paths,
            dir,
            secret: e2e::random_secret().unwrap(),
            media_seed: e2e::random_secret().unwrap(),
        };
        std::fs::create_dir_all(setup.state_dir()).unwrap();
        worker::migrate(&setup.paths, &setup.state_dir()).unwrap();
        setup
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn worker_options(&self, log_name: &str) -> WorkerOptions {
        WorkerOptions {
            port: e2e::free_port(),
            state_dir: self.state_dir(),
            node_secret: self.secret.clone(),
            media_token_seed: self.media_seed.clone(),
            vars: vec![],
            log: Some(self.log(log_name)),
        }
    }

    /// The public key media nodes verify this worker's tokens with.
    pub fn token_public_key(&self) -> String {
        worker_app::media_token::public_key_hex(&self.media_seed).unwrap()
    }

    pub async fn worker(&self) -> Worker {
        Worker::start(&self.paths, &self.worker_options("wrangler.log"))
            .await
            .unwrap()
    }
}
