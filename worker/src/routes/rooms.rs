//! Rooms, their members and invites, and joining by invite.

use protocol::access::{self, Grants, Permission, RoomRole};
use protocol::account::{
    AcceptInvite, CreateInvite, CreateRoom, Invite, InviteList, InvitePreview, Joined, Room,
    RoomList, RoomMember, RoomMemberList, RoomOptions, RoomOptionsPatch, SetRoomRole,
};
use protocol::{InviteId, RoomId, UserId};
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{Request, Response};

use super::ctx::{Ctx, Principal, num, parse_room_role, random, random_id, room_role_name};
use super::{MAX_JSON_BYTES, Result, read_json};
use crate::error::ApiError;
use crate::{input, session};

/// Longest and shortest invite lifetimes.
const INVITE_SECONDS: std::ops::RangeInclusive<u64> = 60..=30 * 24 * 3600;
/// Bounds of a room's size.
const MAX_PARTICIPANTS: std::ops::RangeInclusive<u32> = 1..=1000;

#[derive(Deserialize)]
struct RoomRow {
    id: String,
    name: String,
    owner_id: String,
    allow_guests: i64,
    lobby: i64,
    locked: i64,
    max_participants: i64,
    created_ms: i64,
    ended_ms: Option<i64>,
    my_role: Option<String>,
}

const ROOM_COLUMNS: &str = "r.id, r.name, r.owner_id, r.allow_guests, r.lobby, r.locked, \
    r.max_participants, r.created_ms, r.ended_ms";

impl RoomRow {
    fn options(&self) -> RoomOptions {
        RoomOptions {
            allow_guests: self.allow_guests != 0,
            lobby: self.lobby != 0,
            locked: self.locked != 0,
            max_participants: u32::try_from(self.max_participants).unwrap_or(0),
        }
    }

    fn role(&self) -> Result<Option<RoomRole>> {
        self.my_role.as_deref().map(parse_room_role).transpose()
    }

    fn into_room(self) -> Result<Room> {
        let internal = |e: protocol::IdError| ApiError::Internal(e.to_string());
        Ok(Room {
            id: RoomId::parse(&self.id).map_err(internal)?,
            owner_id: UserId::parse(&self.owner_id).map_err(internal)?,
            options: self.options(),
            my_role: self.role()?,
            name: self.name,
            created_ms: self.created_ms,
            ended_ms: self.ended_ms,
        })
    }
}

fn parse_room_id(id: &str) -> Result<RoomId> {
    RoomId::parse(id).map_err(|e| ApiError::BadRequest(format!("room id: {e}")))
}

/// The caller, the room and what the caller may do in it. A room the caller
/// may not see is reported as missing, so ids cannot be probed.
async fn access(ctx: &Ctx<'_>, req: &Request, id: &str) -> Result<(Principal, RoomRow, Grants)> {
    let room_id = parse_room_id(id)?;
    let who = ctx.require(req).await?;
    let user_id = match &who {
        Principal::User { id, .. } => JsValue::from(id.as_str()),
        Principal::Guest { .. } => JsValue::NULL,
    };
    let row: Option<RoomRow> = ctx
        .stmt(
            &format!(
                "SELECT {ROOM_COLUMNS}, rr.role AS my_role FROM rooms r
                 LEFT JOIN room_roles rr ON rr.room_id = r.id AND rr.user_id = ?2
                 WHERE r.id = ?1"
            ),
            &[room_id.as_str().into(), user_id],
        )?
        .first(None)
        .await?;
    let Some(mut row) = row else {
        return Err(ApiError::NotFound("room"));
    };
    if let Principal::Guest {
        room_id: guest_room,
        role,
        ..
    } = &who
    {
        row.my_role = (guest_room == &room_id).then(|| room_role_name(*role).to_owned());
    }
    let grants = Grants {
        room: row.role()?,
        ..who.global_grants()
    };
    let visible = grants.room.is_some() || access::check(grants, Permission::SeeAllRooms).is_ok();
    if !visible {
        return Err(ApiError::NotFound("room"));
    }
    Ok((who, row, grants))
}

