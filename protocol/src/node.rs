//! Media node <-> worker: registration, heartbeats and the registry listing.
//!
//! A node authenticates every call with its node secret as a bearer token.
//! The worker owns the policy: it answers a registration with the heartbeat
//! interval the node must keep, and it counts a node healthy only while its
//! heartbeats are fresh.

use serde::{Deserialize, Serialize};

use crate::{NodeId, Region};

/// Load figures a node reports, used to place rooms on the least loaded node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeLoad {
    /// Rooms with at least one participant on this node.
    pub rooms: u32,
    /// Participants connected to this node.
    pub participants: u32,
}

/// `POST /api/media-nodes/register`: a node announces itself (or comes back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// The node's stable id.
    pub id: NodeId,
    /// Where it runs; rooms go to the nearest region.
    pub region: Region,
    /// UDP address browsers send media to (`ip:port`).
    pub media_addr: String,
    /// Base URL of the node's HTTP control API.
    pub control_url: String,
    /// The node's build version.
    pub version: String,
    /// Current load.
    pub load: NodeLoad,
}

/// The worker's answer to a [`Registration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationAccepted {
    /// How often the node must send a [`Heartbeat`].
    pub heartbeat_interval_ms: u64,
}

/// `POST /api/media-nodes/{id}/heartbeat`: the node is alive, with its load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Current load.
    pub load: NodeLoad,
}

/// One node as listed by `GET /api/media-nodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's stable id.
    pub id: NodeId,
    /// Where it runs.
    pub region: Region,
    /// UDP address browsers send media to.
    pub media_addr: String,
    /// Base URL of the node's HTTP control API.
    pub control_url: String,
    /// The node's build version.
    pub version: String,
    /// Load at the last heartbeat.
    pub load: NodeLoad,
    /// When the last heartbeat arrived, in milliseconds since the Unix epoch.
    pub last_seen_ms: i64,
}

/// `GET /api/media-nodes`: the healthy nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeList {
    /// Nodes whose heartbeats are fresh and which have not said goodbye.
    pub nodes: Vec<NodeInfo>,
}
