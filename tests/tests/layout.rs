//! Layouts in real Chromium: a tile dragged onto another takes its place
//! (and a button moves it back); presets switch at once and keep each
//! panel's state; a panel dragged by its title and resized by its edge; a saved
//! default layout is applied after a reload; a host's pushed layout changes
//! a participant's view; a hidden tile, and the audio-only view, stop that
//! video arriving (inbound bytes stop rising) and it comes back; screenshots
//! at 1280x720 and 375x812.

mod common;

use std::time::Duration;

use e2e::browser::Browser;
use e2e::call::{bytes_received, click, select, text_is, until};
use fantoccini::Locator;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};

async fn js(b: &Browser, script: &str) -> serde_json::Value {
    b.client.execute(script, vec![]).await.unwrap_or_default()
}

async fn layout_class(b: &Browser) -> String {
    js(b, "return document.querySelector('#layout').className;")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A panel's CSS order and width.
async fn panel(b: &Browser, name: &str) -> (String, f64) {
    let v = js(
        b,
        &format!(
            "const e = document.querySelector('#panel-{name}'); \
             return [getComputedStyle(e).order, e.getBoundingClientRect().width];"
        ),
    )
    .await;
    (
        v[0].as_str().unwrap_or_default().to_owned(),
        v[1].as_f64().unwrap_or(0.0),
    )
}

/// Whether `key`'s bytes keep rising at `b` (over two seconds).
async fn flowing(b: &Browser, key: &str) -> bool {
    let x = bytes_received(&b.client).await.get(key).copied();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let y = bytes_received(&b.client).await.get(key).copied();
    matches!((x, y), (Some(x), Some(y)) if y > x)
}

/// Drags element `from` by (dx, dy) pixels, or onto element `onto`.
async fn drag(b: &Browser, from: &str, to: Result<&str, (f64, f64)>) {
    let start = b.client.find(Locator::Css(from)).await.unwrap();
    let mut mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: start.clone(),
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        });
    mouse = match to {
        Ok(css) => {
            let end = b.client.find(Locator::Css(css)).await.unwrap();
            mouse.then(PointerAction::MoveToElement {
                element: end,
                duration: Some(Duration::from_millis(200)),
                x: 0.0,
                y: 0.0,
            })
        }
        Err((dx, dy)) => mouse.then(PointerAction::MoveToElement {
            element: start,
            duration: Some(Duration::from_millis(200)),
            x: dx,
            y: dy,
        }),
    };
    let mouse = mouse.then(PointerAction::Up {
        button: MOUSE_BUTTON_LEFT,
    });
    b.client.perform_actions(mouse).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presets_custom_layouts_pushes_and_hidden_tiles() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let _node = setup.node(&worker, "node-1");
    let (room, people) = common::room_with(&worker, &["Ada", "Bob", "Cy"]).await;
    let ada_cam = format!("u-{}/camera", people[0].1);
    let ada = setup.in_call(&worker, &room, "ada", None).await;
    let bob = setup.in_call(&worker, &room, "bob", None).await;
    let cy = setup.in_call(&worker, &room, "cy", None).await;
    until("Ada's video at Bob's", async || {
        flowing(&bob, &ada_cam).await
    })
    .await;

    // Bob drags Cy's tile onto Ada's: Cy's comes first; a button moves it back.
    let (ada_tile, cy_tile) = (
        format!("#tile-u-{}-camera", people[0].1),
        format!("#tile-u-{}-camera", people[2].1),
    );
    let left = async |css: &str| {
        js(
            &bob,
            &format!("return document.querySelector('{css}').getBoundingClientRect().left;"),
        )
        .await
        .as_f64()
        .unwrap_or(0.0)
    };
    until("both tiles at Bob's", async || {
        left(&cy_tile).await > 0.0 && left(&ada_tile).await > 0.0
    })
    .await;
    if left(&cy_tile).await < left(&ada_tile).await {
        // Already first: start from Ada first.
        click(&bob.client, &format!("{cy_tile} .tile-later")).await;
        until("Cy after Ada", async || {
            left(&cy_tile).await > left(&ada_tile).await
        })
        .await;
    }
    drag(
        &bob,
        &format!("{cy_tile} video"),
        Ok(&format!("{ada_tile} video")),
    )
    .await;
    until("Cy's tile first", async || {
        left(&cy_tile).await < left(&ada_tile).await
    })
    .await;
    click(&bob.client, &format!("{cy_tile} .tile-later")).await;
    until("Cy's tile after Ada's again", async || {
        left(&cy_tile).await > left(&ada_tile).await
    })
    .await;

    // Hiding Ada's tile stops her video arriving; showing it brings it back.
    click(
        &bob.client,
        &format!("#tile-u-{}-camera .hide-tile", people[0].1),
    )
    .await;
    until("Ada's video to stop at Bob's", async || {
        !flowing(&bob, &ada_cam).await
    })
    .await;
    click(&bob.client, ".layout-bar .unhide").await;
    until("Ada's video back at Bob's", async || {
        flowing(&bob, &ada_cam).await
    })
    .await;

    // Presets switch at once and keep what each panel holds (a chat draft);
    // the audio-only view downloads no video.
    let draft = bob
        .client
        .find(Locator::Css("#message-input"))
        .await
        .unwrap();
    draft.send_keys("half-typed").await.unwrap();
    for preset in ["speaker", "sidebar", "presentation", "audio_only"] {
        select(&bob.client, "#layout-preset", preset).await;
        assert!(
            layout_class(&bob)
                .await
                .contains(&format!("preset-{preset}")),
            "{preset}"
        );
    }
    until("no video in the audio-only view", async || {
        !flowing(&bob, &ada_cam).await
    })
    .await;
    select(&bob.client, "#layout-preset", "grid").await;
    until("video back in the grid", async || {
        flowing(&bob, &ada_cam).await
    })
    .await;
    assert_eq!(
        draft.prop("value").await.unwrap().as_deref(),
        Some("half-typed"),
        "the chat panel kept its state"
    );

    // Drag the whiteboard's title onto the video panel's: it comes first.
    assert_ne!(panel(&bob, "board").await.0, "0");
    drag(
        &bob,
        "#panel-board .panel-title",
        Ok("#panel-video .panel-title"),
    )
    .await;
    until("the board panel first", async || {
        panel(&bob, "board").await.0 == "0"
    })
    .await;
    // Drag the chat panel's edge to the left: it narrows.
    let before = panel(&bob, "chat").await.1;
    drag(&bob, "#panel-chat .panel-edge", Err((-250.0, 0.0))).await;
    until("a narrower chat", async || {
        panel(&bob, "chat").await.1 < before - 100.0
    })
    .await;
    // The keyboard does the same with buttons.
    click(&bob.client, "#panel-chat .panel-wider").await;
    until("a wider chat", async || {
        panel(&bob, "chat").await.1 > before - 100.0
    })
    .await;

    // Save it as the default; it is applied again after a reload.
    let name = bob.client.find(Locator::Css("#layout-name")).await.unwrap();
    name.send_keys("Board first").await.unwrap();
    click(&bob.client, "#layout-save").await;
    until("the saved layout listed", async || {
        js(
            &bob,
            "return document.querySelector('#layout-saved').textContent;",
        )
        .await
        .as_str()
        .is_some_and(|t| t.contains("Board first (default)"))
    })
    .await;
    bob.client
        .goto(&format!("{}/r/{room}", worker.url()))
        .await
        .unwrap();
    text_is(&bob.client, "#status", "connected").await;
    until("the default layout after the reload", async || {
        panel(&bob, "board").await.0 == "0"
    })
    .await;

    // Ada pushes the presentation layout: Bob's view follows; he may go
    // back to his own.
    select(&ada.client, "#layout-preset", "presentation").await;
    click(&ada.client, "#layout-push").await;
    until("Bob in the host's layout", async || {
        layout_class(&bob).await.contains("preset-presentation")
    })
    .await;
    click(&bob.client, "#layout-return").await;
    until("Bob back in his own", async || {
        layout_class(&bob).await.contains("preset-grid")
    })
    .await;

    // Screenshots at a laptop's and a phone's size.
    let artifacts = setup.paths.root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for (w, h) in [(1280, 720), (375, 812)] {
        bob.client.set_window_size(w, h).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let shot = bob.client.screenshot().await.unwrap();
        std::fs::write(artifacts.join(format!("layout-{w}x{h}.png")), shot).unwrap();
    }
    // On the phone, panels stack: chat takes the whole width.
    let whole = js(
        &bob,
        "return document.querySelector('#layout').getBoundingClientRect().width;",
    )
    .await
    .as_f64()
    .unwrap_or(0.0);
    assert!(panel(&bob, "chat").await.1 > whole * 0.9);

    ada.close().await;
    bob.close().await;
    cy.close().await;
}
