//! Sign-up, login, logout, the signed-in account, password change.

use protocol::UserId;
use protocol::account::{LoginRequest, PasswordChange, SignupRequest, User};
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

use super::ctx::{Ctx, global_role_name, num, parse_global_role, random, random_id};
use super::{MAX_JSON_BYTES, Result, read_json};
use crate::error::ApiError;
use crate::{guard, input, password, session};

#[derive(Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub global_role: String,
    pub disabled: i64,
    pub created_ms: i64,
}

impl UserRow {
    pub fn into_user(self) -> Result<User> {
        Ok(User {
            id: UserId::parse(&self.id).map_err(|e| ApiError::Internal(e.to_string()))?,
            email: self.email,
            name: self.name,
            global_role: parse_global_role(&self.global_role)?,
            disabled: self.disabled != 0,
            created_ms: self.created_ms,
        })
    }
}

pub const USER_COLUMNS: &str = "id, email, name, global_role, disabled, created_ms";

pub async fn load_user(ctx: &Ctx<'_>, id: &str) -> Result<Option<UserRow>> {
    Ok(ctx
        .stmt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
            &[id.into()],
        )?
        .first(None)
        .await?)
}

fn with_cookie(resp: Response, cookie: &str) -> Result<Response> {
    let mut resp = resp;
    resp.headers_mut().set("Set-Cookie", cookie)?;
    Ok(resp)
}

#[derive(Deserialize)]
struct Setting {
    value: String,
}

