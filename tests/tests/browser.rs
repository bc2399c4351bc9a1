//! The WASM client in Debian's Chromium against the real worker: the page is
//! rendered by the Leptos app, and it chats with a WebSocket client through
//! the Room Durable Object, showing typed markup as text.

mod common;

use std::time::Duration;

use e2e::browser::Browser;
use fantoccini::Locator;
use futures_util::{SinkExt, StreamExt};
use protocol::room::{ClientMessage, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);

fn artifacts() -> std::path::PathBuf {
    let dir = e2e::paths::Paths::default().root.join("tests/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_renders_the_wasm_ui_and_chats_with_another_client() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let browser = Browser::start(&setup.paths, setup.dir.path())
        .await
        .unwrap();
    let c = &browser.client;

    // index.html holds no UI at all: the title and form come from WASM.
    c.goto(&format!("{}/", worker.url())).await.unwrap();
    let title = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#app-title"))
        .await
        .unwrap();
    assert_eq!(title.text().await.unwrap(), "openTelecon");
    let version = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#version"))
        .await
        .unwrap();
    e2e::eventually("the version from /healthz", WAIT, || {
        let version = version.clone();
        async move { version.text().await.ok().filter(|t| t.starts_with("v0.")) }
    })
    .await
    .unwrap();

    // Join a room by name.
    c.find(Locator::Css("#room-input"))
        .await
        .unwrap()
        .send_keys("Browser Room")
        .await
        .unwrap();
    c.find(Locator::Css("#join"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#status"))
        .await
        .unwrap();
    e2e::eventually("the room socket to connect", WAIT, || {
        let status = status.clone();
        async move { status.text().await.ok().filter(|t| t == "connected") }
    })
    .await
    .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("#browser-room")
    );

    // Another participant sends markup; the browser shows it as text.
    let (mut other, _) = tokio_tungstenite::connect_async(worker.room_ws("browser-room"))
        .await
        .unwrap();
    let hostile = "<img src=x onerror=\"document.title='pwned'\"> hi";
    other
        .send(Message::text(
            ClientMessage::Say {
                text: hostile.into(),
            }
            .encode(),
        ))
        .await
        .unwrap();
    let shown = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#messages .message"))
        .await
        .unwrap();
    assert_eq!(shown.text().await.unwrap(), hostile);
    assert!(
        c.find_all(Locator::Css("#messages img"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_ne!(c.title().await.unwrap(), "pwned");

    // And what the browser sends reaches the other participant.
    c.find(Locator::Css("#message-input"))
        .await
        .unwrap()
        .send_keys("from the browser")
        .await
        .unwrap();
    c.find(Locator::Css("#send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let received = tokio::time::timeout(WAIT, async {
        while let Some(Ok(frame)) = other.next().await {
            if let Message::Text(t) = frame
                && let Ok(ServerMessage::Said(s)) = ServerMessage::decode(&t)
                && s.text == "from the browser"
            {
                return Some(s.seq);
            }
        }
        None
    })
    .await
    .unwrap();
    assert_eq!(received, Some(2));

    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join("room-1280x720.png"), png).unwrap();
    browser.close().await;
    worker.stop();
}
