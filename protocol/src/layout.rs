//! Layouts: how a room's panels and video tiles are arranged on screen. A
//! layout is data, so it can be saved on an account (the API), pushed by a
//! host to everyone (the room), and applied by the browser.

use serde::{Deserialize, Serialize};

use crate::ParticipantId;

/// Saved layouts per account.
pub const MAX_SAVED: usize = 50;
/// Characters in a layout's name.
pub const MAX_NAME_CHARS: usize = 60;
/// Pinned or hidden tiles one layout may name.
pub const MAX_TILES: usize = 64;

/// A ready-made arrangement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Every tile the same size.
    #[default]
    Grid,
    /// The active speaker large, a strip of the others.
    Speaker,
    /// Video beside chat or the whiteboard.
    Sidebar,
    /// A screen share or the whiteboard large, a strip of video.
    Presentation,
    /// No video: names and sound only.
    AudioOnly,
}

impl Preset {
    /// Every preset, in the order a picker lists them.
    pub const ALL: [Preset; 5] = [
        Preset::Grid,
        Preset::Speaker,
        Preset::Sidebar,
        Preset::Presentation,
        Preset::AudioOnly,
    ];

    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Grid => "grid",
            Preset::Speaker => "speaker",
            Preset::Sidebar => "sidebar",
            Preset::Presentation => "presentation",
            Preset::AudioOnly => "audio_only",
        }
    }

    /// The preset named `s`.
    pub fn parse(s: &str) -> Option<Preset> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A panel of the room page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Panel {
    /// Video tiles and call controls.
    Video,
    /// The participants list.
    People,
    /// Chat.
    Chat,
    /// The whiteboard.
    Board,
}

impl Panel {
    /// Every panel.
    pub const ALL: [Panel; 4] = [Panel::Video, Panel::People, Panel::Chat, Panel::Board];

    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Panel::Video => "video",
            Panel::People => "people",
            Panel::Chat => "chat",
            Panel::Board => "board",
        }
    }
}

/// Where a panel goes and how big it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelPlace {
    /// Which panel.
    pub panel: Panel,
    /// Shown at all.
    pub visible: bool,
    /// Relative width, 1 to 12 (a share of the row).
    pub size: u8,
}

/// An arrangement: a preset, the panels in order with their sizes, and which
/// tiles are pinned first or hidden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// The preset it starts from.
    pub preset: Preset,
    /// The panels, in screen order; each at most once.
    #[serde(default)]
    pub panels: Vec<PanelPlace>,
    /// Participants whose tiles come first, in this order.
    #[serde(default)]
    pub pinned: Vec<ParticipantId>,
    /// Participants whose video is not shown (and not downloaded).
    #[serde(default)]
    pub hidden: Vec<ParticipantId>,
    /// The order of the other tiles, as the user dragged them; tiles not
    /// named come after.
    #[serde(default)]
    pub order: Vec<ParticipantId>,
}

impl Layout {
    /// A preset with every panel visible in the usual order.
    pub fn preset(preset: Preset) -> Layout {
        Layout {
            preset,
            panels: Panel::ALL
                .into_iter()
                .map(|panel| PanelPlace {
                    panel,
                    visible: true,
                    // Video and whiteboard a row each; people and chat share one.
                    size: match panel {
                        Panel::Video | Panel::Board => 12,
                        Panel::People => 4,
                        Panel::Chat => 8,
                    },
                })
                .collect(),
            pinned: vec![],
            hidden: vec![],
            order: vec![],
        }
    }

    /// Checks what a client may not send: a panel twice, sizes outside 1 to
    /// 12, too many tiles named.
    pub fn check(&self) -> Result<(), LayoutError> {
        for (i, p) in self.panels.iter().enumerate() {
            if self.panels[..i].iter().any(|q| q.panel == p.panel) {
                return Err(LayoutError(format!(
                    "panel {} appears twice",
                    p.panel.as_str()
                )));
            }
            if !(1..=12).contains(&p.size) {
                return Err(LayoutError("panel sizes are 1 to 12".into()));
            }
        }
        if self.pinned.len() > MAX_TILES
            || self.hidden.len() > MAX_TILES
            || self.order.len() > MAX_TILES
        {
            return Err(LayoutError(format!(
                "at most {MAX_TILES} pinned, hidden and ordered tiles each"
            )));
        }
        Ok(())
    }

    /// The panels in order, with any panel the layout leaves out appended,
    /// visible (so an older saved layout still shows new panels).
    pub fn places(&self) -> Vec<PanelPlace> {
        let mut out = self.panels.clone();
        for p in Layout::preset(self.preset).panels {
            if !out.iter().any(|q| q.panel == p.panel) {
                out.push(p);
            }
        }
        out
    }
}

/// Why a layout was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A layout a host pushed to everyone in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedLayout {
    /// The arrangement.
    pub layout: Layout,
    /// Participants may not return to their own layout while it holds.
    #[serde(default)]
    pub locked: bool,
}

/// A layout saved on an account (`/api/layouts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedLayout {
    /// Its id.
    pub id: String,
    /// Its name, as the user typed it (shown as text).
    pub name: String,
    /// The arrangement.
    pub layout: Layout,
    /// Applied when the user opens a room.
    pub default: bool,
}

/// `GET /api/layouts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedLayouts {
    /// The account's layouts, oldest first.
    pub layouts: Vec<SavedLayout>,
}

/// `POST /api/layouts` and `PUT /api/layouts/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveLayout {
    /// Its name.
    pub name: String,
    /// The arrangement.
    pub layout: Layout,
    /// Make it the default (and no other).
    #[serde(default)]
    pub default: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_and_checks() {
        let l: Layout = serde_json::from_str(
            r#"{"preset":"speaker","panels":[{"panel":"chat","visible":true,"size":4}],"hidden":["u-a"]}"#,
        )
        .unwrap();
        assert_eq!(l.preset, Preset::Speaker);
        assert!(l.check().is_ok());
        // Panels it leaves out come after, visible.
        let places = l.places();
        assert_eq!(places[0].panel, Panel::Chat);
        assert_eq!(places.len(), 4);
        let mut twice = l.clone();
        twice.panels.push(twice.panels[0]);
        assert!(twice.check().is_err());
        let mut big = l.clone();
        big.panels[0].size = 13;
        assert!(big.check().is_err());
        assert!(serde_json::from_str::<Layout>(r#"{"preset":"grid","x":1}"#).is_err());
        assert!(serde_json::from_str::<Layout>(r#"{"preset":"mosaic"}"#).is_err());
        for p in Preset::ALL {
            assert_eq!(Preset::parse(p.as_str()), Some(p));
        }
    }
}
