//! A real media node registers with the real worker, heartbeats, and leaves
//! the registry when stopped (at once) or killed (after missed heartbeats).

mod common;

use std::time::Duration;

use e2e::media_node::{self, NodeOptions};
use e2e::worker::{Worker, WorkerOptions};
use protocol::node::{NodeInfo, NodeList};

/// Heartbeat interval in these tests; health expires after three missed.
const HEARTBEAT_MS: u64 = 400;

async fn worker(setup: &common::Setup) -> Worker {
    let opts = WorkerOptions {
        vars: vec![("MEDIA_NODE_HEARTBEAT_MS".into(), HEARTBEAT_MS.to_string())],
        ..setup.worker_options("wrangler.log")
    };
    Worker::start(&setup.paths, &opts).await.unwrap()
}

fn node_options(setup: &common::Setup, worker: &Worker, id: &str) -> NodeOptions {
    NodeOptions {
        id: id.into(),
        region: "local".into(),
        worker_url: worker.url().into(),
        node_secret: setup.secret.clone(),
        token_public_key: setup.token_public_key(),
        udp_bind: "127.0.0.1:0".into(),
        public_addr: None,
        log: Some(setup.log(&format!("{id}.log"))),
    }
}

async fn listed(http: &reqwest::Client, worker: &Worker, secret: &str) -> Vec<NodeInfo> {
    let resp = http
        .get(format!("{}/api/media-nodes", worker.url()))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<NodeList>().await.unwrap().nodes
}

async fn find(http: &reqwest::Client, worker: &Worker, secret: &str, id: &str) -> Option<NodeInfo> {
    listed(http, worker, secret)
        .await
        .into_iter()
        .find(|n| n.id.as_str() == id)
}

async fn registered(http: &reqwest::Client, worker: &Worker, secret: &str, id: &str) -> NodeInfo {
    e2e::eventually(
        &format!("{id} to register"),
        Duration::from_secs(20),
        || find(http, worker, secret, id),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_registers_heartbeats_and_leaves_at_once_when_stopped() {
    let setup = common::Setup::new();
    let worker = worker(&setup).await;
    let http = reqwest::Client::new();
    assert!(listed(&http, &worker, &setup.secret).await.is_empty());

    let mut node =
        media_node::start(&setup.paths, &node_options(&setup, &worker, "node-a")).unwrap();
    let first = registered(&http, &worker, &setup.secret, "node-a").await;
    assert_eq!(first.region.as_str(), "local");
    let media_addr: std::net::SocketAddr = first.media_addr.parse().unwrap();
    assert!(
        media_addr.ip().is_loopback() && media_addr.port() != 0,
        "{media_addr}"
    );

    // The advertised control API is the node's own, and it answers.
    let health = e2e::health(&http, &first.control_url).await.unwrap();
    assert_eq!(health.service, "media-node");
    assert_eq!(health.version, first.version);

    // Heartbeats move last_seen forward.
    e2e::eventually("a heartbeat", Duration::from_secs(10), || {
        let (http, worker, secret) = (&http, &worker, &setup.secret);
        let before = first.last_seen_ms;
        async move {
            find(http, worker, secret, "node-a")
                .await
                .filter(|n| n.last_seen_ms > before)
        }
    })
    .await
    .unwrap();

    // SIGTERM: the node deregisters before it exits, so it is gone at once.
    let status = node.stop().expect("node exited");
    assert!(status.success(), "media node exited with {status}");
    assert_eq!(find(&http, &worker, &setup.secret, "node-a").await, None);
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_drops_out_after_missed_heartbeats() {
    let setup = common::Setup::new();
    let worker = worker(&setup).await;
    let http = reqwest::Client::new();
    let mut node =
        media_node::start(&setup.paths, &node_options(&setup, &worker, "node-k")).unwrap();
    registered(&http, &worker, &setup.secret, "node-k").await;

    node.kill(); // no goodbye
    e2e::eventually("node-k to drop out", Duration::from_secs(20), || {
        let (http, worker, secret) = (&http, &worker, &setup.secret);
        async move {
            find(http, worker, secret, "node-k")
                .await
                .is_none()
                .then_some(())
        }
    })
    .await
    .unwrap();
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_refuses_strangers_and_bad_input() {
    let setup = common::Setup::new();
    let worker = worker(&setup).await;
    let http = reqwest::Client::new();
    let base = format!("{}/api/media-nodes", worker.url());
    let good = serde_json::json!({
        "id": "n1", "region": "local", "media_addr": "127.0.0.1:4000",
        "control_url": "http://127.0.0.1:4001", "version": "x",
        "load": {"rooms": 0, "participants": 0}
    });
    let code = |r: reqwest::Response| r.status().as_u16();

    assert_eq!(code(http.get(&base).send().await.unwrap()), 401);
    assert_eq!(
        code(http.get(&base).bearer_auth("wrong").send().await.unwrap()),
        401
    );
    let register = format!("{base}/register");
    assert_eq!(
        code(http.post(&register).json(&good).send().await.unwrap()),
        401
    );
    assert_eq!(
        code(
            http.post(&register)
                .bearer_auth("wrong")
                .json(&good)
                .send()
                .await
                .unwrap()
        ),
        401
    );

    let post = |body: String| {
        http.post(&register)
            .bearer_auth(&setup.secret)
            .body(body)
            .send()
    };
    assert_eq!(code(post("{not json".into()).await.unwrap()), 400);
    let mut bad = good.clone();
    bad["id"] = "Not An Id".into();
    assert_eq!(code(post(bad.to_string()).await.unwrap()), 400);
    let mut bad = good.clone();
    bad["control_url"] = "javascript:alert(1)".into();
    assert_eq!(code(post(bad.to_string()).await.unwrap()), 400);
    assert_eq!(code(post("x".repeat(64 * 1024)).await.unwrap()), 413);

    // None of that registered anything; a heartbeat from an unknown node is 404.
    assert!(listed(&http, &worker, &setup.secret).await.is_empty());
    let beat = serde_json::json!({"load": {"rooms": 0, "participants": 0}});
    let resp = http
        .post(format!("{base}/n1/heartbeat"))
        .bearer_auth(&setup.secret)
        .json(&beat)
        .send()
        .await
        .unwrap();
    assert_eq!(code(resp), 404);

    // The good registration is accepted and listed.
    assert_eq!(code(post(good.to_string()).await.unwrap()), 200);
    assert_eq!(listed(&http, &worker, &setup.secret).await.len(), 1);
    worker.stop();
}
