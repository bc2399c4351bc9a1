//! The whiteboard through the real stack: two Chromium users in one room
//! (wrangler dev, the Room Durable Object's SQLite). Ada draws a red stroke
//! on board 2 with the pointer; Bob, on board 2, sees red pixels at the same
//! place on his canvas (of another size); each board shows its own content;
//! after Bob reloads the drawing is still there; once Ada lets only hosts
//! draw, Bob's page offers no tools and the room refuses his strokes; a
//! host brings everyone to a board and picks who may draw. On the way: the
//! eraser, undo, and a rectangle.

mod common;

use std::time::Duration;

use e2e::browser::Browser;
use e2e::call::{click, open_room, select, until};
use fantoccini::Locator;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use protocol::board::{BoardId, BoardOp, Color, Point, Shape};
use protocol::room::{ClientMessage, ErrorCode, ServerMessage};

/// Red pixels in a band around a fraction of the canvas's height (between
/// 40% and 60% of its width), and the canvas's size.
const RED: &str = r#"
const c = document.querySelector('#board-canvas');
if (!c) return null;
const ctx = c.getContext('2d');
const y = Math.round(c.height * arguments[0]);
const x0 = Math.round(c.width * 0.4), x1 = Math.round(c.width * 0.6);
const d = ctx.getImageData(x0, y - 3, x1 - x0, 7).data;
let red = 0;
for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i + 1] < 90 && d[i + 2] < 90) red++;
return [red, c.width, c.height];
"#;

async fn red_at(b: &Browser, height_fraction: f64) -> (u64, u64, u64) {
    let v = b
        .client
        .execute(RED, vec![height_fraction.into()])
        .await
        .unwrap_or_default();
    let v: Option<(u64, u64, u64)> = serde_json::from_value(v).unwrap_or_default();
    v.unwrap_or_default()
}

/// The board a page's canvas shows.
async fn board_of(b: &Browser) -> Option<String> {
    b.client
        .execute(
            "const c = document.querySelector('#board-canvas'); return c && c.dataset.board;",
            vec![],
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
}

async fn options(b: &Browser) -> usize {
    b.client
        .find_all(Locator::Css("#board-select option"))
        .await
        .map(|o| o.len())
        .unwrap_or(0)
}

/// Pixels of the palette's blue (0x1971c2) on the canvas.
async fn blue(b: &Browser) -> u64 {
    let js = r#"
const c = document.querySelector('#board-canvas');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 25) < 30 && Math.abs(d[i + 1] - 113) < 30 && Math.abs(d[i + 2] - 194) < 30) n++;
return n;
"#;
    b.client
        .execute(js, vec![])
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

/// Drags the mouse between two offsets from the canvas's centre.
async fn drag(b: &Browser, from: (f64, f64), to: (f64, f64)) {
    let canvas = b.client.find(Locator::Css("#board-canvas")).await.unwrap();
    let at = |(x, y): (f64, f64), ms: Option<u64>| PointerAction::MoveToElement {
        element: canvas.clone(),
        duration: ms.map(Duration::from_millis),
        x,
        y,
    };
    let mouse = MouseActions::new("mouse".into())
        .then(at(from, None))
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(at(((from.0 + to.0) / 2.0, (from.1 + to.1) / 2.0), Some(50)))
        .then(at(to, Some(50)))
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    b.client.perform_actions(mouse).await.unwrap();
}

