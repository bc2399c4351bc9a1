//! Video through the real stack: three Chromium participants (fake camera
//! and microphone) join a room; the Room Durable Object places it on a real
//! media node and relays their offers; each receives the others' video and
//! audio, decoded (`getStats()`); a host mute stops that track at the node.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::api::Agent;
use e2e::browser::Browser;
use e2e::media_node::{self, NodeOptions};
use fantoccini::{Client, Locator};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

/// Frames decoded per remote video tile and samples per remote microphone,
/// keyed `participant/source`.
const STATS: &str = r#"
const done = arguments[arguments.length - 1];
const pc = window.__openTelecon && window.__openTelecon.pc;
if (!pc) { done(null); return; }
pc.getStats().then(stats => {
  const out = {};
  stats.forEach(r => {
    if (r.type !== 'inbound-rtp' || !r.trackIdentifier) return;
    // The node names each track `{participant}-{source}`.
    const cut = r.trackIdentifier.lastIndexOf('-');
    const key = r.trackIdentifier.slice(0, cut) + '/' + r.trackIdentifier.slice(cut + 1);
    out[key] = r.kind === 'video' ? (r.framesDecoded || 0) : (r.totalSamplesReceived || 0);
  });
  done(out);
}, () => done(null));
"#;

async fn counters(c: &Client) -> BTreeMap<String, u64> {
    let v = c.execute_async(STATS, vec![]).await.unwrap_or_default();
    serde_json::from_value(v).unwrap_or_default()
}

/// Waits until every one of `keys` rises between two samples a second apart.
async fn all_rising(c: &Client, who: &str, keys: &[String]) {
    let last = std::sync::Mutex::new(BTreeMap::new());
    let found = e2e::eventually(&format!("{who} to decode {keys:?}"), WAIT, || async {
        let a = counters(c).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let b = counters(c).await;
        *last.lock().unwrap() = b.clone();
        keys.iter()
            .all(|k| matches!((a.get(k), b.get(k)), (Some(x), Some(y)) if y > x && *x > 0))
            .then_some(())
    })
    .await;
    if let Err(e) = found {
        let mut status = String::new();
        for css in ["#status", "#call-status"] {
            if let Ok(el) = c.find(Locator::Css(css)).await {
                status += &format!("{css}: {} ", el.text().await.unwrap_or_default());
            }
        }
        let diag = c
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                window.__openTelecon.pc.getStats().then(s => { const out = [];
                  s.forEach(r => { if (r.type === 'transport') out.push(['transport', r.dtlsState, r.iceState, r.bytesReceived, r.bytesSent, r.selectedCandidatePairChanges]);
                    if (r.type === 'candidate-pair') { const l = s.get(r.localCandidateId), m = s.get(r.remoteCandidateId); out.push(['pair', r.state, r.nominated, r.bytesReceived, r.bytesSent, l && (l.address + ':' + l.port), m && (m.address + ':' + m.port), r.lastPacketReceivedTimestamp, r.responsesReceived, r.requestsSent]); }
                    if (r.type === 'inbound-rtp') out.push(['in', r.kind, r.mid, r.trackIdentifier, r.packetsReceived, r.framesDecoded, r.keyFramesDecoded, r.pliCount, r.nackCount]);
                    if (r.type === 'outbound-rtp') out.push(['out', r.kind, r.mid, r.rid, r.packetsSent, r.framesEncoded, r.qualityLimitationReason]); });
                  document.querySelectorAll('video').forEach(v => out.push(['video', v.srcObject ? v.srcObject.getTracks().map(t => t.id).join(',') : null]));
                  done(JSON.stringify(out)); });"#,
                vec![],
            )
            .await
            .unwrap_or_default();
        panic!(
            "{e}; last counters {:?}; call status {status:?}; stats {diag}",
            last.lock().unwrap()
        );
    }
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn text_is(c: &Client, css: &str, wanted: &str) {
    let last = std::sync::Mutex::new(String::new());
    let found = e2e::eventually(&format!("{css} to read {wanted}"), WAIT, || async {
        let t = c.find(Locator::Css(css)).await.ok()?.text().await.ok()?;
        *last.lock().unwrap() = t.clone();
        (t == wanted).then_some(())
    })
    .await;
    if let Err(e) = found {
        let errors = c.find_all(Locator::Css(".error")).await.unwrap_or_default();
        let mut texts = Vec::new();
        for el in errors {
            texts.push(el.text().await.unwrap_or_default());
        }
        let sdp = c
            .execute("const p = window.__openTelecon && window.__openTelecon.pc; return [p && p.signalingState, p && p.connectionState]", vec![])
            .await
            .unwrap_or_default();
        panic!(
            "{e}; it reads {:?}; errors on the page: {texts:?}; pc {sdp}",
            last.lock().unwrap()
        );
    }
}

