//! Bodies of the accounts, rooms, invites and admin routes of the HTTP API
//! (documented in `docs/openapi.yaml`).

use serde::{Deserialize, Serialize};

use crate::access::{GlobalRole, RoomRole};
use crate::{InviteId, RoomId, UserId};

/// `POST /api/auth/signup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// Login email, unique (case-insensitive).
    pub email: String,
    /// Password, 10 to 256 characters.
    pub password: String,
    /// Display name, 1 to 64 characters.
    pub name: String,
}

/// `POST /api/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /api/auth/password`: change one's own password; ends every other session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The new password.
    pub new_password: String,
}

/// An account as shown to itself (`GET /api/me`) and to admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Login email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Deployment-wide role.
    pub global_role: GlobalRole,
    /// A disabled account cannot log in and has no sessions.
    pub disabled: bool,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// `GET /api/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserList {
    /// Every account, oldest first.
    pub users: Vec<User>,
}

/// `PATCH /api/admin/users/{id}`: what an admin may change about an account.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// Disable (ends all sessions) or re-enable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Promote to admin or demote to member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_role: Option<GlobalRole>,
}

/// `GET` and `PUT /api/admin/settings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Whether anyone may sign up (the first account always may).
    pub signup_open: bool,
}

/// Options a host sets on a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomOptions {
    /// Guests with an invite may join without an account.
    #[serde(default)]
    pub allow_guests: bool,
    /// Newcomers wait in a lobby until a host admits them.
    #[serde(default)]
    pub lobby: bool,
    /// Nobody new may join.
    #[serde(default)]
    pub locked: bool,
    /// Most participants at once (1 to 1000).
    #[serde(default = "default_max_participants")]
    pub max_participants: u32,
}

fn default_max_participants() -> u32 {
    100
}

impl Default for RoomOptions {
    fn default() -> Self {
        Self {
            allow_guests: false,
            lobby: false,
            locked: false,
            max_participants: default_max_participants(),
        }
    }
}

/// `POST /api/rooms`: a name and any options (defaults for the rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// Room name, 1 to 100 characters.
    pub name: String,
    /// See [`RoomOptions::allow_guests`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_guests: Option<bool>,
    /// See [`RoomOptions::lobby`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lobby: Option<bool>,
    /// See [`RoomOptions::locked`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// See [`RoomOptions::max_participants`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_participants: Option<u32>,
}

impl CreateRoom {
    /// The options given, as a patch over the defaults.
    pub fn options(&self) -> RoomOptionsPatch {
        RoomOptionsPatch {
            allow_guests: self.allow_guests,
            lobby: self.lobby,
            locked: self.locked,
            max_participants: self.max_participants,
        }
    }
}

/// `PATCH /api/rooms/{id}`: room options, each optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomOptionsPatch {
    /// See [`RoomOptions::allow_guests`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_guests: Option<bool>,
    /// See [`RoomOptions::lobby`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lobby: Option<bool>,
    /// See [`RoomOptions::locked`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// See [`RoomOptions::max_participants`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_participants: Option<u32>,
}

impl RoomOptionsPatch {
    /// `base` with the given options replaced.
    pub fn apply(self, base: RoomOptions) -> RoomOptions {
        RoomOptions {
            allow_guests: self.allow_guests.unwrap_or(base.allow_guests),
            lobby: self.lobby.unwrap_or(base.lobby),
            locked: self.locked.unwrap_or(base.locked),
            max_participants: self.max_participants.unwrap_or(base.max_participants),
        }
    }
}

/// A room as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// Stable id, used in URLs.
    pub id: RoomId,
    /// Display name.
    pub name: String,
    /// The account that created it.
    pub owner_id: UserId,
    /// Options.
    pub options: RoomOptions,
    /// The caller's role in it, if any.
    pub my_role: Option<RoomRole>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// When a host ended it, if ended.
    pub ended_ms: Option<i64>,
}

/// `GET /api/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomList {
    /// Rooms visible to the caller, newest first.
    pub rooms: Vec<Room>,
}

/// `POST /api/rooms/{id}/members`: give an account a role in the room, or
/// take it away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRoomRole {
    /// The account.
    pub user_id: UserId,
    /// What it becomes in the room.
    pub role: Membership,
}

