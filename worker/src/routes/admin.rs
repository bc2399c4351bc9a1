//! Admin routes: accounts, deployment settings, the audit log.

use protocol::access::{self, GlobalRole, Permission};
use protocol::account::{AuditEvent, AuditLog, Settings, UserList, UserUpdate};
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

use super::auth::{USER_COLUMNS, UserRow, load_user, signup_open};
use super::ctx::{Ctx, global_role_name, num};
use super::{MAX_JSON_BYTES, Result, read_json};
use crate::error::ApiError;

/// The caller's actor id, if it holds `perm` deployment-wide.
async fn require(ctx: &Ctx<'_>, req: &Request, perm: Permission) -> Result<String> {
    let who = ctx.require(req).await?;
    access::check(who.global_grants(), perm)?;
    Ok(who.actor())
}

/// `GET /api/admin/users`.
pub async fn users(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    require(ctx, req, Permission::ManageUsers).await?;
    let rows: Vec<UserRow> = ctx
        .stmt(
            &format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_ms, id"),
            &[],
        )?
        .all()
        .await?
        .results()?;
    let users = rows
        .into_iter()
        .map(UserRow::into_user)
        .collect::<Result<Vec<_>>>()?;
    super::json(&UserList { users })
}

/// `PATCH /api/admin/users/{id}`: disable (ending all sessions), enable,
/// promote or demote. Admins cannot lock themselves out.
pub async fn update_user(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    let actor = require(ctx, req, Permission::ManageUsers).await?;
    let body: UserUpdate = read_json(req, MAX_JSON_BYTES).await?;
    let target = load_user(ctx, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let demoting_self = body.global_role.is_some_and(|r| r != GlobalRole::Admin);
    if target.id == actor && (body.disabled == Some(true) || demoting_self) {
        return Err(ApiError::Conflict(
            "admins cannot disable or demote themselves".into(),
        ));
    }
    let mut stmts = Vec::new();
    if let Some(disabled) = body.disabled {
        stmts.push(ctx.stmt(
            "UPDATE users SET disabled = ?2 WHERE id = ?1",
            &[target.id.as_str().into(), num(i64::from(disabled))],
        )?);
        if disabled {
            stmts.push(ctx.stmt(
                "DELETE FROM sessions WHERE user_id = ?1",
                &[target.id.as_str().into()],
            )?);
        }
    }
    if let Some(role) = body.global_role {
        stmts.push(ctx.stmt(
            "UPDATE users SET global_role = ?2 WHERE id = ?1",
            &[target.id.as_str().into(), global_role_name(role).into()],
        )?);
    }
    if stmts.is_empty() {
        return Err(ApiError::BadRequest("nothing to change".into()));
    }
    ctx.db()?.batch(stmts).await?;
    if let Some(disabled) = body.disabled {
        let action = if disabled {
            "user_disabled"
        } else {
            "user_enabled"
        };
        ctx.audit(Some(&actor), action, Some(&target.id), None)
            .await?;
    }
    if let Some(role) = body.global_role {
        let detail = json!({ "from": target.global_role, "to": global_role_name(role) });
        ctx.audit(
            Some(&actor),
            "global_role_changed",
            Some(&target.id),
            Some(detail),
        )
        .await?;
    }
    let user = load_user(ctx, &target.id)
        .await?
        .ok_or(ApiError::NotFound("user"))?
        .into_user()?;
    super::json(&user)
}

/// `GET /api/admin/settings`.
pub async fn settings(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    require(ctx, req, Permission::ManageSettings).await?;
    super::json(&Settings {
        signup_open: signup_open(ctx).await?,
    })
}

/// `PUT /api/admin/settings`.
pub async fn put_settings(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    let actor = require(ctx, req, Permission::ManageSettings).await?;
    let body: Settings = read_json(req, MAX_JSON_BYTES).await?;
    ctx.stmt(
        "INSERT INTO settings (key, value) VALUES ('signup_open', ?1)
         ON CONFLICT (key) DO UPDATE SET value = ?1",
        &[if body.signup_open { "true" } else { "false" }.into()],
    )?
    .run()
    .await?;
    let detail = serde_json::to_value(body).ok();
    ctx.audit(Some(&actor), "settings_changed", None, detail)
        .await?;
    super::json(&body)
}

#[derive(Deserialize)]
struct AuditRow {
    id: i64,
    at_ms: i64,
    actor: Option<String>,
    action: String,
    target: Option<String>,
    ip: Option<String>,
    detail: Option<String>,
}

/// `GET /api/admin/audit?limit=N`: newest first.
pub async fn audit(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    require(ctx, req, Permission::ReadAudit).await?;
    let limit = req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let rows: Vec<AuditRow> = ctx
        .stmt(
            "SELECT id, at_ms, actor, action, target, ip, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
            &[num(limit)],
        )?
        .all()
        .await?
        .results()?;
    let events = rows
        .into_iter()
        .map(|r| AuditEvent {
            id: r.id,
            at_ms: r.at_ms,
            actor: r.actor,
            action: r.action,
            target: r.target,
            ip: r.ip,
            detail: r.detail,
        })
        .collect();
    super::json(&AuditLog { events })
}