pub async fn signup_open(ctx: &Ctx<'_>) -> Result<bool> {
    let s: Option<Setting> = ctx
        .stmt("SELECT value FROM settings WHERE key = 'signup_open'", &[])?
        .first(None)
        .await?;
    Ok(s.is_none_or(|s| s.value == "true"))
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

/// `POST /api/auth/signup`: the first account becomes admin.
pub async fn signup(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    let body: SignupRequest = read_json(req, MAX_JSON_BYTES).await?;
    let email = input::email(&body.email)?;
    let name = input::text("name", &body.name, input::MAX_NAME_CHARS)?;
    input::new_password(&body.password)?;
    let users: Count = ctx
        .stmt("SELECT COUNT(*) AS n FROM users", &[])?
        .first(None)
        .await?
        .ok_or_else(|| ApiError::Internal("count returned no row".into()))?;
    if users.n > 0 && !signup_open(ctx).await? {
        return Err(ApiError::Forbidden(
            "sign-up is closed; ask an admin for an account".into(),
        ));
    }
    let hash = password::hash(&body.password, &random::<16>()?).map_err(ApiError::Internal)?;
    let id = random_id::<16>()?;
    // One statement decides the role, so two first sign-ups cannot both
    // become admin.
    let inserted = ctx
        .stmt(
            "INSERT INTO users (id, email, name, password_hash, global_role, disabled, created_ms)
             SELECT ?1, ?2, ?3, ?4,
                    CASE WHEN EXISTS (SELECT 1 FROM users) THEN 'member' ELSE 'admin' END, 0, ?5",
            &[
                id.as_str().into(),
                email.as_str().into(),
                name.as_str().into(),
                hash.into(),
                num(ctx.now_ms),
            ],
        )?
        .run()
        .await;
    if let Err(e) = inserted {
        let text = e.to_string();
        if text.contains("UNIQUE") {
            return Err(ApiError::Conflict(
                "an account with this email exists".into(),
            ));
        }
        return Err(ApiError::Internal(text));
    }
    let user = load_user(ctx, &id)
        .await?
        .ok_or_else(|| ApiError::Internal("new user missing".into()))?
        .into_user()?;
    ctx.audit(
        Some(&id),
        "signup",
        Some(&id),
        Some(json!({ "global_role": global_role_name(user.global_role) })),
    )
    .await?;
    let cookie = ctx.start_session(Some(&id), None).await?;
    with_cookie(super::created(&user)?, &cookie)
}

#[derive(Deserialize)]
struct Failures {
    failures: i64,
    window_start_ms: i64,
}

async fn limited(ctx: &Ctx<'_>, key: &str, max: i64) -> Result<bool> {
    let row: Option<Failures> = ctx
        .stmt(
            "SELECT failures, window_start_ms FROM login_failures WHERE key = ?1",
            &[key.into()],
        )?
        .first(None)
        .await?;
    Ok(
        row.is_some_and(|r| {
            !guard::attempt_allowed(r.failures, r.window_start_ms, ctx.now_ms, max)
        }),
    )
}

async fn count_failure(ctx: &Ctx<'_>, keys: &[&str]) -> Result<()> {
    let mut stmts = Vec::new();
    for key in keys {
        stmts.push(ctx.stmt(
            "INSERT INTO login_failures (key, failures, window_start_ms) VALUES (?1, 1, ?2)
             ON CONFLICT (key) DO UPDATE SET
               failures = CASE WHEN ?2 - window_start_ms >= ?3 THEN 1 ELSE failures + 1 END,
               window_start_ms = CASE WHEN ?2 - window_start_ms >= ?3 THEN ?2 ELSE window_start_ms END",
            &[(*key).into(), num(ctx.now_ms), num(guard::WINDOW_MS)],
        )?);
    }
    ctx.db()?.batch(stmts).await?;
    Ok(())
}

#[derive(Deserialize)]
struct Credentials {
    id: String,
    password_hash: String,
    disabled: i64,
}

/// `POST /api/auth/login`: one generic error for every failure.
pub async fn login(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    let body: LoginRequest = read_json(req, MAX_JSON_BYTES).await?;
    let email = body.email.trim().to_lowercase();
    let account_key = format!("account:{email}");
    let address_key = format!("address:{}", ctx.ip.as_deref().unwrap_or("unknown"));
    if limited(ctx, &account_key, guard::MAX_FAILURES_PER_ACCOUNT).await?
        || limited(ctx, &address_key, guard::MAX_FAILURES_PER_ADDRESS).await?
    {
        ctx.audit(None, "login_rate_limited", Some(&email), None)
            .await?;
        return Err(ApiError::TooManyRequests);
    }
    let creds: Option<Credentials> = ctx
        .stmt(
            "SELECT id, password_hash, disabled FROM users WHERE email = ?1",
            &[email.as_str().into()],
        )?
        .first(None)
        .await?;
    // Verify even for an unknown email, so timing tells nothing.
    let stored = creds
        .as_ref()
        .map_or(password::DUMMY_HASH, |c| c.password_hash.as_str());
    let matches = password::verify(&body.password, stored);
    let user_id = match creds {
        Some(c) if matches && c.disabled == 0 => c.id,
        found => {
            count_failure(ctx, &[&account_key, &address_key]).await?;
            let why = match &found {
                None => "unknown_email",
                Some(c) if c.disabled != 0 => "disabled",
                Some(_) => "wrong_password",
            };
            let actor = found.map(|c| c.id);
            ctx.audit(
                actor.as_deref(),
                "login_failed",
                Some(&email),
                Some(json!({ "reason": why })),
            )
            .await?;
            return Err(ApiError::Unauthorized);
        }
    };
    ctx.stmt(
        "DELETE FROM login_failures WHERE key = ?1",
        &[account_key.into()],
    )?
    .run()
    .await?;
    ctx.audit(Some(&user_id), "login_ok", Some(&user_id), None)
        .await?;
    let cookie = ctx.start_session(Some(&user_id), None).await?;
    let user = load_user(ctx, &user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?
        .into_user()?;
    with_cookie(super::json(&user)?, &cookie)
}

/// `POST /api/auth/logout`: ends this session.
pub async fn logout(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    let who = ctx.principal(req).await?;
    if let Some(hash) = Ctx::session_hash(req)? {
        ctx.stmt("DELETE FROM sessions WHERE token_hash = ?1", &[hash.into()])?
            .run()
            .await?;
    }
    if let Some(who) = who {
        let actor = who.actor();
        ctx.audit(Some(&actor), "logout", Some(&actor), None)
            .await?;
    }
    with_cookie(
        super::no_content()?,
        &session::clear_cookie(ctx.secure_cookies),
    )
}

/// `GET /api/me`.
pub async fn me(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    let (id, ..) = ctx.require_user(req).await?;
    let user = load_user(ctx, id.as_str())
        .await?
        .ok_or(ApiError::Unauthorized)?
        .into_user()?;
    super::json(&user)
}

/// `POST /api/auth/password`: ends every session of the account, then starts
/// a new one for this browser.
pub async fn change_password(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    let (id, ..) = ctx.require_user(req).await?;
    let body: PasswordChange = read_json(req, MAX_JSON_BYTES).await?;
    #[derive(Deserialize)]
    struct Current {
        email: String,
        password_hash: String,
    }
    let current: Current = ctx
        .stmt(
            "SELECT email, password_hash FROM users WHERE id = ?1",
            &[id.as_str().into()],
        )?
        .first(None)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    // Guessing the password through a stolen session counts against the
    // same per-account limit as guessing it at login.
    let account_key = format!("account:{}", current.email);
    if limited(ctx, &account_key, guard::MAX_FAILURES_PER_ACCOUNT).await? {
        ctx.audit(
            Some(id.as_str()),
            "password_change_rate_limited",
            Some(id.as_str()),
            None,
        )
        .await?;
        return Err(ApiError::TooManyRequests);
    }
    if !password::verify(&body.current_password, &current.password_hash) {
        count_failure(ctx, &[&account_key]).await?;
        ctx.audit(
            Some(id.as_str()),
            "password_change_failed",
            Some(id.as_str()),
            None,
        )
        .await?;
        return Err(ApiError::Forbidden("current password is wrong".into()));
    }
    input::new_password(&body.new_password)?;
    let hash = password::hash(&body.new_password, &random::<16>()?).map_err(ApiError::Internal)?;
    ctx.db()?
        .batch(vec![
            ctx.stmt(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                &[id.as_str().into(), hash.into()],
            )?,
            ctx.stmt(
                "DELETE FROM sessions WHERE user_id = ?1",
                &[id.as_str().into()],
            )?,
        ])
        .await?;
    ctx.audit(
        Some(id.as_str()),
        "password_changed",
        Some(id.as_str()),
        None,
    )
    .await?;
    let cookie = ctx.start_session(Some(id.as_str()), None).await?;
    with_cookie(super::no_content()?, &cookie)
}
