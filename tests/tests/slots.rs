//! Video slots in real Chromium: a subscriber's video sections follow the
//! tiles it shows, not the room. A tile Bob hides frees its slot; the next
//! tile shown takes that same section (no new one), its own tile plays the
//! frames, and the hidden tile never holds them.

mod common;

use std::time::Duration;

use e2e::browser::Browser;
use e2e::call::{bytes_received, click, until};

async fn js(b: &Browser, script: &str) -> serde_json::Value {
    b.client.execute(script, vec![]).await.unwrap_or_default()
}

/// Whether `key`'s bytes keep rising at `b` (over two seconds).
async fn flowing(b: &Browser, key: &str) -> bool {
    let x = bytes_received(&b.client).await.get(key).copied();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let y = bytes_received(&b.client).await.get(key).copied();
    matches!((x, y), (Some(x), Some(y)) if y > x)
}

/// The media id of the section carrying `key` (`participant/source`) now.
async fn section_of(b: &Browser, key: &str) -> Option<String> {
    let names = js(b, "return (window.__openTelecon || {}).names || {};").await;
    names.as_object().and_then(|m| {
        m.iter()
            .find(|(_, v)| v.as_str() == Some(key))
            .map(|(mid, _)| mid.clone())
    })
}

/// The sections Bob's connection receives video in.
async fn video_sections(b: &Browser) -> u64 {
    js(
        b,
        "return window.__openTelecon.pc.getTransceivers()
            .filter(t => t.mid && t.receiver.track.kind === 'video'
                && (t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv'))
            .length;",
    )
    .await
    .as_u64()
    .unwrap_or(0)
}

/// What the tile `css` shows: the id of its video's track (None for the
/// placeholder), and whether frames show (painted, and not held back as the
/// slot's previous track's).
async fn tile(b: &Browser, css: &str) -> (Option<String>, bool) {
    let v = js(
        b,
        &format!(
            "const f = document.querySelector('{css}'); \
             const v = f && f.querySelector('video'); \
             const s = v && v.srcObject; \
             const t = s && s.getVideoTracks()[0]; \
             return [t ? t.id : null, \
                     !!v && v.videoWidth > 0 && !f.classList.contains('waiting')];"
        ),
    )
    .await;
    (
        v[0].as_str().map(str::to_owned),
        v[1].as_bool() == Some(true),
    )
}

/// The RTP time of the first frame a tile showed after its track took a
/// slot another track had.
async fn first_rtp_time(b: &Browser, css: &str) -> Option<u64> {
    js(
        b,
        &format!(
            "const f = document.querySelector('{css}'); \
             return f && f.dataset.firstRtpTime ? Number(f.dataset.firstRtpTime) : null;"
        ),
    )
    .await
    .as_u64()
}

/// The id of the receiving track of section `mid`.
async fn receiver_track(b: &Browser, mid: &str) -> Option<String> {
    js(
        b,
        &format!(
            "const t = window.__openTelecon.pc.getTransceivers().find(t => t.mid === '{mid}'); \
             return t ? t.receiver.track.id : null;"
        ),
    )
    .await
    .as_str()
    .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_tile_gives_its_slot_to_the_next_tile_shown() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let _node = setup.node(&worker, "node-1");
    let (room, people) = common::room_with(&worker, &["Ada", "Bob", "Cy"]).await;
    let (ada_cam, cy_cam) = (
        format!("u-{}/camera", people[0].1),
        format!("u-{}/camera", people[2].1),
    );
    let (ada_tile, cy_tile) = (
        format!("#tile-u-{}-camera", people[0].1),
        format!("#tile-u-{}-camera", people[2].1),
    );
    let ada = setup.in_call(&worker, &room, "ada", None).await;
    let bob = setup.in_call(&worker, &room, "bob", None).await;
    until("Ada's video at Bob's", async || {
        flowing(&bob, &ada_cam).await
    })
    .await;
    let slot = section_of(&bob, &ada_cam).await.expect("Ada's slot");
    assert_eq!(video_sections(&bob).await, 1, "one tile, one video section");

    // Bob hides Ada's tile: her video stops; the slot stays, paused.
    click(&bob.client, &format!("{ada_tile} .hide-tile")).await;
    until("Ada's video to stop at Bob's", async || {
        !flowing(&bob, &ada_cam).await
    })
    .await;

    // Cy arrives: Cy's tile takes Ada's slot, with no new section.
    let cy = setup.in_call(&worker, &room, "cy", None).await;
    until("Cy's video at Bob's", async || flowing(&bob, &cy_cam).await).await;
    assert_eq!(section_of(&bob, &cy_cam).await, Some(slot.clone()));
    assert_eq!(section_of(&bob, &ada_cam).await, None);
    assert_eq!(video_sections(&bob).await, 1, "the slot was reused");
    let track = receiver_track(&bob, &slot).await;
    until("Cy's tile to paint Cy's frames", async || {
        tile(&bob, &cy_tile).await == (track.clone(), true)
    })
    .await;
    assert_eq!(
        tile(&bob, &ada_tile).await.0,
        None,
        "Ada's tile holds nothing of the slot"
    );
    // Cy's tile was held back until a frame of Cy's (by RTP time) came:
    // the slot's last frame of Ada's never showed there.
    assert!(first_rtp_time(&bob, &cy_tile).await.is_some());

    // Ada shown again: a second slot is negotiated, and both play.
    click(&bob.client, ".layout-bar .unhide").await;
    until("Ada's video back at Bob's", async || {
        flowing(&bob, &ada_cam).await
    })
    .await;
    assert_eq!(video_sections(&bob).await, 2);
    assert!(flowing(&bob, &cy_cam).await, "Cy keeps the slot");
    until("Ada's tile to paint again", async || {
        tile(&bob, &ada_tile).await.1
    })
    .await;

    ada.close().await;
    bob.close().await;
    cy.close().await;
}
