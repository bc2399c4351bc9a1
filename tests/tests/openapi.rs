//! `docs/openapi.yaml` stays true: every operation it documents is routed by
//! the real worker (no 404 "route not found", no 405).

mod common;

use e2e::api::{Agent, Body};
use reqwest::Method;

/// (method, path) of every operation in the document, read line by line:
/// paths are the two-space-indented keys under `paths:`, methods the
/// four-space-indented keys below them.
fn documented_operations(yaml: &str) -> Vec<(Method, String)> {
    let mut ops = Vec::new();
    let mut in_paths = false;
    let mut path = String::new();
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /") {
            path = format!("/{}", p.trim_end().trim_end_matches(':'));
        } else if let Some(m) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            && ["get", "post", "put", "patch", "delete"].contains(&m)
            && let Ok(method) = m.to_uppercase().parse::<Method>()
        {
            ops.push((method, path.clone()));
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed() {
    let setup = common::Setup::new();
    let yaml = std::fs::read_to_string(setup.paths.root.join("docs/openapi.yaml")).unwrap();
    let ops = documented_operations(&yaml);
    assert!(ops.len() >= 25, "found only {} operations", ops.len());
    let worker = setup.worker().await;
    let mut stranger = Agent::new(worker.url());
    for (method, template) in ops {
        let path = template
            .replace("{id}", "abc")
            .replace("{invite}", "inv")
            .replace("{token}", &"0".repeat(64));
        let body =
            (method != Method::GET && method != Method::DELETE).then(|| Body::Raw("{}".into()));
        let answer = stranger.send(method.clone(), &path, body).await;
        let unrouted = answer.status == 405 || answer.body["error"]["message"] == "route not found";
        assert!(
            !unrouted,
            "{method} {template} is documented but not routed: {:?}",
            answer.body
        );
    }
    worker.stop();
}
