//! A JSON API client that keeps its session cookie, like one browser would.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// One user agent: a base URL and the session cookie it was given.
#[derive(Debug, Clone)]
pub struct Agent {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The `ot_session=...` pair, once the server set one.
    pub cookie: Option<String>,
    /// Extra headers sent with every request (`Origin`, `Sec-Fetch-Site`).
    pub headers: Vec<(String, String)>,
}

/// An answer: status and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Value,
}

impl Answer {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Agent {
    /// A client without a session.
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            cookie: None,
            headers: Vec::new(),
        }
    }

    /// Sends `method path` with an optional JSON body (a `String` body is
    /// sent as is, to test malformed input).
    pub async fn send(&mut self, method: Method, path: &str, body: Option<Body>) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        req = match body {
            Some(Body::Json(v)) => req.json(&v),
            Some(Body::Raw(s)) => req.header("Content-Type", "application/json").body(s),
            None => req,
        };
        let resp = req.send().await.expect("request reaches the worker");
        let status = resp.status();
        if let Some(set) = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
        {
            let pair = set.split(';').next().unwrap_or_default().trim().to_owned();
            self.cookie = pair
                .split_once('=')
                .filter(|(_, v)| !v.is_empty())
                .map(|_| pair.clone());
        }
        let text = resp.text().await.unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// GET.
    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// POST with JSON.
    pub async fn post(&mut self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(Body::Json(body))).await
    }

    /// PATCH with JSON.
    pub async fn patch(&mut self, path: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(Body::Json(body))).await
    }

    /// PUT with JSON.
    pub async fn put(&mut self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(Body::Json(body))).await
    }

    /// DELETE.
    pub async fn delete(&mut self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None).await
    }

    /// Signs up and keeps the session.
    pub async fn signup(&mut self, email: &str, name: &str) -> Answer {
        let body = serde_json::json!({ "email": email, "password": PASSWORD, "name": name });
        self.post("/api/auth/signup", body).await
    }

    /// Logs in and keeps the session.
    pub async fn login(&mut self, email: &str, password: &str) -> Answer {
        self.post(
            "/api/auth/login",
            serde_json::json!({ "email": email, "password": password }),
        )
        .await
    }
}

/// The password the helpers sign up with.
pub const PASSWORD: &str = "correct horse battery";

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// Serialised JSON.
    Json(Value),
    /// Bytes as given.
    Raw(String),
}