/// Drags the mouse across the canvas's middle, left to right.
async fn draw_across(b: &Browser) {
    // Whole on screen: pointer actions aim at the centre of the visible part.
    b.client
        .execute(
            "document.querySelector('#board-canvas').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await
        .unwrap();
    let canvas = b.client.find(Locator::Css("#board-canvas")).await.unwrap();
    let mut mouse = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
        element: canvas.clone(),
        duration: None,
        x: -120.0,
        y: 0.0,
    });
    mouse = mouse.then(PointerAction::Down {
        button: MOUSE_BUTTON_LEFT,
    });
    for step in 1..=12 {
        mouse = mouse.then(PointerAction::MoveToElement {
            element: canvas.clone(),
            duration: Some(Duration::from_millis(20)),
            x: -120.0 + f64::from(step) * 20.0,
            y: 0.0,
        });
    }
    mouse = mouse.then(PointerAction::Up {
        button: MOUSE_BUTTON_LEFT,
    });
    b.client.perform_actions(mouse).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stroke_on_board_two_reaches_another_browser_persists_and_obeys_permissions() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let (room, people) = common::room_with(&worker, &["Ada", "Bob"]).await;
    let url = worker.url().to_owned();
    let dir = setup.dir.path();
    let ada = open_room(
        &setup.paths,
        &dir.join("chrome-ada"),
        "ada@example.org",
        &url,
        &room,
    )
    .await;
    let bob = open_room(
        &setup.paths,
        &dir.join("chrome-bob"),
        "bob@example.org",
        &url,
        &room,
    )
    .await;
    // Tall windows, so each canvas fits on screen whole; Bob's canvas is
    // narrower than Ada's.
    ada.client.set_window_size(1200, 1600).await.unwrap();
    bob.client.set_window_size(900, 1600).await.unwrap();

    // Ada makes two boards; both browsers see them.
    click(&ada.client, "#board-new").await;
    until("the first board", async || options(&ada).await == 1).await;
    click(&ada.client, "#board-new").await;
    until("two boards at Bob's", async || options(&bob).await == 2).await;

    // Both look at board 2; Ada draws across its middle in red.
    select(&ada.client, "#board-select", "1").await;
    select(&bob.client, "#board-select", "1").await;
    click(&ada.client, "#color-red").await;
    click(&ada.client, "#width-24").await;
    draw_across(&ada).await;
    until("red in the middle of Ada's canvas", async || {
        red_at(&ada, 0.5).await.0 > 20
    })
    .await;
    until("red in the middle of Bob's canvas", async || {
        red_at(&bob, 0.5).await.0 > 20
    })
    .await;
    let (_, aw, _) = red_at(&ada, 0.5).await;
    let (_, bw, _) = red_at(&bob, 0.5).await;
    assert_ne!(aw, bw, "the two canvases differ in size");
    // At the same place: not in a band well above it.
    assert_eq!(red_at(&bob, 0.25).await.0, 0);
    let shot = bob.client.screenshot().await.unwrap();
    let artifacts = setup.paths.root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("whiteboard-bob.png"), shot).unwrap();

    // Each board shows its own content.
    select(&bob.client, "#board-select", "0").await;
    until("board 1 to show at Bob's", async || {
        board_of(&bob).await.as_deref() == Some("0")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(red_at(&bob, 0.5).await.0, 0, "board 1 is empty");
    select(&bob.client, "#board-select", "1").await;
    until("board 2's stroke back at Bob's", async || {
        red_at(&bob, 0.5).await.0 > 20
    })
    .await;

    // Bob reloads: the drawing is still there.
    bob.client.goto(&format!("{url}/r/{room}")).await.unwrap();
    e2e::call::text_is(&bob.client, "#status", "connected").await;
    until("two boards after the reload", async || {
        options(&bob).await == 2
    })
    .await;
    select(&bob.client, "#board-select", "1").await;
    until("the stroke after the reload", async || {
        red_at(&bob, 0.5).await.0 > 20
    })
    .await;

    // Ada erases the stroke, and undoes that.
    click(&ada.client, "#tool-eraser").await;
    draw_across(&ada).await;
    until("the stroke erased at Bob's", async || {
        red_at(&bob, 0.5).await.0 == 0
    })
    .await;
    click(&ada.client, "#board-undo").await;
    until("the stroke back at Bob's", async || {
        red_at(&bob, 0.5).await.0 > 20
    })
    .await;
    // A blue rectangle from a diagonal drag.
    click(&ada.client, "#tool-rect").await;
    click(&ada.client, "#color-blue").await;
    drag(&ada, (-100.0, -60.0), (100.0, 60.0)).await;
    until("a blue rectangle at Bob's", async || blue(&bob).await > 100).await;

    // Ada brings everyone to board 1.
    select(&ada.client, "#board-select", "0").await;
    click(&ada.client, "#board-present").await;
    until("Bob to be brought to board 1", async || {
        board_of(&bob).await.as_deref() == Some("0")
    })
    .await;

    // Ada lets only chosen people draw: Bob's tools go until she picks him.
    let tools = async |b: &Browser| {
        b.client
            .find_all(Locator::Css("#tool-pen"))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    };
    select(&ada.client, "#board-policy", "chosen").await;
    until("Bob's tools to go", async || tools(&bob).await == 0).await;
    let bob_id = format!("u-{}", people[1].1);
    click(
        &ada.client,
        &format!("#board-drawers input[data-id='{bob_id}']"),
    )
    .await;
    until("Bob's tools to come back", async || tools(&bob).await == 1).await;

    // Ada lets only hosts draw: Bob's page offers no tools...
    select(&ada.client, "#board-policy", "hosts").await;
    until("Bob's tools to go again", async || tools(&bob).await == 0).await;
    // ...and the room refuses a stroke sent by hand.
    let mut socket = people[1].0.room(&room, None).await.expect("Bob's socket");
    socket
        .send(&ClientMessage::Board(BoardOp::Begin {
            board: BoardId(0),
            n: u32::MAX,
            shape: Shape::Pen,
            color: Color(0x00ff00),
            width: 10,
            points: vec![Point(800, 100)],
            text: None,
        }))
        .await;
    let code = socket
        .until(|m| match m {
            ServerMessage::Error { code, .. } => Some(*code),
            _ => None,
        })
        .await;
    assert_eq!(code, ErrorCode::Forbidden);
    socket.close().await;
    let strokes = bob
        .client
        .execute(
            "return document.querySelector('#board-canvas').dataset.strokes;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(strokes.as_str(), Some("0"), "nothing drawn on board 1");

    ada.close().await;
    bob.close().await;
}
