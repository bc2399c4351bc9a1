//! The WASM client in Debian's Chromium against the real worker: two users
//! sign up through the pages, one creates a room and invites the other by
//! link, they chat and exchange a direct message, and typed markup shows as
//! text.

mod common;

use std::time::Duration;

use e2e::browser::Browser;
use e2e::call::click;
use fantoccini::{Client, Locator};

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

    // Bob follows the invite link in his own browser: he must sign up first.
    let bob_browser = Browser::start(&setup.paths, &setup.dir.path().join("bob"))
        .await
        .unwrap();
    let b = &bob_browser.client;
    b.goto(&url).await.unwrap();
    text_becomes(b, "main", |t| t.contains("Log in")).await;
    b.goto(&format!("{}/signup", worker.url())).await.unwrap();
    type_into(b, "#signup-email", "bob@example.org").await;
    type_into(b, "#signup-name", "Bob").await;
    type_into(b, "#signup-password", "another good password").await;
    click(b, "#signup-submit").await;
    text_becomes(b, "#signed-in-as", |t| t == "Bob").await;

    // Before accepting the invite, the room does not exist for Bob.
    let room_href = c
        .find(Locator::Css("#rooms .room-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    b.goto(&format!("{}{room_href}", worker.url()))
        .await
        .unwrap();
    text_becomes(b, "#room-refused", |t| t.contains("not found")).await;
    assert!(
        b.find_all(Locator::Css("#message-input"))
            .await
            .unwrap()
            .is_empty()
    );
    b.goto(&url).await.unwrap();
    click(b, "#accept-invite").await;
    text_becomes(b, "#status", |t| t == "connected").await;

    // Ada opens the room too; both see each other.
    click(c, "#rooms .room-link").await;
    text_becomes(c, "#status", |t| t == "connected").await;
    text_becomes(c, "#participant-count", |t| t == "2").await;
    text_becomes(b, "#participant-count", |t| t == "2").await;

    // Ada's own camera previews (Chromium's fake device) and can be turned off.
    let preview = |c: &Client, script: &'static str| {
        let c = c.clone();
        async move {
            e2e::eventually(script, WAIT, || {
                let c = c.clone();
                async move {
                    c.execute(script, vec![])
                        .await
                        .ok()
                        .and_then(|v| v.as_bool())
                        .filter(|b| *b)
                }
            })
            .await
            .unwrap()
        }
    };
    preview(c, "const v = document.querySelector('#preview'); return !!v && v.videoWidth > 0 && !v.paused;").await;
    click(c, "#toggle-camera").await;
    click(c, "#toggle-mic").await;
    preview(
        c,
        "return document.querySelector('#preview').srcObject === null;",
    )
    .await;

    // Room chat both ways; markup arrives as text.
    type_into(b, "#message-input", "hello from Bob").await;
    click(b, "#send").await;
    text_becomes(c, "#messages", |t| t.contains("hello from Bob")).await;
    let hostile = "<img src=x onerror=alert(1)>";
    type_into(c, "#message-input", hostile).await;
    click(c, "#send").await;
    text_becomes(b, "#messages", |t| t.contains(hostile)).await;
    assert!(
        b.find_all(Locator::Css("#messages img"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        c.find_all(Locator::Css("#messages img"))
            .await
            .unwrap()
            .is_empty()
    );

    // Bob sends Ada a direct message; Ada sees it unread, then reads it.
    b.find(Locator::Css("#conversation"))
        .await
        .unwrap()
        .select_by_label("Ada <b>L</b>")
        .await
        .unwrap();
    type_into(b, "#message-input", "psst, just for Ada").await;
    click(b, "#send").await;
    text_becomes(b, "#messages", |t| t.contains("psst, just for Ada")).await;
    text_becomes(c, "#conversation", |t| t.contains("Bob (1)")).await;
    let everyone = c
        .find(Locator::Css("#messages"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !everyone.contains("psst"),
        "a DM is not in the room conversation"
    );
    c.find(Locator::Css("#conversation"))
        .await
        .unwrap()
        .select_by_label("Bob (1)")
        .await
        .unwrap();
    text_becomes(c, "#messages", |t| {
        t.contains("psst, just for Ada") && !t.contains("hello from Bob")
    })
    .await;
    std::fs::write(
        artifacts().join("room-1280x720.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    std::fs::write(
        artifacts().join("room-bob-1280x720.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    bob_browser.close().await;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_page_reconnects_after_a_server_restart_and_catches_up() {
    let setup = common::Setup::new();
    let opts = setup.worker_options("wrangler-1.log");
    let worker = e2e::worker::Worker::start(&setup.paths, &opts)
        .await
        .unwrap();
    let browser = Browser::start(&setup.paths, setup.dir.path())
        .await
        .unwrap();
    let c = &browser.client;
    c.goto(&format!("{}/signup", worker.url())).await.unwrap();
    type_into(c, "#signup-email", "ada@example.org").await;
    type_into(c, "#signup-name", "Ada").await;
    type_into(c, "#signup-password", "correct horse battery").await;
    click(c, "#signup-submit").await;
    type_into(c, "#create-room-name", "Resilient").await;
    click(c, "#create-room-submit").await;
    click(c, "#rooms .room-link").await;
    text_becomes(c, "#status", |t| t == "connected").await;
    let room = c
        .current_url()
        .await
        .unwrap()
        .path()
        .trim_start_matches("/r/")
        .to_owned();
    type_into(c, "#message-input", "before the restart").await;
    click(c, "#send").await;
    text_becomes(c, "#messages", |t| t.contains("before the restart")).await;

    // The server goes away: the page says so and keeps trying.
    worker.stop();
    text_becomes(c, "#status", |t| t == "connecting").await;
    let worker = e2e::worker::Worker::start(&setup.paths, &opts)
        .await
        .unwrap();

    // Ada's session, from another tab, says something; the page shows it
    // once it is back, with the earlier message still there exactly once.
    let session = c.get_named_cookie("ot_session").await.unwrap();
    let mut tab = e2e::api::Agent::new(worker.url());
    tab.cookie = Some(format!("ot_session={}", session.value()));
    let mut ws = tab.room(&room, None).await.unwrap();
    ws.until(|m| matches!(m, protocol::room::ServerMessage::Welcome { .. }).then_some(()))
        .await;
    ws.send(&protocol::room::ClientMessage::Say {
        text: "while the page was away".into(),
        to: None,
    })
    .await;
    text_becomes(c, "#status", |t| t == "connected").await;
    let shown = text_becomes(c, "#messages", |t| t.contains("while the page was away")).await;
    assert_eq!(shown.matches("before the restart").count(), 1, "{shown}");
    browser.close().await;
    worker.stop();
}