fn validate_options(o: RoomOptions) -> Result<RoomOptions> {
    if !MAX_PARTICIPANTS.contains(&o.max_participants) {
        return Err(ApiError::BadRequest(format!(
            "max_participants must be {} to {}",
            MAX_PARTICIPANTS.start(),
            MAX_PARTICIPANTS.end()
        )));
    }
    Ok(o)
}

fn flag(b: bool) -> JsValue {
    num(i64::from(b))
}

/// `POST /api/rooms`: the creator becomes its host.
pub async fn create(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    let who = ctx.require(req).await?;
    access::check(who.global_grants(), Permission::CreateRooms)?;
    let Principal::User { id: user_id, .. } = &who else {
        return Err(ApiError::Forbidden("guests cannot create rooms".into()));
    };
    let body: CreateRoom = read_json(req, MAX_JSON_BYTES).await?;
    let name = input::text("name", &body.name, input::MAX_ROOM_NAME_CHARS)?;
    let o = validate_options(body.options().apply(RoomOptions::default()))?;
    let id = random_id::<10>()?;
    ctx.db()?
        .batch(vec![
            ctx.stmt(
                "INSERT INTO rooms (id, name, owner_id, allow_guests, lobby, locked, max_participants, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                &[
                    id.as_str().into(),
                    name.as_str().into(),
                    user_id.as_str().into(),
                    flag(o.allow_guests),
                    flag(o.lobby),
                    flag(o.locked),
                    num(o.max_participants.into()),
                    num(ctx.now_ms),
                ],
            )?,
            ctx.stmt(
                "INSERT INTO room_roles (room_id, user_id, role) VALUES (?1, ?2, 'host')",
                &[id.as_str().into(), user_id.as_str().into()],
            )?,
        ])
        .await?;
    ctx.audit(
        Some(user_id.as_str()),
        "room_created",
        Some(&id),
        Some(json!({ "name": name })),
    )
    .await?;
    let (_, row, _) = access(ctx, req, &id).await?;
    super::created(&row.into_room()?)
}

/// `GET /api/rooms`: rooms where the caller has a role (admins: all).
pub async fn list(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    let who = ctx.require(req).await?;
    let rows: Vec<RoomRow> = match &who {
        Principal::User { id, .. } => {
            let all = access::check(who.global_grants(), Permission::SeeAllRooms).is_ok();
            let join = if all { "LEFT JOIN" } else { "JOIN" };
            ctx.stmt(
                &format!(
                    "SELECT {ROOM_COLUMNS}, rr.role AS my_role FROM rooms r
                     {join} room_roles rr ON rr.room_id = r.id AND rr.user_id = ?1
                     ORDER BY r.created_ms DESC, r.id"
                ),
                &[id.as_str().into()],
            )?
            .all()
            .await?
            .results()?
        }
        Principal::Guest { room_id, role, .. } => ctx
            .stmt(
                &format!("SELECT {ROOM_COLUMNS}, ?2 AS my_role FROM rooms r WHERE r.id = ?1"),
                &[room_id.as_str().into(), room_role_name(*role).into()],
            )?
            .all()
            .await?
            .results()?,
    };
    let rooms = rows
        .into_iter()
        .map(RoomRow::into_room)
        .collect::<Result<Vec<_>>>()?;
    super::json(&RoomList { rooms })
}

/// `GET /api/rooms/{id}`.
pub async fn get(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    let (_, row, _) = access(ctx, req, id).await?;
    super::json(&row.into_room()?)
}

/// `PATCH /api/rooms/{id}`: change options (hosts).
pub async fn update(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    let (who, row, grants) = access(ctx, req, id).await?;
    access::check(grants, Permission::EditRoom)?;
    let patch: RoomOptionsPatch = read_json(req, MAX_JSON_BYTES).await?;
    if patch.locked.is_some_and(|l| l != (row.locked != 0)) {
        access::check(grants, Permission::LockRoom)?;
    }
    let o = validate_options(patch.apply(row.options()))?;
    ctx.stmt(
        "UPDATE rooms SET allow_guests = ?2, lobby = ?3, locked = ?4, max_participants = ?5 WHERE id = ?1",
        &[row.id.as_str().into(), flag(o.allow_guests), flag(o.lobby), flag(o.locked), num(o.max_participants.into())],
    )?
    .run()
    .await?;
    let detail = serde_json::to_value(o).ok();
    ctx.audit(Some(&who.actor()), "room_updated", Some(&row.id), detail)
        .await?;
    notify_room(ctx, &row.id, None).await;
    let (_, row, _) = access(ctx, req, id).await?;
    super::json(&row.into_room()?)
}

