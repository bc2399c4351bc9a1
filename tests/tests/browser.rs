//! The WASM client in Debian's Chromium against the real worker: signing up
//! and creating a room through the pages, an invite link, and the room's chat
//! with a second participant, showing typed markup as text.

mod common;

use std::time::Duration;

use e2e::browser::Browser;
use fantoccini::{Client, Locator};
use futures_util::{SinkExt, StreamExt};
use protocol::room::{ClientMessage, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);

fn artifacts() -> std::path::PathBuf {
    let dir = e2e::paths::Paths::default().root.join("tests/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn type_into(c: &Client, css: &str, text: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
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

async fn text_becomes(c: &Client, css: &str, wanted: impl Fn(&str) -> bool) -> String {
    e2e::eventually(&format!("{css} to show the expected text"), WAIT, || {
        let c = c.clone();
        let css = css.to_owned();
        let wanted = &wanted;
        async move {
            let t = c.find(Locator::Css(&css)).await.ok()?.text().await.ok()?;
            wanted(&t).then_some(t)
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_create_a_room_and_chat_through_the_pages() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let browser = Browser::start(&setup.paths, setup.dir.path())
        .await
        .unwrap();
    let c = &browser.client;

    // index.html holds no UI at all: everything below is rendered by WASM.
    c.goto(&format!("{}/", worker.url())).await.unwrap();
    assert_eq!(
        text_becomes(c, "#app-title", |t| !t.is_empty()).await,
        "openTelecon"
    );
    text_becomes(c, "#version", |t| t.starts_with("v0.")).await;

    // Sign up through the page; the first account is admin.
    click(c, "a[href='/signup']").await;
    type_into(c, "#signup-email", "ada@example.org").await;
    type_into(c, "#signup-name", "Ada <b>L</b>").await;
    type_into(c, "#signup-password", "correct horse battery").await;
    click(c, "#signup-submit").await;
    text_becomes(c, "#signed-in-as", |t| t == "Ada <b>L</b>").await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#nav-admin"))
        .await
        .unwrap();

    // Create a room through the page, and make an invite link.
    type_into(c, "#create-room-name", "Browser Room").await;
    click(c, "#create-room-submit").await;
    text_becomes(c, "#rooms .room-link", |t| t == "Browser Room").await;
    click(c, "#rooms .invite").await;
    let invite = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#rooms .invite-url"))
        .await
        .unwrap();
    let url = e2e::eventually("the invite link", WAIT, || {
        let invite = invite.clone();
        async move {
            invite
                .prop("value")
                .await
                .ok()
                .flatten()
                .filter(|v| !v.is_empty())
        }
    })
    .await
    .unwrap();
    assert!(url.starts_with(&format!("{}/join/", worker.url())), "{url}");
    std::fs::write(
        artifacts().join("rooms-1280x720.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Open the room.
    click(c, "#rooms .room-link").await;
    text_becomes(c, "#status", |t| t == "connected").await;
    let page = c.current_url().await.unwrap();
    let room = page
        .path()
        .strip_prefix("/r/")
        .expect("a room page")
        .to_owned();

    // Another participant sends markup; the browser shows it as text.
    let (mut other, _) = tokio_tungstenite::connect_async(worker.room_ws(&room))
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
    assert_eq!(
        text_becomes(c, "#messages .message", |t| !t.is_empty()).await,
        hostile
    );
    assert!(
        c.find_all(Locator::Css("#messages img"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_ne!(c.title().await.unwrap(), "pwned");

    // And what the browser sends reaches the other participant.
    type_into(c, "#message-input", "from the browser").await;
    click(c, "#send").await;
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
    std::fs::write(
        artifacts().join("room-1280x720.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Log out: the pages offer logging in again, and the session is gone.
    click(c, "#logout").await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#login-email"))
        .await
        .unwrap();
    text_becomes(c, "nav", |t| t.contains("Log in")).await;

    // Log in with the keyboard alone: type, Tab to the next field, Enter.
    const TAB: &str = "\u{E004}";
    const ENTER: &str = "\u{E007}";
    type_into(c, "#login-email", &format!("ada@example.org{TAB}")).await;
    let focused = c.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("login-password")
    );
    focused
        .send_keys(&format!("correct horse battery{ENTER}"))
        .await
        .unwrap();
    text_becomes(c, "#signed-in-as", |t| t == "Ada <b>L</b>").await;
    browser.close().await;
    worker.stop();
}
