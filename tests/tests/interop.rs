//! Interop with an independent WebRTC stack: an aiortc (Python) participant
//! joins a room through the same signaling as the browser (room WebSocket,
//! then the node's data channel) and exchanges video with a Chromium
//! participant through the real media node.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use e2e::call::all_rising;
use protocol::media::{Source, TrackSource};
use protocol::room::{ClientMessage, ServerMessage};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The virtualenv python `cargo xtask test` prepares.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("OPENTELECON_AIORTC_PYTHON") {
        return p.into();
    }
    let cache = std::env::var_os("OPENTELECON_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/opentelecon")
        });
    let p = cache.join("aiortc-venv/bin/python");
    assert!(
        p.exists(),
        "aiortc is not installed: run `cargo xtask test` once ({})",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aiortc_participant_and_chromium_exchange_video() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let _node = setup.node(&worker, "node-i");
    let (room, people) = common::room_with(&worker, &["Ada", "Py"]).await;
    let (ada_id, bot_id) = (people[0].1.clone(), people[1].1.clone());
    let bot = &people[1].0;
    // The Python peer offers; its offer goes through the room like a browser's.
    let script = setup.paths.root.join("tests/interop/aiortc_peer.py");
    let mut peer = tokio::process::Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the aiortc peer starts");
    let mut stdin = peer.stdin.take().unwrap();
    let mut lines = BufReader::new(peer.stdout.take().unwrap()).lines();
    let offer: Value =
        serde_json::from_str(&lines.next_line().await.unwrap().expect("an offer")).unwrap();
    assert_eq!(offer["type"], "offer");
    let mut ws = bot.room(&room, None).await.expect("admitted");
    ws.until(|m| matches!(m, ServerMessage::Welcome { .. }).then_some(()))
        .await;
    ws.send(&ClientMessage::MediaOffer {
        sdp: offer["sdp"].as_str().unwrap().to_owned(),
        sources: vec![TrackSource {
            mid: offer["mid"].as_str().unwrap().to_owned(),
            source: Source::Camera,
        }],
    })
    .await;
    let answer = ws
        .until(|m| match m {
            ServerMessage::MediaAnswer { sdp } => Some(Ok(sdp.clone())),
            ServerMessage::Error { code, message } => Some(Err(format!("{code:?}: {message}"))),
            _ => None,
        })
        .await
        .expect("the node answers aiortc's offer");
    stdin
        .write_all(format!("{}\n", json!({ "type": "answer", "sdp": answer })).as_bytes())
        .await
        .unwrap();

    // Chromium joins the same room.
    let browser = setup.in_call(&worker, &room, "ada", None).await;

    // Chromium decodes aiortc's VP8...
    all_rising(&browser.client, "Chromium", &[format!("u-{bot_id}/camera")]).await;

    // ...and aiortc decodes Chromium's.
    let want = format!("u-{ada_id}/camera");
    let mut seen = Vec::new();
    let got = tokio::time::timeout(Duration::from_secs(30), async {
        let mut first: Option<u64> = None;
        while let Ok(Some(line)) = lines.next_line().await {
            let msg: Value = serde_json::from_str(&line).unwrap_or_default();
            seen.push(line.clone());
            if msg["type"] != "frames" {
                continue;
            }
            let n = msg["counts"][&want].as_u64().unwrap_or(0);
            match first {
                Some(f) if n > f + 10 => return n,
                None if n > 0 => first = Some(n),
                _ => {}
            }
        }
        0
    })
    .await;
    let tail: Vec<&String> = seen.iter().rev().take(3).collect();
    if !matches!(got, Ok(n) if n > 0) {
        let stats = node_stats(&worker, &setup.secret).await;
        panic!("aiortc did not decode Chromium's video: {tail:?}; node: {stats}");
    }
    browser.close().await;
    let _ = peer.kill().await;
}

/// The node's `/stats`, for failure messages.
async fn node_stats(worker: &e2e::worker::Worker, secret: &str) -> String {
    let http = reqwest::Client::new();
    let Ok(list) = http
        .get(format!("{}/api/media-nodes", worker.url()))
        .bearer_auth(secret)
        .send()
        .await
    else {
        return "unreachable".into();
    };
    let list: Value = list.json().await.unwrap_or_default();
    let Some(base) = list["nodes"][0]["control_url"].as_str() else {
        return "no node".into();
    };
    match http
        .get(format!("{base}/stats"))
        .bearer_auth(secret)
        .send()
        .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => e.to_string(),
    }
}
