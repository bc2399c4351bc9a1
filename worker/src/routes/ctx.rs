//! Per-request context and the caller's identity.

use protocol::access::{GlobalRole, Grants, RoomRole};
use protocol::{RoomId, UserId};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env, Request};

use super::Result;
use crate::error::ApiError;
use crate::session;

/// What every handler needs about the request and the deployment.
pub struct Ctx<'a> {
    pub env: &'a Env,
    /// The request's time, read once.
    pub now_ms: i64,
    /// The client's address, as Cloudflare reports it.
    pub ip: Option<String>,
    /// `scheme://host[:port]` of this deployment, for links and the
    /// cross-site check.
    pub origin: String,
    /// Whether cookies get `Secure` (everywhere but localhost).
    pub secure_cookies: bool,
}

/// A number as D1 takes it (JavaScript numbers; D1 refuses BigInt).
pub fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

/// `n` random bytes from the platform's CSPRNG.
pub fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("random: {e}")))?;
    Ok(bytes)
}

/// A random id of `LEN` characters of `a-z2-7` (5 bits each).
pub fn random_id<const LEN: usize>() -> Result<String> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    Ok(random::<LEN>()?
        .iter()
        .map(|b| ALPHABET[(b & 31) as usize] as char)
        .collect())
}

/// The signed-in caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An account.
    User {
        id: UserId,
        name: String,
        global_role: GlobalRole,
    },
    /// A guest admitted to one room by an invite.
    Guest {
        id: String,
        name: String,
        room_id: RoomId,
        role: RoomRole,
    },
}

impl Principal {
    /// For the audit log.
    pub fn actor(&self) -> String {
        match self {
            Principal::User { id, .. } => id.to_string(),
            Principal::Guest { id, .. } => format!("guest:{id}"),
        }
    }

    /// Deployment-wide grants (no room role).
    pub fn global_grants(&self) -> Grants {
        match self {
            Principal::User { global_role, .. } => Grants {
                global: Some(*global_role),
                room: None,
            },
            Principal::Guest { .. } => Grants::default(),
        }
    }
}

#[derive(Deserialize)]
struct SessionRow {
    user_id: Option<String>,
    user_name: Option<String>,
    global_role: Option<String>,
    guest_id: Option<String>,
    guest_room: Option<String>,
    guest_role: Option<String>,
    guest_name: Option<String>,
}

pub fn parse_global_role(s: &str) -> Result<GlobalRole> {
    match s {
        "admin" => Ok(GlobalRole::Admin),
        "member" => Ok(GlobalRole::Member),
        other => Err(ApiError::Internal(format!(
            "unknown global role {other:?} in D1"
        ))),
    }
}

pub fn parse_room_role(s: &str) -> Result<RoomRole> {
    RoomRole::parse(s).ok_or_else(|| ApiError::Internal(format!("unknown room role {s:?} in D1")))
}

pub fn room_role_name(r: RoomRole) -> &'static str {
    r.as_str()
}

pub fn global_role_name(r: GlobalRole) -> &'static str {
    match r {
        GlobalRole::Admin => "admin",
        GlobalRole::Member => "member",
    }
}

impl<'a> Ctx<'a> {
    pub fn new(req: &Request, env: &'a Env) -> Result<Self> {
        let url = req.url()?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Ok(Self {
            env,
            now_ms: worker::Date::now().as_millis() as i64,
            ip: req.headers().get("CF-Connecting-IP")?,
            origin: url.origin().ascii_serialization(),
            secure_cookies: !session::is_local_host(&host),
        })
    }

    pub fn db(&self) -> Result<D1Database> {
        Ok(self.env.d1("DB")?)
    }