/// `POST /api/rooms/{id}/end`: end the meeting (hosts).
pub async fn end(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    let (who, row, grants) = access(ctx, req, id).await?;
    access::check(grants, Permission::EndMeeting)?;
    ctx.stmt(
        "UPDATE rooms SET ended_ms = ?2 WHERE id = ?1 AND ended_ms IS NULL",
        &[row.id.as_str().into(), num(ctx.now_ms)],
    )?
    .run()
    .await?;
    ctx.audit(Some(&who.actor()), "room_ended", Some(&row.id), None)
        .await?;
    notify_room(ctx, &row.id, None).await;
    let (_, row, _) = access(ctx, req, id).await?;
    super::json(&row.into_room()?)
}

#[derive(Deserialize)]
struct MemberRow {
    user_id: String,
    name: String,
    role: String,
}

/// `GET /api/rooms/{id}/members`.
pub async fn members(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    let (_, row, _) = access(ctx, req, id).await?;
    let rows: Vec<MemberRow> = ctx
        .stmt(
            "SELECT rr.user_id, u.name, rr.role FROM room_roles rr JOIN users u ON u.id = rr.user_id
             WHERE rr.room_id = ?1 ORDER BY rr.role = 'participant', u.name",
            &[row.id.as_str().into()],
        )?
        .all()
        .await?
        .results()?;
    let members = rows
        .into_iter()
        .map(|m| {
            Ok(RoomMember {
                user_id: UserId::parse(&m.user_id)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                name: m.name,
                role: parse_room_role(&m.role)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    super::json(&RoomMemberList { members })
}

#[derive(Deserialize)]
struct HostCount {
    hosts: i64,
    target_is_host: i64,
}

/// `POST /api/rooms/{id}/members`: promote, demote or remove an account
/// (hosts). The last host cannot be demoted or removed.
pub async fn set_role(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    let (who, row, grants) = access(ctx, req, id).await?;
    access::check(grants, Permission::ChangeRoles)?;
    let body: SetRoomRole = read_json(req, MAX_JSON_BYTES).await?;
    let target = super::auth::load_user(ctx, body.user_id.as_str())
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let counts: HostCount = ctx
        .stmt(
            "SELECT COUNT(*) AS hosts, COALESCE(SUM(user_id = ?2), 0) AS target_is_host
             FROM room_roles WHERE room_id = ?1 AND role = 'host'",
            &[row.id.as_str().into(), target.id.as_str().into()],
        )?
        .first(None)
        .await?
        .ok_or_else(|| ApiError::Internal("count returned no row".into()))?;
    let new_role = body.role.role();
    if counts.target_is_host > 0 && counts.hosts <= 1 && new_role != Some(RoomRole::Host) {
        return Err(ApiError::Conflict("a room keeps at least one host".into()));
    }
    let stmt = match new_role {
        Some(role) => ctx.stmt(
            "INSERT INTO room_roles (room_id, user_id, role) VALUES (?1, ?2, ?3)
             ON CONFLICT (room_id, user_id) DO UPDATE SET role = ?3",
            &[
                row.id.as_str().into(),
                target.id.as_str().into(),
                room_role_name(role).into(),
            ],
        )?,
        None => ctx.stmt(
            "DELETE FROM room_roles WHERE room_id = ?1 AND user_id = ?2",
            &[row.id.as_str().into(), target.id.as_str().into()],
        )?,
    };
    stmt.run().await?;
    let detail = json!({ "room": row.id, "role": new_role.map(room_role_name) });
    ctx.audit(
        Some(&who.actor()),
        "role_changed",
        Some(&target.id),
        Some(detail),
    )
    .await?;
    notify_room(ctx, &row.id, Some((target.id.clone(), new_role))).await;
    members(ctx, req, id).await
}

#[derive(Deserialize)]
struct InviteRow {
    id: String,
    room_id: String,
    role: String,
    expires_ms: i64,
    revoked_ms: Option<i64>,
}

impl InviteRow {
    fn into_invite(self, url: Option<String>) -> Result<Invite> {
        let internal = |e: protocol::IdError| ApiError::Internal(e.to_string());
        Ok(Invite {
            id: InviteId::parse(&self.id).map_err(internal)?,
            room_id: RoomId::parse(&self.room_id).map_err(internal)?,
            role: parse_room_role(&self.role)?,
            expires_ms: self.expires_ms,
            revoked_ms: self.revoked_ms,
            url,
        })
    }
}

/// `POST /api/rooms/{id}/invites` (hosts): the answer carries the link, once.
pub async fn create_invite(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    let (who, row, grants) = access(ctx, req, id).await?;
    access::check(grants, Permission::ManageInvites)?;
    let body: CreateInvite = read_json(req, MAX_JSON_BYTES).await?;
    if !INVITE_SECONDS.contains(&body.expires_in) {
        return Err(ApiError::BadRequest(format!(
            "expires_in must be {} to {} seconds",
            INVITE_SECONDS.start(),
            INVITE_SECONDS.end()
        )));
    }
    // Only a host may hand out host rights.
    if body.role == RoomRole::Host {
        access::check(grants, Permission::ChangeRoles)?;
    }
    if row.ended_ms.is_some() {
        return Err(ApiError::Conflict("the meeting has ended".into()));
    }
    let invite_id = random_id::<12>()?;
    let token = session::encode_token(&random::<32>()?);
    let hash =
        session::token_hash(&token).ok_or_else(|| ApiError::Internal("token encoding".into()))?;
    let expires_ms = ctx.now_ms + (body.expires_in as i64) * 1000;
    ctx.stmt(
        "INSERT INTO invites (id, token_hash, room_id, role, created_by, created_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            invite_id.as_str().into(),
            hash.into(),
            row.id.as_str().into(),
            room_role_name(body.role).into(),
            who.actor().into(),
            num(ctx.now_ms),
            num(expires_ms),
        ],
    )?
    .run()
    .await?;
    let detail =
        json!({ "room": row.id, "role": room_role_name(body.role), "expires_ms": expires_ms });
    ctx.audit(
        Some(&who.actor()),
        "invite_created",
        Some(&invite_id),
        Some(detail),
    )
    .await?;
    let invite = InviteRow {
        id: invite_id,
        room_id: row.id,
        role: room_role_name(body.role).into(),
        expires_ms,
        revoked_ms: None,
    };
    super::created(&invite.into_invite(Some(format!("{}/join/{token}", ctx.origin)))?)
}

/// `GET /api/rooms/{id}/invites` (hosts).
pub async fn list_invites(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    let (_, row, grants) = access(ctx, req, id).await?;
    access::check(grants, Permission::ManageInvites)?;
    let rows: Vec<InviteRow> = ctx
        .stmt(
            "SELECT id, room_id, role, expires_ms, revoked_ms FROM invites WHERE room_id = ?1
             ORDER BY created_ms DESC, id",
            &[row.id.as_str().into()],
        )?
        .all()
        .await?
        .results()?;
    let invites = rows
        .into_iter()
        .map(|r| r.into_invite(None))
        .collect::<Result<Vec<_>>>()?;
    super::json(&InviteList { invites })
}

/// `DELETE /api/rooms/{id}/invites/{invite}` (hosts).
pub async fn revoke_invite(
    ctx: &Ctx<'_>,
    req: &mut Request,
    id: &str,
    invite: &str,
) -> Result<Response> {
    let (who, row, grants) = access(ctx, req, id).await?;
    access::check(grants, Permission::ManageInvites)?;
    let invite =
        InviteId::parse(invite).map_err(|e| ApiError::BadRequest(format!("invite id: {e}")))?;
    let result = ctx
        .stmt(
            "UPDATE invites SET revoked_ms = COALESCE(revoked_ms, ?3) WHERE id = ?1 AND room_id = ?2",
            &[invite.as_str().into(), row.id.as_str().into(), num(ctx.now_ms)],
        )?
        .run()
        .await?;
    if result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 0 {
        return Err(ApiError::NotFound("invite"));
    }
    ctx.audit(
        Some(&who.actor()),
        "invite_revoked",
        Some(invite.as_str()),
        Some(json!({ "room": row.id })),
    )
    .await?;
    super::no_content()
}

#[derive(Deserialize)]
struct LiveInvite {
    id: String,
    room_id: String,
    room_name: String,
    role: String,
    allow_guests: i64,
}

/// A usable invite: not expired, not revoked, its room not ended.
async fn live_invite(ctx: &Ctx<'_>, token: &str) -> Result<LiveInvite> {
    let gone = ApiError::NotFound("invite (it may have expired or been revoked)");
    let Some(hash) = session::token_hash(token) else {
        return Err(gone);
    };
    let invite: Option<LiveInvite> = ctx
        .stmt(
            "SELECT i.id, i.room_id, r.name AS room_name, i.role, r.allow_guests
             FROM invites i JOIN rooms r ON r.id = i.room_id
             WHERE i.token_hash = ?1 AND i.revoked_ms IS NULL AND i.expires_ms > ?2 AND r.ended_ms IS NULL",
            &[hash.into(), num(ctx.now_ms)],
        )?
        .first(None)
        .await?;
    invite.ok_or(gone)
}

/// `GET /api/invites/{token}`: what the invite leads to; public.
pub async fn preview_invite(ctx: &Ctx<'_>, token: &str) -> Result<Response> {
    let i = live_invite(ctx, token).await?;
    super::json(&InvitePreview {
        room_id: parse_room_id(&i.room_id)?,
        room_name: i.room_name,
        role: parse_room_role(&i.role)?,
        guests_allowed: i.allow_guests != 0,
    })
}

/// `POST /api/invites/{token}/accept`: a signed-in account gains the role
/// (never losing a higher one); a guest, where the room allows guests, gets a
/// session for this room under the name they give.
pub async fn accept_invite(ctx: &Ctx<'_>, req: &mut Request, token: &str) -> Result<Response> {
    let invite = live_invite(ctx, token).await?;
    let body: AcceptInvite = read_json(req, MAX_JSON_BYTES).await?;
    let role = parse_room_role(&invite.role)?;
    let room_id = parse_room_id(&invite.room_id)?;
    match ctx.principal(req).await? {
        Some(Principal::User { id, .. }) => {
            ctx.stmt(
                "INSERT INTO room_roles (room_id, user_id, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT (room_id, user_id) DO UPDATE SET
                   role = CASE WHEN room_roles.role = 'host' THEN 'host' ELSE ?3 END",
                &[
                    room_id.as_str().into(),
                    id.as_str().into(),
                    invite.role.as_str().into(),
                ],
            )?
            .run()
            .await?;
            let detail = json!({ "room": room_id, "invite": invite.id });
            ctx.audit(
                Some(id.as_str()),
                "invite_accepted",
                Some(id.as_str()),
                Some(detail),
            )
            .await?;
            super::json(&Joined { room_id, role })
        }
        // The same guest following the link again stays the same guest, so a
        // removal by a host holds.
        Some(Principal::Guest {
            room_id: guest_room,
            role,
            ..
        }) if guest_room == room_id => super::json(&Joined { room_id, role }),
        Some(Principal::Guest { .. }) | None => {
            if invite.allow_guests == 0 {
                return Err(ApiError::Unauthorized);
            }
            let Some(name) = body.guest_name else {
                return Err(ApiError::BadRequest(
                    "guest_name is required to join as a guest".into(),
                ));
            };
            let name = input::text("guest_name", &name, input::MAX_NAME_CHARS)?;
            // Host rights need an account: a guest takes part, whatever the
            // invite says.
            let role = RoomRole::Participant;
            let guest_id = random_id::<16>()?;
            ctx.stmt(
                "INSERT INTO guests (id, room_id, name, role, invite_id, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[
                    guest_id.as_str().into(),
                    room_id.as_str().into(),
                    name.as_str().into(),
                    room_role_name(role).into(),
                    invite.id.as_str().into(),
                    num(ctx.now_ms),
                ],
            )?
            .run()
            .await?;
            let actor = format!("guest:{guest_id}");
            let detail = json!({ "room": room_id, "invite": invite.id, "name": name });
            ctx.audit(
                Some(&actor),
                "guest_joined",
                Some(room_id.as_str()),
                Some(detail),
            )
            .await?;
            let cookie = ctx.start_session(None, Some(&guest_id)).await?;
            let mut resp = super::json(&Joined { room_id, role })?;
            resp.headers_mut().set("Set-Cookie", &cookie)?;
            Ok(resp)
        }
    }
}

/// `GET /rooms/{id}/ws`: admits a signed-in member of the room (or its guest)
/// and hands the upgrade to the room's Durable Object with the verified
/// identity. The object never trusts anything the client says about itself.
pub async fn socket(ctx: &Ctx<'_>, req: &Request, id: &str) -> Result<Response> {
    let upgrade = req.headers().get("Upgrade")?.unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(ApiError::UpgradeRequired);
    }
    // A page of another site must not open a socket with our cookie.
    if let Some(origin) = req.headers().get("Origin")?
        && origin != ctx.origin
    {
        return Err(ApiError::Forbidden("cross-site WebSocket refused".into()));
    }
    let (who, row, grants) = access(ctx, req, id).await?;
    access::check(grants, Permission::Join)?;
    if row.ended_ms.is_some() {
        return Err(ApiError::Conflict("the meeting has ended".into()));
    }
    let role = grants
        .room
        .ok_or_else(|| ApiError::Forbidden("no role in this room".into()))?;
    let (participant, name, guest) = match &who {
        Principal::User { id, name, .. } => (format!("u-{id}"), name.clone(), false),
        Principal::Guest { id, name, .. } => (format!("g-{id}"), name.clone(), true),
    };
    let options = row.options();
    let identity = protocol::room::Identity {
        room: parse_room_id(&row.id)?,
        id: protocol::ParticipantId::parse(&participant)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        name,
        role,
        guest,
        lobby: options.lobby,
        locked: options.locked,
        max_participants: options.max_participants,
        // Cloudflare's view of where the request came from; absent locally.
        near: req
            .cf()
            .and_then(|cf| cf.continent())
            .map(|c| c.to_ascii_lowercase()),
    };
    let headers = worker::Headers::new();
    headers.set("Upgrade", "websocket")?;
    let identity =
        serde_json::to_string(&identity).map_err(|e| ApiError::Internal(e.to_string()))?;
    headers.set(protocol::room::IDENTITY_HEADER, &identity)?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Get).with_headers(headers);
    let forwarded = Request::new_with_init(req.url()?.as_str(), &init)?;
    let stub = ctx
        .env
        .durable_object("ROOM")?
        .id_from_name(&row.id)?
        .get_stub()?;
    Ok(stub.fetch_with_request(forwarded).await?)
}

