//! Roles and permissions, as data.
//!
//! Each role maps to a set of named permissions in one table ([`ROLE_TABLE`]);
//! [`check`] is the one function every server-side decision goes through.
//! Adding a role (presenter, attendee, bot, a custom profile) is a new row in
//! the table and a variant name, never a new `if` at a call site.

use serde::{Deserialize, Serialize};

/// Something a participant or user may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Permission {
    // In a room.
    /// Enter the room.
    Join,
    /// Send camera video.
    PublishCamera,
    /// Send microphone audio.
    PublishMicrophone,
    /// Share a screen.
    ShareScreen,
    /// Post to the room chat.
    Chat,
    /// Send direct messages to one participant.
    DirectMessage,
    /// Draw on the whiteboard.
    Draw,
    /// Mute someone else's microphone or camera.
    MuteOthers,
    /// Remove someone from the room.
    RemoveOthers,
    /// Promote or demote participants.
    ChangeRoles,
    /// Lock or unlock the room.
    LockRoom,
    /// Admit or deny people waiting in the lobby.
    AdmitFromLobby,
    /// End the meeting for everyone.
    EndMeeting,
    /// Change the room's options (guests, lobby, size).
    EditRoom,
    /// Create and revoke invites.
    ManageInvites,
    /// Delete other people's chat messages.
    ModerateChat,
    /// Lower someone else's raised hand.
    LowerHands,
    /// Delete and clear whiteboards, present one to everyone, and decide
    /// who may draw.
    ManageBoards,
    /// Show everyone a layout.
    PushLayout,
    // Across the deployment.
    /// Create rooms.
    CreateRooms,
    /// See every room, not only one's own.
    SeeAllRooms,
    /// Disable users, change global roles.
    ManageUsers,
    /// Change deployment settings (open sign-up).
    ManageSettings,
    /// See and manage media nodes.
    ManageMediaNodes,
    /// Read the audit log.
    ReadAudit,
}

/// Every permission, in declaration order.
pub const ALL_PERMISSIONS: &[Permission] = &[
    Permission::Join,
    Permission::PublishCamera,
    Permission::PublishMicrophone,
    Permission::ShareScreen,
    Permission::Chat,
    Permission::DirectMessage,
    Permission::Draw,
    Permission::MuteOthers,
    Permission::RemoveOthers,
    Permission::ChangeRoles,
    Permission::LockRoom,
    Permission::AdmitFromLobby,
    Permission::EndMeeting,
    Permission::EditRoom,
    Permission::ManageInvites,
    Permission::ModerateChat,
    Permission::LowerHands,
    Permission::ManageBoards,
    Permission::PushLayout,
    Permission::CreateRooms,
    Permission::SeeAllRooms,
    Permission::ManageUsers,
    Permission::ManageSettings,
    Permission::ManageMediaNodes,
    Permission::ReadAudit,
];

/// A set of permissions (a bit per [`Permission`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PermissionSet(u64);

impl PermissionSet {
    /// The empty set.
    pub const EMPTY: Self = Self(0);

    /// The set of `perms`.
    pub const fn of(perms: &[Permission]) -> Self {
        let mut bits = 0u64;
        let mut i = 0;
        while i < perms.len() {
            bits |= 1 << perms[i] as u8;
            i += 1;
        }
        Self(bits)
    }

    /// Whether `perm` is in the set.
    pub const fn contains(self, perm: Permission) -> bool {
        self.0 & (1 << perm as u8) != 0
    }

    /// Both sets together.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The permissions in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        ALL_PERMISSIONS
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }
}

/// A deployment-wide role, held by an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalRole {
    /// Manages users, rooms, media nodes and settings.
    Admin,
    /// An ordinary account.
    Member,
}

/// A role within one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomRole {
    /// Owns and controls the room.
    Host,
    /// Takes part.
    Participant,
    /// Watches and listens, and may chat; publishes nothing (webinars,
    /// large classes).
    Attendee,
}

