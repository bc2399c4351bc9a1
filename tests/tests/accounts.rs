//! Accounts, sessions, roles and permissions over HTTP against the real
//! worker and D1: every refusal the issue names, and the paths that succeed.

mod common;

use std::time::Duration;

use e2e::api::{Agent, Body, PASSWORD};
use e2e::worker::Worker;
use reqwest::Method;
use serde_json::json;

async fn worker_with(setup: &common::Setup, vars: &[(&str, &str)]) -> Worker {
    let vars = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let opts = e2e::worker::WorkerOptions {
        vars,
        ..setup.worker_options("wrangler.log")
    };
    Worker::start(&setup.paths, &opts).await.unwrap()
}

fn id(answer: &e2e::api::Answer) -> String {
    answer.body["id"].as_str().expect("an id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_log_in_log_out_and_the_first_account_is_admin() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let mut ada = Agent::new(worker.url());
    let mut bob = Agent::new(worker.url());

    let a = ada.signup("Ada@Example.org", "Ada").await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.body["global_role"], "admin");
    assert_eq!(a.body["email"], "ada@example.org");
    let b = bob.signup("bob@example.org", "<b>Bob</b>").await;
    assert_eq!(
        b.body["global_role"], "member",
        "only the first account is admin"
    );
    assert_eq!(
        b.body["name"], "<b>Bob</b>",
        "names are stored as typed and shown as text"
    );
    assert_eq!(
        Agent::new(worker.url())
            .signup("ADA@example.org", "Again")
            .await
            .status,
        409
    );

    let me = ada.get("/api/me").await;
    assert_eq!(
        (me.status.as_u16(), me.body["name"].as_str()),
        (200, Some("Ada"))
    );

    // Log out: that session is gone for good, even if the cookie is replayed.
    let old = ada.clone();
    assert_eq!(ada.post("/api/auth/logout", json!({})).await.status, 204);
    assert_eq!(ada.cookie, None, "the cookie is cleared");
    assert_eq!(old.clone().get("/api/me").await.status, 401);

    // Wrong password and unknown email fail alike.
    let wrong = ada.login("ada@example.org", "not the password").await;
    let unknown = ada.login("nobody@example.org", PASSWORD).await;
    assert_eq!((wrong.status.as_u16(), unknown.status.as_u16()), (401, 401));
    assert_eq!(wrong.body, unknown.body);
    let ok = ada.login("ADA@example.org", PASSWORD).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ada.get("/api/me").await.status, 200);

    // Forged, tampered and malformed cookies are strangers.
    let good = ada.cookie.clone().unwrap();
    let token = good.trim_start_matches("ot_session=");
    let flipped = format!(
        "{}{}",
        &token[..63],
        if token.ends_with('0') { '1' } else { '0' }
    );
    for forged in [
        format!("ot_session={}", "a".repeat(64)),
        format!("ot_session={flipped}"),
        "ot_session=x'--".into(),
    ] {
        let mut mallory = Agent::new(worker.url());
        mallory.cookie = Some(forged.clone());
        assert_eq!(mallory.get("/api/me").await.status, 401, "{forged}");
    }
    assert_eq!(Agent::new(worker.url()).get("/api/me").await.status, 401);
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire() {
    let setup = common::Setup::new();
    let worker = worker_with(&setup, &[("SESSION_TTL_SECONDS", "2")]).await;
    let mut ada = Agent::new(worker.url());
    ada.signup("ada@example.org", "Ada").await;
    assert_eq!(ada.get("/api/me").await.status, 200);
    e2e::eventually("the session to expire", Duration::from_secs(15), || {
        let mut ada = ada.clone();
        async move { (ada.get("/api/me").await.status == 401).then_some(()) }
    })
    .await
    .unwrap();
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_and_disabling_end_every_session() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let mut admin = Agent::new(worker.url());
    admin.signup("admin@example.org", "Admin").await;
    let mut laptop = Agent::new(worker.url());
    let bob_id = id(&laptop.signup("bob@example.org", "Bob").await);
    let mut phone = Agent::new(worker.url());
    assert_eq!(phone.login("bob@example.org", PASSWORD).await.status, 200);

    let wrong =
        json!({ "current_password": "wrong guess!", "new_password": "a new long password" });
    assert_eq!(
        laptop
            .post("/api/auth/password", wrong.clone())
            .await
            .status,
        403
    );
    let change = json!({ "current_password": PASSWORD, "new_password": "a new long password" });
    assert_eq!(laptop.post("/api/auth/password", change).await.status, 204);
    assert_eq!(
        laptop.get("/api/me").await.status,
        200,
        "this browser got a new session"
    );
    assert_eq!(
        phone.get("/api/me").await.status,
        401,
        "every other session ended"
    );
    assert_eq!(phone.login("bob@example.org", PASSWORD).await.status, 401);
    assert_eq!(
        phone
            .login("bob@example.org", "a new long password")
            .await
            .status,
        200
    );

    let disabled = admin
        .patch(
            &format!("/api/admin/users/{bob_id}"),
            json!({ "disabled": true }),
        )
        .await;
    assert_eq!(
        (disabled.status.as_u16(), &disabled.body["disabled"]),
        (200, &json!(true))
    );
    assert_eq!(laptop.get("/api/me").await.status, 401);
    assert_eq!(phone.get("/api/me").await.status, 401);
    assert_eq!(
        phone
            .login("bob@example.org", "a new long password")
            .await
            .status,
        401
    );
    admin
        .patch(
            &format!("/api/admin/users/{bob_id}"),
            json!({ "disabled": false }),
        )
        .await;
    assert_eq!(
        phone
            .login("bob@example.org", "a new long password")
            .await
            .status,
        200
    );

    // Guessing the current password through a session is rate limited too
    // (the successful login just now reset the account's count).
    for _ in 0..5 {
        assert_eq!(
            phone.post("/api/auth/password", wrong.clone()).await.status,
            403
        );
    }
    assert_eq!(phone.post("/api/auth/password", wrong).await.status, 429);
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_refuse_everyone_else_and_sign_up_can_be_closed() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let mut ada = Agent::new(worker.url());
    let ada_id = id(&ada.signup("ada@example.org", "Ada").await);
    let mut bob = Agent::new(worker.url());
    let bob_id = id(&bob.signup("bob@example.org", "Bob").await);
    let mut stranger = Agent::new(worker.url());

    let admin_routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, "/api/admin/users".into(), None),
        (
            Method::PATCH,
            format!("/api/admin/users/{ada_id}"),
            Some(json!({ "disabled": true })),
        ),
        (
            Method::PATCH,
            format!("/api/admin/users/{bob_id}"),
            Some(json!({ "global_role": "admin" })),
        ),
        (Method::GET, "/api/admin/settings".into(), None),
        (
            Method::PUT,
            "/api/admin/settings".into(),
            Some(json!({ "signup_open": false })),
        ),
        (Method::GET, "/api/admin/audit".into(), None),
        (Method::GET, "/api/media-nodes".into(), None),
    ];
    for (method, path, body) in &admin_routes {
        let body = body.clone().map(Body::Json);
        assert_eq!(
            bob.send(method.clone(), path, body.clone()).await.status,
            403,
            "member: {method} {path}"
        );
        assert_eq!(
            stranger.send(method.clone(), path, body).await.status,
            401,
            "stranger: {method} {path}"
        );
    }
    assert_eq!(
        bob.get("/api/me").await.body["global_role"],
        "member",
        "nothing changed"
    );

    // The admin can do all of it, but cannot lock themselves out.
    assert_eq!(
        ada.get("/api/admin/users").await.body["users"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        ada.patch(
            &format!("/api/admin/users/{ada_id}"),
            json!({ "disabled": true })
        )
        .await
        .status,
        409
    );
    assert_eq!(
        ada.patch(
            &format!("/api/admin/users/{ada_id}"),
            json!({ "global_role": "member" })
        )
        .await
        .status,
        409
    );
    assert_eq!(ada.get("/api/media-nodes").await.status, 200);

    let closed = ada
        .put("/api/admin/settings", json!({ "signup_open": false }))
        .await;
    assert_eq!(closed.body, json!({ "signup_open": false }));
    assert_eq!(
        Agent::new(worker.url())
            .signup("carol@example.org", "Carol")
            .await
            .status,
        403
    );
    ada.put("/api/admin/settings", json!({ "signup_open": true }))
        .await;
    assert_eq!(
        Agent::new(worker.url())
            .signup("carol@example.org", "Carol")
            .await
            .status,
        201
    );

    let promoted = ada
        .patch(
            &format!("/api/admin/users/{bob_id}"),
            json!({ "global_role": "admin" }),
        )
        .await;
    assert_eq!(promoted.body["global_role"], "admin");
    assert_eq!(bob.get("/api/admin/users").await.status, 200);

    // Every security event is in the audit log, with who and from where.
    let audit = ada.get("/api/admin/audit?limit=1000").await;
    let actions: Vec<&str> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for expected in ["signup", "settings_changed", "global_role_changed"] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let promotion = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "global_role_changed")
        .unwrap();
    assert_eq!(
        (promotion["actor"].as_str(), promotion["target"].as_str()),
        (Some(ada_id.as_str()), Some(bob_id.as_str()))
    );
    assert_eq!(promotion["ip"], "127.0.0.1");
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_cannot_use_host_controls_and_rooms_are_private() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let mut admin = Agent::new(worker.url());
    admin.signup("admin@example.org", "Admin").await;
    let mut ada = Agent::new(worker.url());
    let ada_id = id(&ada.signup("ada@example.org", "Ada").await);
    let mut bob = Agent::new(worker.url());
    let bob_id = id(&bob.signup("bob@example.org", "Bob").await);
    let mut carol = Agent::new(worker.url());
    carol.signup("carol@example.org", "Carol").await;

    let room_a = ada
        .post("/api/rooms", json!({ "name": "Room A", "lobby": true }))
        .await;
    assert_eq!(room_a.status, 201);
    assert_eq!(
        (
            room_a.body["my_role"].as_str(),
            room_a.body["options"]["lobby"].as_bool()
        ),
        (Some("host"), Some(true))
    );
    let a = id(&room_a);
    let c = id(&carol.post("/api/rooms", json!({ "name": "Room C" })).await);

    let invite = ada
        .post(
            &format!("/api/rooms/{a}/invites"),
            json!({ "role": "participant", "expires_in": 3600 }),
        )
        .await;
    assert_eq!(invite.status, 201);
    let url = invite.body["url"].as_str().unwrap().to_owned();
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/join/", worker.url())), "{url}");
    let preview = Agent::new(worker.url())
        .get(&format!("/api/invites/{token}"))
        .await;
    assert_eq!(preview.body["room_name"], "Room A");
    let joined = bob
        .post(&format!("/api/invites/{token}/accept"), json!({}))
        .await;
    assert_eq!(joined.body, json!({ "room_id": a, "role": "participant" }));
    assert_eq!(
        bob.get(&format!("/api/rooms/{a}")).await.body["my_role"],
        "participant"
    );
    assert_eq!(
        bob.get(&format!("/api/rooms/{a}/members")).await.status,
        200
    );

    // A participant attempting every host action.
    let host_actions: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (
            Method::PATCH,
            format!("/api/rooms/{a}"),
            Some(json!({ "allow_guests": true })),
        ),
        (
            Method::PATCH,
            format!("/api/rooms/{a}"),
            Some(json!({ "locked": true })),
        ),
        (Method::POST, format!("/api/rooms/{a}/end"), Some(json!({}))),
        (
            Method::POST,
            format!("/api/rooms/{a}/invites"),
            Some(json!({ "role": "participant", "expires_in": 600 })),
        ),
        (Method::GET, format!("/api/rooms/{a}/invites"), None),
        (
            Method::DELETE,
            format!(
                "/api/rooms/{a}/invites/{}",
                invite.body["id"].as_str().unwrap()
            ),
            None,
        ),
        (
            Method::POST,
            format!("/api/rooms/{a}/members"),
            Some(json!({ "user_id": bob_id, "role": "host" })),
        ),
        (
            Method::POST,
            format!("/api/rooms/{a}/members"),
            Some(json!({ "user_id": ada_id, "role": "removed" })),
        ),
    ];
    for (method, path, body) in &host_actions {
        let r = bob
            .send(method.clone(), path, body.clone().map(Body::Json))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (403, "forbidden"),
            "participant: {method} {path}"
        );
    }
    // Requests that do not say exactly what they mean change nothing.
    let vague = ada
        .post(
            &format!("/api/rooms/{a}/members"),
            json!({ "user_id": bob_id }),
        )
        .await;
    assert_eq!(vague.status, 400, "a missing role is not a removal");
    assert_eq!(
        ada.patch(&format!("/api/rooms/{a}"), json!({ "name": "renamed" }))
            .await
            .status,
        400
    );
    let still = ada.get(&format!("/api/rooms/{a}")).await;
    assert_eq!(still.body["options"]["locked"], false);
    assert_eq!(still.body["ended_ms"], serde_json::Value::Null);

    // A user of room A reaching room C: it does not exist for them.
    for (method, path) in [
        (Method::GET, format!("/api/rooms/{c}")),
        (Method::GET, format!("/api/rooms/{c}/members")),
        (Method::GET, format!("/api/rooms/{c}/invites")),
        (Method::POST, format!("/api/rooms/{c}/end")),
    ] {
        let body = (method == Method::POST).then(|| Body::Json(json!({})));
        assert_eq!(
            bob.send(method.clone(), &path, body).await.status,
            404,
            "{method} {path}"
        );
    }
    let mine: Vec<String> = bob.get("/api/rooms").await.body["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(mine, vec![a.clone()]);
    assert_eq!(
        admin.get(&format!("/api/rooms/{c}")).await.status,
        200,
        "admins see every room"
    );

    // The host's controls work; the last host cannot be demoted.
    let demote_self = json!({ "user_id": ada_id, "role": "participant" });
    assert_eq!(
        ada.post(&format!("/api/rooms/{a}/members"), demote_self.clone())
            .await
            .status,
        409
    );
    let promote = ada
        .post(
            &format!("/api/rooms/{a}/members"),
            json!({ "user_id": bob_id, "role": "host" }),
        )
        .await;
    assert_eq!(promote.status, 200);
    assert_eq!(
        bob.get(&format!("/api/rooms/{a}/invites")).await.status,
        200,
        "bob is a host now"
    );
    assert_eq!(
        ada.post(&format!("/api/rooms/{a}/members"), demote_self)
            .await
            .status,
        200
    );
    assert_eq!(
        ada.patch(&format!("/api/rooms/{a}"), json!({ "locked": true }))
            .await
            .status,
        403
    );
    let locked = bob
        .patch(
            &format!("/api/rooms/{a}"),
            json!({ "locked": true, "max_participants": 10 }),
        )
        .await;
    assert_eq!(
        (
            locked.body["options"]["locked"].as_bool(),
            locked.body["options"]["max_participants"].as_u64()
        ),
        (Some(true), Some(10))
    );

    // Revoked invites lead nowhere.
    let invite_id = invite.body["id"].as_str().unwrap();
    assert_eq!(
        bob.delete(&format!("/api/rooms/{a}/invites/{invite_id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        carol.get(&format!("/api/invites/{token}")).await.status,
        404
    );
    assert_eq!(
        carol
            .post(&format!("/api/invites/{token}/accept"), json!({}))
            .await
            .status,
        404
    );
    assert_eq!(carol.get(&format!("/api/rooms/{a}")).await.status, 404);
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_join_by_invite_only_where_the_room_allows_guests() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let mut ada = Agent::new(worker.url());
    ada.signup("ada@example.org", "Ada").await;
    let closed = id(&ada
        .post("/api/rooms", json!({ "name": "Members only" }))
        .await);
    let open = id(&ada
        .post(
            "/api/rooms",
            json!({ "name": "Open", "allow_guests": true }),
        )
        .await);
    let invite = |room: String| {
        let mut ada = ada.clone();
        async move {
            let i = ada
                .post(
                    &format!("/api/rooms/{room}/invites"),
                    json!({ "role": "participant", "expires_in": 600 }),
                )
                .await;
            i.body["url"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        }
    };
    let closed_token = invite(closed.clone()).await;
    let open_token = invite(open.clone()).await;

    let mut guest = Agent::new(worker.url());
    let r = guest
        .post(
            &format!("/api/invites/{closed_token}/accept"),
            json!({ "guest_name": "Gus" }),
        )
        .await;
    assert_eq!(r.status, 401, "sign in to join a members-only room");
    assert_eq!(
        guest
            .post(&format!("/api/invites/{open_token}/accept"), json!({}))
            .await
            .status,
        400
    );
    let joined = guest
        .post(
            &format!("/api/invites/{open_token}/accept"),
            json!({ "guest_name": "  Gus  " }),
        )
        .await;
    assert_eq!(
        joined.body,
        json!({ "room_id": open, "role": "participant" })
    );
    assert!(guest.cookie.is_some());
    assert_eq!(
        guest.get(&format!("/api/rooms/{open}")).await.body["my_role"],
        "participant"
    );
    assert_eq!(guest.get(&format!("/api/rooms/{closed}")).await.status, 404);
    assert_eq!(
        guest.get("/api/me").await.status,
        403,
        "guests have no account"
    );
    assert_eq!(
        guest
            .post("/api/rooms", json!({ "name": "mine" }))
            .await
            .status,
        403
    );
    assert_eq!(
        guest
            .post(&format!("/api/rooms/{open}/end"), json!({}))
            .await
            .status,
        403
    );
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_cross_site_requests_are_refused() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let mut ada = Agent::new(worker.url());

    let raw = |s: &str| Some(Body::Raw(s.to_owned()));
    let r = ada
        .send(Method::POST, "/api/auth/signup", raw("{\"email\": "))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "bad_request"));
    let extra = json!({ "email": "a@example.org", "password": PASSWORD, "name": "A", "global_role": "admin" });
    assert_eq!(ada.post("/api/auth/signup", extra).await.status, 400);
    let r = ada
        .send(
            Method::POST,
            "/api/auth/signup",
            raw(&"x".repeat(17 * 1024)),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (413, "payload_too_large"));
    for (email, password, name) in [
        ("not-an-email", PASSWORD, "A"),
        ("a@example.org", "short", "A"),
        ("a@example.org", PASSWORD, "   "),
        ("a@example.org", PASSWORD, "bell\u{7}"),
    ] {
        let r = ada
            .post(
                "/api/auth/signup",
                json!({ "email": email, "password": password, "name": name }),
            )
            .await;
        assert_eq!(r.status, 400, "{email} {password} {name:?}");
        assert!(r.body["error"]["message"].is_string());
    }
    assert_eq!(
        Agent::new(worker.url())
            .get("/api/admin/users")
            .await
            .status,
        401,
        "no account was created"
    );
    assert_eq!(ada.signup("a@example.org", "A").await.status, 201);
    let r = ada
        .post("/api/rooms", json!({ "name": "x", "max_participants": 0 }))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(ada.send(Method::PUT, "/api/rooms", None).await.status, 405);

    // A cross-site form or fetch with the victim's cookie.
    for (name, value) in [
        ("Origin", "https://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        let mut victim = ada.clone();
        victim.headers.push((name.into(), value.into()));
        let r = victim
            .post("/api/rooms", json!({ "name": "planted" }))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (403, "forbidden"),
            "{name}: {value}"
        );
    }
    let mut same = ada.clone();
    same.headers.push(("Origin".into(), worker.url().into()));
    same.headers
        .push(("Sec-Fetch-Site".into(), "same-origin".into()));
    assert_eq!(
        same.post("/api/rooms", json!({ "name": "legit" }))
            .await
            .status,
        201
    );
    let names: Vec<String> = ada.get("/api/rooms").await.body["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, vec!["legit"]);
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited_per_account_and_per_address() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let mut ada = Agent::new(worker.url());
    ada.signup("ada@example.org", "Ada").await;
    let mut bob = Agent::new(worker.url());
    bob.signup("bob@example.org", "Bob").await;

    let mut attacker = Agent::new(worker.url());
    for _ in 0..5 {
        assert_eq!(
            attacker
                .login("ada@example.org", "guess guess")
                .await
                .status,
            401
        );
    }
    // Locked for this account, even with the right password.
    let r = attacker.login("ada@example.org", PASSWORD).await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "too_many_requests"));
    // Other accounts are unaffected until the address runs out of attempts.
    assert_eq!(
        attacker.login("bob@example.org", PASSWORD).await.status,
        200
    );
    for i in 0..15 {
        assert_eq!(
            attacker
                .login(&format!("user{i}@example.org"), "guess guess")
                .await
                .status,
            401
        );
    }
    assert_eq!(
        attacker.login("bob@example.org", PASSWORD).await.status,
        429
    );
    let audit = ada.get("/api/admin/audit?limit=1000").await;
    let limited = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "login_rate_limited")
        .count();
    assert_eq!(limited, 2);
    worker.stop();
}
