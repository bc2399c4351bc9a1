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

    /// A media node for `worker`, registering as `id` in region `local`,
    /// its log in this setup's folder.
    pub fn node(&self, worker: &Worker, id: &str) -> e2e::process::Group {
        self.node_at(worker, id, "127.0.0.1:0", None)
    }

    /// A node bound to `udp_bind`, advertising `public_addr` if given.
    pub fn node_at(
        &self,
        worker: &Worker,
        id: &str,
        udp_bind: &str,
        public_addr: Option<String>,
    ) -> e2e::process::Group {
        e2e::media_node::start(
            &self.paths,
            &e2e::media_node::NodeOptions {
                id: id.into(),
                region: "local".into(),
                worker_url: worker.url().into(),
                node_secret: self.secret.clone(),
                token_public_key: self.token_public_key(),
                udp_bind: udp_bind.into(),
                public_addr,
                log: Some(self.log(&format!("{id}.log"))),
            },
        )
        .unwrap()
    }

    /// A browser logged in as `{name}@example.org` (lower case) in the call
    /// of `room`, publishing video in `codec` where given.
    pub async fn in_call(
        &self,
        worker: &Worker,
        room: &str,
        name: &str,
        codec: Option<&str>,
    ) -> e2e::browser::Browser {
        let name = name.to_lowercase();
        e2e::call::join_in(
            &self.paths,
            &self.dir.path().join(format!("chrome-{name}")),
            &format!("{name}@example.org"),
            worker.url(),
            room,
            codec,
        )
        .await
    }

    pub async fn worker(&self) -> Worker {
        Worker::start(&self.paths, &self.worker_options("wrangler.log"))
            .await
            .unwrap()
    }
}

/// A room whose first person (`{name}@example.org`) signs up, creates it and
/// adds the others as participants; every agent keeps its session. Returns
/// the room id and each agent with its user id.
pub async fn room_with(
    worker: &Worker,
    names: &[&str],
) -> (String, Vec<(e2e::api::Agent, String)>) {
    let mut people = Vec::new();
    for name in names {
        let mut agent = e2e::api::Agent::new(worker.url());
        let id = agent
            .signup(&format!("{}@example.org", name.to_lowercase()), name)
            .await
            .body["id"]
            .as_str()
            .expect("a user id")
            .to_owned();
        people.push((agent, id));
    }
    let room = people[0]
        .0
        .post("/api/rooms", serde_json::json!({ "name": "Call" }))
        .await;
    let room = room.body["id"].as_str().expect("a room id").to_owned();
    for i in 1..people.len() {
        let id = people[i].1.clone();
        let added = people[0]
            .0
            .post(
                &format!("/api/rooms/{room}/members"),
                serde_json::json!({ "user_id": id, "role": "participant" }),
            )
            .await;
        assert!(added.status.is_success(), "{added:?}");
    }
    (room, people)
}