/// A role in a room, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Membership {
    /// See [`RoomRole::Host`].
    Host,
    /// See [`RoomRole::Participant`].
    Participant,
    /// See [`RoomRole::Attendee`].
    Attendee,
    /// No longer a member.
    Removed,
}

impl Membership {
    /// The role, unless removed.
    pub fn role(self) -> Option<RoomRole> {
        match self {
            Membership::Host => Some(RoomRole::Host),
            Membership::Participant => Some(RoomRole::Participant),
            Membership::Attendee => Some(RoomRole::Attendee),
            Membership::Removed => None,
        }
    }
}

/// A member of a room, as listed by `GET /api/rooms/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMember {
    /// The account.
    pub user_id: UserId,
    /// Its display name.
    pub name: String,
    /// Its role in the room.
    pub role: RoomRole,
}

/// `GET /api/rooms/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMemberList {
    /// Members, hosts first.
    pub members: Vec<RoomMember>,
}

/// `POST /api/rooms/{id}/invites`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    /// The role the invite grants.
    pub role: RoomRole,
    /// Seconds until it expires (60 to 30 days).
    pub expires_in: u64,
}

/// An invite as hosts see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// Id for listing and revoking.
    pub id: InviteId,
    /// The room.
    pub room_id: RoomId,
    /// Role granted.
    pub role: RoomRole,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_ms: i64,
    /// When revoked, if revoked.
    pub revoked_ms: Option<i64>,
    /// The link to share; only in the answer to its creation (the secret
    /// token is stored hashed and cannot be shown again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `GET /api/rooms/{id}/invites`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteList {
    /// Invites of the room, newest first.
    pub invites: Vec<Invite>,
}

/// `GET /api/invites/{token}`: what an invite leads to, for its landing page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitePreview {
    /// The room.
    pub room_id: RoomId,
    /// Its name.
    pub room_name: String,
    /// Role granted.
    pub role: RoomRole,
    /// Whether one may accept it without an account.
    pub guests_allowed: bool,
}

/// `POST /api/invites/{token}/accept`. Signed-in users send `{}`; guests send
/// the name they will be shown under.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    /// Display name of a guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_name: Option<String>,
}

/// The answer to accepting an invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// The room joined.
    pub room_id: RoomId,
    /// The role held in it now.
    pub role: RoomRole,
}

/// One security event, as `GET /api/admin/audit` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Order of recording.
    pub id: i64,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Who acted, if known (an account id or `guest:<id>`).
    pub actor: Option<String>,
    /// What happened (`login_ok`, `login_failed`, `role_changed`, ...).
    pub action: String,
    /// What it was done to (an account, a room, an invite).
    pub target: Option<String>,
    /// Client address it came from.
    pub ip: Option<String>,
    /// Details, as JSON text.
    pub detail: Option<String>,
}

/// `GET /api/admin/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLog {
    /// Newest first.
    pub events: Vec<AuditEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_room_takes_flat_options_with_defaults() {
        let c: CreateRoom = serde_json::from_str(r#"{"name":"Standup","lobby":true}"#).unwrap();
        let o = c.options().apply(RoomOptions::default());
        assert!(o.lobby && !o.allow_guests && !o.locked);
        assert_eq!(o.max_participants, 100);
        assert!(serde_json::from_str::<CreateRoom>(r#"{"name":"x","owner_id":"me"}"#).is_err());
    }

    #[test]
    fn a_membership_change_must_say_what_it_is() {
        let missing = serde_json::from_str::<SetRoomRole>(r#"{"user_id":"u1"}"#);
        assert!(missing.is_err(), "a missing role is not a removal");
        let removed: SetRoomRole =
            serde_json::from_str(r#"{"user_id":"u1","role":"removed"}"#).unwrap();
        assert_eq!(removed.role.role(), None);
        assert!(serde_json::from_str::<RoomOptionsPatch>(r#"{"name":"x"}"#).is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_str::<SignupRequest>(
                r#"{"email":"a@b.c","password":"x","name":"n","global_role":"admin"}"#
            )
            .is_err()
        );
    }
}