/// Tells the room's Durable Object what the API just changed, so a live
/// meeting follows at once. Best effort: D1 already holds the change, and the
/// room reads its options again at every join.
async fn notify_room(
    ctx: &Ctx<'_>,
    room_id: &str,
    role_change: Option<(String, Option<RoomRole>)>,
) {
    let result: Result<()> = async {
        let row: RoomRow = ctx
            .stmt(
                &format!("SELECT {ROOM_COLUMNS}, NULL AS my_role FROM rooms r WHERE r.id = ?1"),
                &[room_id.into()],
            )?
            .first(None)
            .await?
            .ok_or(ApiError::NotFound("room"))?;
        let options = row.options();
        let role_change = match role_change {
            Some((user, role)) => Some((
                protocol::ParticipantId::parse(&format!("u-{user}"))
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                role,
            )),
            None => None,
        };
        let sync = protocol::room::RoomSync {
            locked: options.locked,
            lobby: options.lobby,
            max_participants: options.max_participants,
            ended: row.ended_ms.is_some(),
            role_change,
        };
        let headers = worker::Headers::new();
        let sync = serde_json::to_string(&sync).map_err(|e| ApiError::Internal(e.to_string()))?;
        headers.set(protocol::room::SYNC_HEADER, &sync)?;
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post).with_headers(headers);
        let req = Request::new_with_init("https://room.internal/sync", &init)?;
        let stub = ctx
            .env
            .durable_object("ROOM")?
            .id_from_name(room_id)?
            .get_stub()?;
        stub.fetch_with_request(req).await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        worker::console_error!("telling room {room_id} about a change failed: {e}");
    }
}
