//! Node configuration: an optional TOML file, overridden by `MEDIA_NODE_*`
//! environment variables (the names are the field names, upper-cased).

use std::net::SocketAddr;
use std::path::Path;

use protocol::{NodeId, Region};

use crate::token::TokenKey;
use serde::Deserialize;

/// Everything the node needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's stable id in the registry.
    pub node_id: NodeId,
    /// Region, for placing rooms near their participants.
    pub region: Region,
    /// Where the media UDP socket binds (port 0 picks one).
    pub udp_bind: SocketAddr,
    /// The UDP address browsers are told to use; defaults to the bound one.
    /// Differs behind NAT or a load balancer.
    pub public_addr: Option<SocketAddr>,
    /// Where the HTTP control API binds (port 0 picks one).
    pub http_bind: SocketAddr,
    /// The control API URL the worker is told; defaults to `http://{bound}`.
    pub control_url: Option<String>,
    /// Shared secret proving this node to the worker.
    pub node_secret: String,
    /// Base URL of the worker (`http://127.0.0.1:8787`).
    pub worker_url: String,
    /// The public key media tokens are verified with (hex; the worker side
    /// signs with the matching `MEDIA_TOKEN_SEED`).
    pub token_key: TokenKey,
    /// Most participants in one room on this node (default 100).
    pub room_limit: usize,
}

