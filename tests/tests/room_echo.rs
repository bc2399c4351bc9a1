//! The Room Durable Object over real WebSockets in workerd: messages reach
//! every socket of the room and no other room, bad input is refused without
//! loss, and messages survive a restart of `wrangler dev`.

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::room::{ClientMessage, ErrorCode, MAX_FRAME_BYTES, Said, ServerMessage, close_code};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> (Socket, Vec<Said>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    match next(&mut ws).await {
        ServerMessage::Welcome { protocol, history } => {
            assert_eq!(protocol, protocol::room::PROTOCOL_VERSION);
            (ws, history)
        }
        other => panic!("expected welcome, got {other:?}"),
    }
}

async fn next(ws: &mut Socket) -> ServerMessage {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no message within 10 s")
            .expect("socket ended")
            .expect("socket error");
        match frame {
            Message::Text(t) => return ServerMessage::decode(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn say(ws: &mut Socket, text: &str) {
    ws.send(Message::text(
        ClientMessage::Say { text: text.into() }.encode(),
    ))
    .await
    .unwrap();
}

fn said_text(msg: ServerMessage) -> (u64, String) {
    match msg {
        ServerMessage::Said(s) => (s.seq, s.text),
        other => panic!("expected a chat message, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_of_a_room_see_each_others_messages_and_other_rooms_see_nothing() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let (mut alice, history) = connect(&worker.room_ws("standup")).await;
    assert!(history.is_empty());
    let (mut bob, _) = connect(&worker.room_ws("standup")).await;
    let (mut eve, _) = connect(&worker.room_ws("other-room")).await;

    say(&mut alice, "hello from alice").await;
    assert_eq!(
        said_text(next(&mut alice).await),
        (1, "hello from alice".into())
    );
    assert_eq!(
        said_text(next(&mut bob).await),
        (1, "hello from alice".into())
    );
    say(&mut bob, "<script>alert(1)</script>").await;
    assert_eq!(
        said_text(next(&mut alice).await),
        (2, "<script>alert(1)</script>".into())
    );
    assert_eq!(said_text(next(&mut bob).await).0, 2);

    // The other room's first message is its own seq 1: nothing crossed over.
    say(&mut eve, "eve alone").await;
    assert_eq!(said_text(next(&mut eve).await), (1, "eve alone".into()));
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_refused_and_the_connection_stays() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let (mut ws, _) = connect(&worker.room_ws("errors")).await;

    ws.send(Message::text("{not json")).await.unwrap();
    assert!(matches!(
        next(&mut ws).await,
        ServerMessage::Error {
            code: ErrorCode::Malformed,
            ..
        }
    ));
    ws.send(Message::text(r#"{"type":"launch"}"#))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut ws).await,
        ServerMessage::Error {
            code: ErrorCode::Malformed,
            ..
        }
    ));
    say(&mut ws, "   ").await;
    assert!(matches!(
        next(&mut ws).await,
        ServerMessage::Error {
            code: ErrorCode::Empty,
            ..
        }
    ));

    // Still connected, and nothing refused took a sequence number.
    say(&mut ws, "still here").await;
    assert_eq!(said_text(next(&mut ws).await), (1, "still here".into()));

    // An oversized frame closes this socket with 1009; the room keeps working.
    ws.send(Message::text("x".repeat(MAX_FRAME_BYTES + 1)))
        .await
        .unwrap();
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(
        closed.map(|f| f.code),
        Some(CloseCode::from(close_code::MESSAGE_TOO_BIG))
    );
    let (_, history) = connect(&worker.room_ws("errors")).await;
    assert_eq!(
        history.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
        vec!["still here"]
    );
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_survive_a_restart_of_wrangler_dev() {
    let setup = common::Setup::new();
    let opts = setup.worker_options("wrangler-1.log");
    let worker = e2e::worker::Worker::start(&setup.paths, &opts)
        .await
        .unwrap();
    let (mut ws, _) = connect(&worker.room_ws("durable")).await;
    say(&mut ws, "first").await;
    say(&mut ws, "second").await;
    assert_eq!(said_text(next(&mut ws).await).0, 1);
    assert_eq!(said_text(next(&mut ws).await).0, 2);
    drop(ws);
    worker.stop();

    let opts = e2e::worker::WorkerOptions {
        log: Some(setup.log("wrangler-2.log")),
        ..opts
    };
    let worker = e2e::worker::Worker::start(&setup.paths, &opts)
        .await
        .unwrap();
    let (mut ws, history) = connect(&worker.room_ws("durable")).await;
    let texts: Vec<(u64, &str)> = history.iter().map(|s| (s.seq, s.text.as_str())).collect();
    assert_eq!(texts, vec![(1, "first"), (2, "second")]);
    // Numbering continues where it stopped.
    say(&mut ws, "third").await;
    assert_eq!(said_text(next(&mut ws).await), (3, "third".into()));
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_room_ids_and_plain_requests_get_json_errors() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{}/rooms/Bad%20Room/ws", worker.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: protocol::api::ErrorResponse = resp.json().await.unwrap();
    assert_eq!(body.error.code, "bad_request");
    let resp = http
        .get(format!("{}/rooms/fine/ws", worker.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 426);
    let resp = http
        .get(format!("{}/api/nothing-here", worker.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let health = e2e::health(&http, worker.url()).await.unwrap();
    assert_eq!(health.service, "worker");
    assert!(
        health.version.starts_with(env!("CARGO_PKG_VERSION")),
        "{}",
        health.version
    );
    worker.stop();
}