    /// A statement with its arguments bound.
    pub fn stmt(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement> {
        Ok(self.db()?.prepare(sql).bind(args)?)
    }

    /// A setting of the deployment, as text.
    pub fn var(&self, name: &str) -> Option<String> {
        self.env.var(name).ok().map(|v| v.to_string())
    }

    /// How long new sessions last.
    pub fn session_ttl_seconds(&self) -> u64 {
        self.var("SESSION_TTL_SECONDS")
            .and_then(|v| v.parse().ok())
            .filter(|s| *s > 0)
            .unwrap_or(session::DEFAULT_TTL_SECONDS)
    }

    /// Records a security event. Failing to audit fails the request: an
    /// action that cannot be traced does not happen.
    pub async fn audit(
        &self,
        actor: Option<&str>,
        action: &str,
        target: Option<&str>,
        detail: Option<serde_json::Value>,
    ) -> Result<()> {
        let opt = |s: Option<&str>| s.map(JsValue::from).unwrap_or(JsValue::NULL);
        let detail = detail.map(|d| d.to_string());
        self.stmt(
            "INSERT INTO audit_log (at_ms, actor, action, target, ip, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[num(self.now_ms), opt(actor), action.into(), opt(target), opt(self.ip.as_deref()), opt(detail.as_deref())],
        )?
        .run()
        .await?;
        Ok(())
    }

    /// The session token hash from the request's cookie, if well-formed.
    pub fn session_hash(req: &Request) -> Result<Option<String>> {
        let cookies = req.headers().get("Cookie")?.unwrap_or_default();
        Ok(session::from_cookie_header(&cookies).and_then(session::token_hash))
    }

    /// Who is asking, from a live session; `None` for strangers.
    pub async fn principal(&self, req: &Request) -> Result<Option<Principal>> {
        let Some(hash) = Self::session_hash(req)? else {
            return Ok(None);
        };
        let row: Option<SessionRow> = self
            .stmt(
                "SELECT u.id AS user_id, u.name AS user_name, u.global_role AS global_role,
                        g.id AS guest_id, g.room_id AS guest_room, g.role AS guest_role, g.name AS guest_name
                 FROM sessions s
                 LEFT JOIN users u ON u.id = s.user_id AND u.disabled = 0
                 LEFT JOIN guests g ON g.id = s.guest_id
                 WHERE s.token_hash = ?1 AND s.expires_ms > ?2",
                &[hash.into(), num(self.now_ms)],
            )?
            .first(None)
            .await?;
        let Some(row) = row else { return Ok(None) };
        match (
            row.user_id,
            row.user_name,
            row.global_role,
            row.guest_id,
            row.guest_room,
            row.guest_role,
        ) {
            (Some(id), Some(name), Some(role), ..) => Ok(Some(Principal::User {
                id: UserId::parse(&id).map_err(|e| ApiError::Internal(e.to_string()))?,
                name,
                global_role: parse_global_role(&role)?,
            })),
            (_, _, _, Some(id), Some(room), Some(role)) => Ok(Some(Principal::Guest {
                id,
                name: row.guest_name.unwrap_or_default(),
                room_id: RoomId::parse(&room).map_err(|e| ApiError::Internal(e.to_string()))?,
                role: parse_room_role(&role)?,
            })),
            // A session of a disabled user.
            _ => Ok(None),
        }
    }

    /// The caller, or 401.
    pub async fn require(&self, req: &Request) -> Result<Principal> {
        self.principal(req).await?.ok_or(ApiError::Unauthorized)
    }

    /// The caller's account, or 401 (strangers) / 403 (guests).
    pub async fn require_user(&self, req: &Request) -> Result<(UserId, String, GlobalRole)> {
        match self.require(req).await? {
            Principal::User {
                id,
                name,
                global_role,
            } => Ok((id, name, global_role)),
            Principal::Guest { .. } => Err(ApiError::Forbidden("guests have no account".into())),
        }
    }

    /// Starts a session for an account or guest; returns the `Set-Cookie` value.
    pub async fn start_session(
        &self,
        user_id: Option<&str>,
        guest_id: Option<&str>,
    ) -> Result<String> {
        let token = session::encode_token(&random::<32>()?);
        let hash = session::token_hash(&token)
            .ok_or_else(|| ApiError::Internal("token encoding".into()))?;
        let ttl = self.session_ttl_seconds();
        let opt = |s: Option<&str>| s.map(JsValue::from).unwrap_or(JsValue::NULL);
        self.stmt(
            "INSERT INTO sessions (token_hash, user_id, guest_id, created_ms, expires_ms, ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                hash.into(),
                opt(user_id),
                opt(guest_id),
                num(self.now_ms),
                num(self.now_ms + (ttl as i64) * 1000),
                opt(self.ip.as_deref()),
            ],
        )?
        .run()
        .await?;
        Ok(session::set_cookie(&token, ttl, self.secure_cookies))
    }
}