/// Participants per room unless configured.
pub const ROOM_LIMIT: usize = 100;

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`].
    #[error("parsing {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        source: toml::de::Error,
    },
    /// A setting is missing.
    #[error("missing setting {0} (set it in the config file or as MEDIA_NODE_{1})")]
    Missing(&'static str, String),
    /// A setting has a bad value.
    #[error("bad value for {0}: {1}")]
    Invalid(&'static str, String),
}

/// The file form: every field optional, so the environment can fill gaps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Partial {
    node_id: Option<String>,
    region: Option<String>,
    udp_bind: Option<String>,
    public_addr: Option<String>,
    http_bind: Option<String>,
    control_url: Option<String>,
    node_secret: Option<String>,
    worker_url: Option<String>,
    token_public_key: Option<String>,
    room_limit: Option<usize>,
}

impl Config {
    /// Reads `file` (if any), then applies variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut p = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.display().to_string(),
                    source,
                })?
            }
            None => Partial::default(),
        };
        let fields: [(&str, &mut Option<String>); 9] = [
            ("node_id", &mut p.node_id),
            ("region", &mut p.region),
            ("udp_bind", &mut p.udp_bind),
            ("public_addr", &mut p.public_addr),
            ("http_bind", &mut p.http_bind),
            ("control_url", &mut p.control_url),
            ("node_secret", &mut p.node_secret),
            ("worker_url", &mut p.worker_url),
            ("token_public_key", &mut p.token_public_key),
        ];
        for (name, slot) in fields {
            if let Some(v) = env(&format!("MEDIA_NODE_{}", name.to_uppercase())) {
                *slot = Some(v);
            }
        }
        let required = |name: &'static str, v: Option<String>| {
            v.filter(|s| !s.is_empty())
                .ok_or_else(|| ConfigError::Missing(name, name.to_uppercase()))
        };
        let addr = |name: &'static str, v: String| {
            v.parse::<SocketAddr>()
                .map_err(|e| ConfigError::Invalid(name, format!("{v:?}: {e}")))
        };
        if let Some(v) = env("MEDIA_NODE_ROOM_LIMIT") {
            let n = v
                .parse()
                .map_err(|_| ConfigError::Invalid("room_limit", format!("{v:?}: not a number")))?;
            p.room_limit = Some(n);
        }
        let room_limit = p.room_limit.unwrap_or(ROOM_LIMIT);
        if room_limit == 0 {
            return Err(ConfigError::Invalid(
                "room_limit",
                "must be at least 1".into(),
            ));
        }
        let node_id = required("node_id", p.node_id)?;
        let region = required("region", p.region)?;
        let worker_url = required("worker_url", p.worker_url)?;
        if !(worker_url.starts_with("http://") || worker_url.starts_with("https://")) {
            return Err(ConfigError::Invalid(
                "worker_url",
                "must be an http(s) URL".into(),
            ));
        }
        let token_key = required("token_public_key", p.token_public_key)?;
        let token_key = TokenKey::from_hex(&token_key).ok_or_else(|| {
            ConfigError::Invalid(
                "token_public_key",
                "must be an Ed25519 public key in 64 hex characters".into(),
            )
        })?;
        Ok(Config {
            token_key,
            node_id: NodeId::parse(&node_id)
                .map_err(|e| ConfigError::Invalid("node_id", e.to_string()))?,
            region: Region::parse(&region)
                .map_err(|e| ConfigError::Invalid("region", e.to_string()))?,
            udp_bind: addr(
                "udp_bind",
                p.udp_bind.unwrap_or_else(|| "0.0.0.0:3478".into()),
            )?,
            public_addr: p.public_addr.map(|v| addr("public_addr", v)).transpose()?,
            http_bind: addr(
                "http_bind",
                p.http_bind.unwrap_or_else(|| "127.0.0.1:7000".into()),
            )?,
            control_url: p.control_url,
            node_secret: required("node_secret", p.node_secret)?,
            worker_url: worker_url.trim_end_matches('/').to_owned(),
            room_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const MINIMAL: &[(&str, &str)] = &[
        ("MEDIA_NODE_NODE_ID", "n1"),
        ("MEDIA_NODE_REGION", "local"),
        ("MEDIA_NODE_NODE_SECRET", "s3cret"),
        ("MEDIA_NODE_WORKER_URL", "http://127.0.0.1:8787/"),
        ("MEDIA_NODE_TOKEN_PUBLIC_KEY", KEY),
    ];

    /// The public key of the seed `01` x 32.
    const KEY: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

    #[test]
    fn the_shipped_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/media-node.example.toml");
        let c = Config::load(Some(&path), |_| None).unwrap();
        assert_eq!(c.region.as_str(), "eu-west");
        assert_eq!(c.public_addr, Some("203.0.113.7:3478".parse().unwrap()));
    }

    #[test]
    fn the_test_key_is_the_worker_sides_public_key_of_its_seed() {
        assert_eq!(
            durable_objects::media_token::public_key_hex(&"01".repeat(32)).unwrap(),
            KEY
        );
    }

    #[test]
    fn environment_alone_with_defaults() {
        let c = Config::load(None, env_of(MINIMAL)).unwrap();
        assert_eq!(c.node_id.as_str(), "n1");
        assert_eq!(c.worker_url, "http://127.0.0.1:8787");
        assert_eq!(c.udp_bind, "0.0.0.0:3478".parse().unwrap());
        assert_eq!(c.public_addr, None);
        assert_eq!(c.room_limit, ROOM_LIMIT);
        let more = [MINIMAL, &[("MEDIA_NODE_ROOM_LIMIT", "150")]].concat();
        assert_eq!(Config::load(None, env_of(&more)).unwrap().room_limit, 150);
    }

    #[test]
    fn file_then_environment_overrides() {
        let dir = std::env::temp_dir().join(format!("mn-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.toml");
        std::fs::write(
            &path,
            format!("node_id = \"from-file\"\nregion = \"eu-west\"\nnode_secret = \"x\"\nworker_url = \"https://w\"\nhttp_bind = \"127.0.0.1:0\"\ntoken_public_key = \"{KEY}\"\n"),
        )
        .unwrap();
        let c = Config::load(Some(&path), env_of(&[("MEDIA_NODE_REGION", "us-east")])).unwrap();
        assert_eq!(c.node_id.as_str(), "from-file");
        assert_eq!(c.region.as_str(), "us-east");
        assert_eq!(c.http_bind.port(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_and_bad_values_are_named() {
        let err = Config::load(None, env_of(&MINIMAL[..3])).unwrap_err();
        assert!(err.to_string().contains("MEDIA_NODE_WORKER_URL"), "{err}");
        let mut bad = MINIMAL.to_vec();
        bad.push(("MEDIA_NODE_UDP_BIND", "nowhere"));
        assert!(matches!(
            Config::load(None, env_of(&bad)),
            Err(ConfigError::Invalid("udp_bind", _))
        ));
        for limit in ["0", "many", "-1"] {
            let mut bad = MINIMAL.to_vec();
            bad.push(("MEDIA_NODE_ROOM_LIMIT", limit));
            assert!(matches!(
                Config::load(None, env_of(&bad)),
                Err(ConfigError::Invalid("room_limit", _))
            ));
        }
        let mut bad = MINIMAL.to_vec();
        bad.push(("MEDIA_NODE_TOKEN_PUBLIC_KEY", "not-a-key"));
        assert!(matches!(
            Config::load(None, env_of(&bad)),
            Err(ConfigError::Invalid("token_public_key", _))
        ));
        let mut bad = MINIMAL.to_vec();
        bad.push(("MEDIA_NODE_NODE_ID", "Bad Id"));
        assert!(matches!(
            Config::load(None, env_of(&bad)),
            Err(ConfigError::Invalid("node_id", _))
        ));
    }
}