/// Opens a browser signed in as `agent`, in `room`, joined to the call.
async fn join(setup: &common::Setup, email: &str, url: &str, room: &str, log: &str) -> Browser {
    let browser = Browser::start(&setup.paths, &setup.dir.path().join(log))
        .await
        .unwrap();
    let c = &browser.client;
    c.goto(&format!("{url}/login")).await.unwrap();
    let field = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#login-email"))
        .await
        .unwrap();
    field.send_keys(email).await.unwrap();
    let field = c.find(Locator::Css("#login-password")).await.unwrap();
    field
        .send_keys(&format!("{}\u{E007}", e2e::api::PASSWORD))
        .await
        .unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#signed-in-as"))
        .await
        .unwrap();
    c.goto(&format!("{url}/r/{room}")).await.unwrap();
    text_is(c, "#status", "connected").await;
    click(c, "#join-call").await;
    text_is(c, "#call-status", "connected").await;
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_see_and_hear_each_other_and_a_host_mute_stops_a_camera() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let _node = media_node::start(
        &setup.paths,
        &NodeOptions {
            id: "node-1".into(),
            region: "local".into(),
            worker_url: worker.url().into(),
            node_secret: setup.secret.clone(),
            token_public_key: setup.token_public_key(),
            udp_bind: "127.0.0.1:0".into(),
            log: Some(setup.log("node-1.log")),
        },
    )
    .unwrap();

    let mut ada = Agent::new(worker.url());
    let mut bob = Agent::new(worker.url());
    let mut cy = Agent::new(worker.url());
    let ada_id = ada.signup("ada@example.org", "Ada").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob_id = bob.signup("bob@example.org", "Bob").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cy_id = cy.signup("cy@example.org", "Cy").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let room = ada.post("/api/rooms", json!({ "name": "Video" })).await;
    let room = room.body["id"].as_str().unwrap().to_owned();
    for id in [&bob_id, &cy_id] {
        let r = ada
            .post(
                &format!("/api/rooms/{room}/members"),
                json!({ "user_id": id, "role": "participant" }),
            )
            .await;
        assert!(r.status.is_success(), "{r:?}");
    }
    let (a, b, c) = (
        format!("u-{ada_id}"),
        format!("u-{bob_id}"),
        format!("u-{cy_id}"),
    );

    let url = worker.url().to_owned();
    let ba = join(&setup, "ada@example.org", &url, &room, "chrome-ada").await;
    let bb = join(&setup, "bob@example.org", &url, &room, "chrome-bob").await;
    let bc = join(&setup, "cy@example.org", &url, &room, "chrome-cy").await;

    let keys = |others: [&String; 2]| -> Vec<String> {
        others
            .iter()
            .flat_map(|p| [format!("{p}/camera"), format!("{p}/microphone")])
            .collect()
    };
    all_rising(&ba.client, "Ada", &keys([&b, &c])).await;
    all_rising(&bb.client, "Bob", &keys([&a, &c])).await;
    all_rising(&bc.client, "Cy", &keys([&a, &b])).await;
    // Each remote camera tile shows a connection-quality indicator.
    e2e::eventually("quality indicators on Ada's tiles", WAIT, || async {
        let found = ba
            .client
            .find_all(Locator::Css(".tile[data-source='camera'] .quality"))
            .await
            .ok()?;
        (found.len() == 2).then_some(())
    })
    .await
    .unwrap();
    let shot = ba.client.screenshot().await.unwrap();
    let dir = setup.paths.root.join("tests/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("call-three.png"), shot).unwrap();

    // Ada (host) turns off Bob's camera: the node stops forwarding it, so
    // Cy's decoded frames for Bob stop rising while Ada's keep coming.
    click(
        &ba.client,
        &format!("li.participant[data-id='{b}'] summary"),
    )
    .await;
    click(
        &ba.client,
        &format!("li.participant[data-id='{b}'] .mute-camera"),
    )
    .await;
    let bob_cam = format!("{b}/camera");
    e2e::eventually("Bob's camera to stop reaching Cy", WAIT, || async {
        let x = counters(&bc.client).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let y = counters(&bc.client).await;
        (x.get(&bob_cam) == y.get(&bob_cam)).then_some(())
    })
    .await
    .unwrap();
    all_rising(
        &bc.client,
        "Cy after the mute",
        &[format!("{a}/camera"), format!("{b}/microphone")],
    )
    .await;

    ba.close().await;
    bb.close().await;
    bc.close().await;
}