impl RoomRole {
    /// Every room role.
    pub const ALL: [RoomRole; 3] = [RoomRole::Host, RoomRole::Participant, RoomRole::Attendee];

    /// The name on the wire and in the accounts database.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomRole::Host => "host",
            RoomRole::Participant => "participant",
            RoomRole::Attendee => "attendee",
        }
    }

    /// Parses a name written by [`RoomRole::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Any role that grants permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A deployment-wide role.
    Global(GlobalRole),
    /// A role in the room at hand.
    Room(RoomRole),
}

use Permission::*;

const PARTICIPANT: &[Permission] = &[
    Join,
    PublishCamera,
    PublishMicrophone,
    ShareScreen,
    Chat,
    DirectMessage,
    Draw,
];

const HOST: &[Permission] = &[
    Join,
    PublishCamera,
    PublishMicrophone,
    ShareScreen,
    Chat,
    DirectMessage,
    Draw,
    MuteOthers,
    RemoveOthers,
    ChangeRoles,
    LockRoom,
    AdmitFromLobby,
    EndMeeting,
    EditRoom,
    ManageInvites,
    ModerateChat,
    LowerHands,
    ManageBoards,
    PushLayout,
];

const ATTENDEE: &[Permission] = &[Join, Chat, DirectMessage];

const MEMBER: &[Permission] = &[CreateRooms];

/// Admins manage every room as a host would, and the deployment.
const ADMIN: &[Permission] = &[
    CreateRooms,
    SeeAllRooms,
    ManageUsers,
    ManageSettings,
    ManageMediaNodes,
    ReadAudit,
    MuteOthers,
    RemoveOthers,
    ChangeRoles,
    LockRoom,
    AdmitFromLobby,
    EndMeeting,
    EditRoom,
    ManageInvites,
    ModerateChat,
    LowerHands,
    ManageBoards,
    PushLayout,
];

/// The role table: what each role may do.
pub const ROLE_TABLE: &[(Role, PermissionSet)] = &[
    (Role::Room(RoomRole::Host), PermissionSet::of(HOST)),
    (
        Role::Room(RoomRole::Participant),
        PermissionSet::of(PARTICIPANT),
    ),
    (Role::Room(RoomRole::Attendee), PermissionSet::of(ATTENDEE)),
    (Role::Global(GlobalRole::Admin), PermissionSet::of(ADMIN)),
    (Role::Global(GlobalRole::Member), PermissionSet::of(MEMBER)),
];

/// What `role` may do, from [`ROLE_TABLE`].
pub fn permissions_of(role: Role) -> PermissionSet {
    ROLE_TABLE
        .iter()
        .find(|(r, _)| *r == role)
        .map(|(_, p)| *p)
        .unwrap_or(PermissionSet::EMPTY)
}

/// Who is asking: the roles that apply to this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grants {
    /// The account's global role; `None` for guests and strangers.
    pub global: Option<GlobalRole>,
    /// The role in the room at hand, if any.
    pub room: Option<RoomRole>,
}

impl Grants {
    /// Everything these roles allow together.
    pub fn permissions(self) -> PermissionSet {
        let global = self
            .global
            .map(|g| permissions_of(Role::Global(g)))
            .unwrap_or_default();
        let room = self
            .room
            .map(|r| permissions_of(Role::Room(r)))
            .unwrap_or_default();
        global.union(room)
    }
}

/// A refused permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not allowed: {} is required", .0.name())]
pub struct Denied(pub Permission);

