//! `/api/layouts`: layouts saved on the caller's account (guests have none).
//! At most one is the default, which the browser applies on opening a room.

use protocol::layout::{Layout, MAX_NAME_CHARS, MAX_SAVED, SaveLayout, SavedLayout, SavedLayouts};
use serde::Deserialize;
use worker::{Request, Response};

use super::ctx::{Ctx, num, random_id};
use super::{MAX_JSON_BYTES, Result, read_json};
use crate::error::ApiError;
use crate::input;

#[derive(Deserialize)]
struct LayoutRow {
    id: String,
    name: String,
    body: String,
    is_default: i64,
}

impl LayoutRow {
    fn into_saved(self) -> Result<SavedLayout> {
        let layout: Layout = serde_json::from_str(&self.body)
            .map_err(|e| ApiError::Internal(format!("stored layout: {e}")))?;
        Ok(SavedLayout {
            id: self.id,
            name: self.name,
            layout,
            default: self.is_default != 0,
        })
    }
}

/// A body's name and layout, checked.
fn checked(body: &SaveLayout) -> Result<(String, String)> {
    let name = input::text("name", &body.name, MAX_NAME_CHARS)?;
    body.layout
        .check()
        .map_err(|e| ApiError::BadRequest(format!("layout: {e}")))?;
    let json = serde_json::to_string(&body.layout)
        .map_err(|e| ApiError::Internal(format!("layout: {e}")))?;
    Ok((name, json))
}

async fn clear_default(ctx: &Ctx<'_>, user: &str) -> Result<()> {
    ctx.stmt(
        "UPDATE layouts SET is_default = 0 WHERE user_id = ?1",
        &[user.into()],
    )?
    .run()
    .await?;
    Ok(())
}

async fn one(ctx: &Ctx<'_>, user: &str, id: &str) -> Result<SavedLayout> {
    let row: Option<LayoutRow> = ctx
        .stmt(
            "SELECT id, name, body, is_default FROM layouts WHERE id = ?1 AND user_id = ?2",
            &[id.into(), user.into()],
        )?
        .first(None)
        .await?;
    row.ok_or(ApiError::NotFound("layout"))?.into_saved()
}

/// `GET /api/layouts`.
pub async fn list(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    let (user, _, _) = ctx.require_user(req).await?;
    let rows: Vec<LayoutRow> = ctx
        .stmt(
            "SELECT id, name, body, is_default FROM layouts WHERE user_id = ?1
             ORDER BY created_ms, id",
            &[user.as_str().into()],
        )?
        .all()
        .await?
        .results()?;
    let layouts = rows
        .into_iter()
        .map(LayoutRow::into_saved)
        .collect::<Result<Vec<_>>>()?;
    super::json(&SavedLayouts { layouts })
}

/// `POST /api/layouts`.
pub async fn create(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    let (user, _, _) = ctx.require_user(req).await?;
    let body: SaveLayout = read_json(req, MAX_JSON_BYTES).await?;
    let (name, json) = checked(&body)?;
    #[derive(Deserialize)]
    struct Count {
        n: i64,
    }
    let count: Option<Count> = ctx
        .stmt(
            "SELECT COUNT(*) AS n FROM layouts WHERE user_id = ?1",
            &[user.as_str().into()],
        )?
        .first(None)
        .await?;
    if count.map_or(0, |c| c.n) >= MAX_SAVED as i64 {
        return Err(ApiError::Conflict(format!(
            "an account keeps at most {MAX_SAVED} layouts"
        )));
    }
    if body.default {
        clear_default(ctx, user.as_str()).await?;
    }
    let id = random_id::<12>()?;
    ctx.stmt(
        "INSERT INTO layouts (id, user_id, name, body, is_default, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            id.as_str().into(),
            user.as_str().into(),
            name.as_str().into(),
            json.into(),
            num(i64::from(body.default)),
            num(ctx.now_ms),
        ],
    )?
    .run()
    .await?;
    super::created(&one(ctx, user.as_str(), &id).await?)
}

/// `PUT /api/layouts/{id}`.
pub async fn update(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    let (user, _, _) = ctx.require_user(req).await?;
    let body: SaveLayout = read_json(req, MAX_JSON_BYTES).await?;
    let (name, json) = checked(&body)?;
    one(ctx, user.as_str(), id).await?;
    if body.default {
        clear_default(ctx, user.as_str()).await?;
    }
    ctx.stmt(
        "UPDATE layouts SET name = ?3, body = ?4, is_default = ?5 WHERE id = ?1 AND user_id = ?2",
        &[
            id.into(),
            user.as_str().into(),
            name.as_str().into(),
            json.into(),
            num(i64::from(body.default)),
        ],
    )?
    .run()
    .await?;
    super::json(&one(ctx, user.as_str(), id).await?)
}

/// `DELETE /api/layouts/{id}`.
pub async fn delete(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    let (user, _, _) = ctx.require_user(req).await?;
    let result = ctx
        .stmt(
            "DELETE FROM layouts WHERE id = ?1 AND user_id = ?2",
            &[id.into(), user.as_str().into()],
        )?
        .run()
        .await?;
    if result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 0 {
        return Err(ApiError::NotFound("layout"));
    }
    super::no_content()
}
