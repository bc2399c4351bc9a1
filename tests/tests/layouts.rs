//! Layouts saved on an account, through the real worker and D1: save, list,
//! replace, one default, delete; nobody else's layouts; bad layouts refused.

mod common;

use e2e::api::Agent;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn layout(preset: &str) -> Value {
    json!({
        "preset": preset,
        "panels": [
            {"panel": "board", "visible": true, "size": 8},
            {"panel": "video", "visible": true, "size": 4},
            {"panel": "chat", "visible": false, "size": 3}
        ],
        "pinned": [],
        "hidden": ["u-someone"],
        "order": []
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layouts_are_saved_on_the_account_with_one_default() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let mut ada = Agent::new(worker.url());
    ada.signup("ada@example.org", "Ada").await;
    let mut bob = Agent::new(worker.url());
    bob.signup("bob@example.org", "Bob").await;

    let a = ada
        .post(
            "/api/layouts",
            json!({"name": "Teaching", "layout": layout("presentation"), "default": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    assert_eq!(a.body["layout"], layout("presentation"));
    let a_id = a.body["id"].as_str().unwrap().to_owned();
    let b = ada
        .post(
            "/api/layouts",
            json!({"name": "Chatty <b>", "layout": layout("sidebar"), "default": true}),
        )
        .await;
    assert_eq!(b.status, StatusCode::CREATED);
    let b_id = b.body["id"].as_str().unwrap().to_owned();

    // Listed oldest first; the newer default replaced the older one; the
    // name is kept as typed (clients show it as text).
    let list = ada.get("/api/layouts").await;
    let names: Vec<(&str, bool)> = list.body["layouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l["default"].as_bool().unwrap()))
        .collect();
    assert_eq!(names, [("Teaching", false), ("Chatty <b>", true)]);

    // Replace one; make the first the default again.
    let put = ada
        .put(
            &format!("/api/layouts/{a_id}"),
            json!({"name": "Lecture", "layout": layout("speaker"), "default": true}),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(put.body["layout"]["preset"], "speaker");
    let list = ada.get("/api/layouts").await;
    assert_eq!(list.body["layouts"][0]["default"], true);
    assert_eq!(list.body["layouts"][1]["default"], false);

    // Another account sees none of them and touches none of them.
    assert_eq!(bob.get("/api/layouts").await.body["layouts"], json!([]));
    let body = json!({"name": "x", "layout": layout("grid")});
    assert_eq!(
        bob.put(&format!("/api/layouts/{a_id}"), body).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.delete(&format!("/api/layouts/{a_id}")).await.status,
        StatusCode::NOT_FOUND
    );
    // Without a session: 401.
    let mut nobody = Agent::new(worker.url());
    assert_eq!(
        nobody.get("/api/layouts").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Bad layouts and names are refused, and nothing is stored.
    let twice = json!({"preset": "grid", "panels": [
        {"panel": "chat", "visible": true, "size": 3},
        {"panel": "chat", "visible": true, "size": 3}
    ]});
    for bad in [
        json!({"name": "x", "layout": {"preset": "mosaic"}}),
        json!({"name": "x", "layout": {"preset": "grid", "panels": [{"panel": "chat", "visible": true, "size": 13}]}}),
        json!({"name": "x", "layout": twice}),
        json!({"name": "", "layout": layout("grid")}),
        json!({"name": "x".repeat(61), "layout": layout("grid")}),
        json!({"name": "x", "layout": layout("grid"), "extra": 1}),
    ] {
        let r = ada.post("/api/layouts", bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        ada.get("/api/layouts").await.body["layouts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Delete.
    assert_eq!(
        ada.delete(&format!("/api/layouts/{b_id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ada.delete(&format!("/api/layouts/{b_id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ada.get("/api/layouts").await.body["layouts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
