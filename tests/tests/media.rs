//! Video through the real stack: three Chromium participants (fake camera
//! and microphone) join a room; the Room Durable Object places it on a real
//! media node and relays their offers; each receives the others' video and
//! audio, decoded (`getStats()`); a host mute stops that track at the node;
//! a shared screen reaches the others as a track of its own. The three
//! publish in different codecs (VP8, VP9, H.264), each chosen on the
//! preview, and each arrives in its own codec.

mod common;

use std::time::Duration;

use e2e::call::{WAIT, all_rising, click, codecs, counters};
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_see_and_hear_each_other_and_a_host_mute_stops_a_camera() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let _node = setup.node(&worker, "node-1");

    let (room, people) = common::room_with(&worker, &["Ada", "Bob", "Cy"]).await;
    let (ada_id, bob_id, cy_id) = (&people[0].1, &people[1].1, &people[2].1);
    let (a, b, c) = (
        format!("u-{ada_id}"),
        format!("u-{bob_id}"),
        format!("u-{cy_id}"),
    );

    let ba = setup.in_call(&worker, &room, "ada", None).await;
    let bb = setup.in_call(&worker, &room, "bob", Some("vp9")).await;
    let bc = setup.in_call(&worker, &room, "cy", Some("h264")).await;

    let keys = |others: [&String; 2]| -> Vec<String> {
        others
            .iter()
            .flat_map(|p| [format!("{p}/camera"), format!("{p}/microphone")])
            .collect()
    };
    all_rising(&ba.client, "Ada", &keys([&b, &c])).await;
    all_rising(&bb.client, "Bob", &keys([&a, &c])).await;
    all_rising(&bc.client, "Cy", &keys([&a, &b])).await;
    // No transcoding: each camera arrives in the codec its owner chose.
    let seen = codecs(&ba.client).await;
    assert_eq!(
        seen.get(&format!("{b}/camera")).map(String::as_str),
        Some("video/VP9"),
        "{seen:?}"
    );
    assert_eq!(
        seen.get(&format!("{c}/camera")).map(String::as_str),
        Some("video/H264"),
        "{seen:?}"
    );
    let seen = codecs(&bc.client).await;
    assert_eq!(
        seen.get(&format!("{a}/camera")).map(String::as_str),
        Some("video/VP8"),
        "{seen:?}"
    );
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

    // Until Cy shares, Ada sees no (black) screen tile for Cy.
    let screen_tile = format!("#tile-{c}-screen");
    assert!(!shown(&ba.client, &screen_tile).await, "no screen tile yet");

    // Cy shares a screen (Chromium's fake capture): it reaches the others as
    // a track of its own, and its tile appears.
    click(&bc.client, "#call-screen").await;
    all_rising(&ba.client, "Ada, Cy's screen", &[format!("{c}/screen")]).await;
    all_rising(&bb.client, "Bob, Cy's screen", &[format!("{c}/screen")]).await;
    e2e::eventually("Cy's screen tile to appear at Ada", WAIT, || async {
        shown(&ba.client, &screen_tile).await.then_some(())
    })
    .await
    .unwrap();

    ba.close().await;
    bb.close().await;
    bc.close().await;
}

/// Whether the element `css` exists and is displayed.
async fn shown(c: &fantoccini::Client, css: &str) -> bool {
    c.execute(
        "const e = document.querySelector(arguments[0]); return !!e && e.offsetParent !== null;",
        vec![css.into()],
    )
    .await
    .ok()
    .and_then(|v| v.as_bool())
    .unwrap_or(false)
}

/// The ICE username fragment of the page's current local description.
async fn local_ufrag(c: &fantoccini::Client) -> String {
    c.execute(
        "const p = window.__openTelecon && window.__openTelecon.pc; \
         const m = p && p.localDescription && /a=ice-ufrag:(\\S+)/.exec(p.localDescription.sdp); \
         return m ? m[1] : null;",
        vec![],
    )
    .await
    .ok()
    .and_then(|v| v.as_str().map(str::to_owned))
    .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_network_drop_the_call_restarts_ice_and_media_returns_from_new_addresses() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    // Browsers reach the node only through a relay that the test cuts.
    let node_udp: std::net::SocketAddr = format!("127.0.0.1:{}", e2e::relay::free_udp_port())
        .parse()
        .unwrap();
    let relay = e2e::relay::Relay::start(node_udp).await.unwrap();
    let _node = setup.node_at(
        &worker,
        "node-1",
        &node_udp.to_string(),
        Some(relay.addr.to_string()),
    );

    let (room, people) = common::room_with(&worker, &["Ada", "Bob"]).await;
    let (a, b) = (format!("u-{}", people[0].1), format!("u-{}", people[1].1));
    let ba = setup.in_call(&worker, &room, "ada", None).await;
    let bb = setup.in_call(&worker, &room, "bob", None).await;
    let from_bob = [format!("{b}/camera"), format!("{b}/microphone")];
    let from_ada = [format!("{a}/camera"), format!("{a}/microphone")];
    all_rising(&ba.client, "Ada", &from_bob).await;
    all_rising(&bb.client, "Bob", &from_ada).await;
    let before = relay.upstream_addrs();
    // A path per browser candidate (Chromium gathers more than one here).
    assert!(before.len() >= 2, "paths through the relay: {before:?}");
    let ufrag = local_ufrag(&ba.client).await;

    // The network goes away: nothing arrives, and each call notices.
    relay.cut();
    let cam = from_bob[0].clone();
    e2e::eventually("Bob's video to stop reaching Ada", WAIT, || async {
        let x = counters(&ba.client).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let y = counters(&ba.client).await;
        (x.get(&cam) == y.get(&cam)).then_some(())
    })
    .await
    .unwrap();
    e2e::call::text_is(&ba.client, "#call-status", "reconnecting").await;
    // A drop that lasts (over 3 s) makes the page restart ICE through the
    // room while the media path is still down.
    e2e::eventually("Ada's page to restart ICE", WAIT, || async {
        (local_ufrag(&ba.client).await != ufrag).then_some(())
    })
    .await
    .unwrap();

    // It comes back, from new addresses: ICE restarts through the room and
    // media flows both ways again.
    relay.restore();
    all_rising(&ba.client, "Ada after the drop", &from_bob).await;
    all_rising(&bb.client, "Bob after the drop", &from_ada).await;
    let after = relay.upstream_addrs();
    assert!(
        after.iter().all(|x| !before.contains(x)),
        "the node saw new addresses: {before:?} -> {after:?}"
    );
    e2e::call::text_is(&ba.client, "#call-status", "connected").await;

    ba.close().await;
    bb.close().await;
}