impl Permission {
    /// The wire name (`edit_room`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// The one permission check.
pub fn check(grants: Grants, perm: Permission) -> Result<(), Denied> {
    if grants.permissions().contains(perm) {
        Ok(())
    } else {
        Err(Denied(perm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(global: Option<GlobalRole>, room: Option<RoomRole>) -> Grants {
        Grants { global, room }
    }

    const HOST_ONLY: &[Permission] = &[
        ModerateChat,
        LowerHands,
        MuteOthers,
        RemoveOthers,
        ChangeRoles,
        LockRoom,
        AdmitFromLobby,
        EndMeeting,
        EditRoom,
        ManageInvites,
    ];

    const ADMIN_ONLY: &[Permission] = &[
        SeeAllRooms,
        ManageUsers,
        ManageSettings,
        ManageMediaNodes,
        ReadAudit,
    ];

    #[test]
    fn a_participant_takes_part_but_controls_nothing() {
        let p = grants(Some(GlobalRole::Member), Some(RoomRole::Participant));
        for perm in PARTICIPANT {
            assert_eq!(check(p, *perm), Ok(()), "{perm:?}");
        }
        for perm in HOST_ONLY.iter().chain(ADMIN_ONLY) {
            assert_eq!(check(p, *perm), Err(Denied(*perm)), "{perm:?}");
        }
    }

    #[test]
    fn a_host_controls_the_room_but_not_the_deployment() {
        let h = grants(Some(GlobalRole::Member), Some(RoomRole::Host));
        for perm in PARTICIPANT.iter().chain(HOST_ONLY) {
            assert!(check(h, *perm).is_ok(), "{perm:?}");
        }
        for perm in ADMIN_ONLY {
            assert!(check(h, *perm).is_err(), "{perm:?}");
        }
    }

    #[test]
    fn an_admin_manages_without_joining_as_a_participant() {
        let a = grants(Some(GlobalRole::Admin), None);
        for perm in HOST_ONLY.iter().chain(ADMIN_ONLY) {
            assert!(check(a, *perm).is_ok(), "{perm:?}");
        }
        // Joining a room takes a room role (an invite, or owning it).
        assert!(check(a, Join).is_err());
    }

    #[test]
    fn strangers_and_guests_without_a_role_may_do_nothing() {
        for perm in ALL_PERMISSIONS {
            assert!(check(Grants::default(), *perm).is_err());
        }
        let member = grants(Some(GlobalRole::Member), None);
        assert_eq!(
            member.permissions().iter().collect::<Vec<_>>(),
            vec![CreateRooms]
        );
    }

    #[test]
    fn every_role_has_one_row_and_all_permissions_fit_the_set() {
        assert!(ALL_PERMISSIONS.len() <= 64);
        for (i, (role, _)) in ROLE_TABLE.iter().enumerate() {
            assert!(
                !ROLE_TABLE[i + 1..].iter().any(|(r, _)| r == role),
                "{role:?} twice"
            );
        }
        for (i, p) in ALL_PERMISSIONS.iter().enumerate() {
            assert_eq!(*p as usize, i, "ALL_PERMISSIONS is in declaration order");
        }
    }

    #[test]
    fn attendees_watch_and_chat_but_publish_nothing() {
        let a = grants(None, Some(RoomRole::Attendee));
        for p in [Join, Chat, DirectMessage] {
            assert!(check(a, p).is_ok(), "{p:?}");
        }
        for p in [
            PublishCamera,
            PublishMicrophone,
            ShareScreen,
            Draw,
            MuteOthers,
        ] {
            assert!(check(a, p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn room_role_names_round_trip() {
        for r in RoomRole::ALL {
            assert_eq!(RoomRole::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        assert_eq!(RoomRole::parse("owner"), None);
    }

    #[test]
    fn refusals_name_the_permission_as_on_the_wire() {
        assert_eq!(
            Denied(EditRoom).to_string(),
            "not allowed: edit_room is required"
        );
    }

    #[test]
    fn permission_names_on_the_wire() {
        assert_eq!(
            serde_json::to_string(&AdmitFromLobby).unwrap(),
            "\"admit_from_lobby\""
        );
        assert_eq!(serde_json::to_string(&RoomRole::Host).unwrap(), "\"host\"");
    }
}
