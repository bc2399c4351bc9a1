//! Layout operations the page performs, pure: moving and resizing panels,
//! pinning and hiding tiles, ordering tiles, and the default for a screen.

use protocol::ParticipantId;
use protocol::layout::{Layout, Panel, PanelPlace, Preset};

/// Screens narrower than this (CSS pixels) get the phone layout.
pub const PHONE_WIDTH: f64 = 700.0;

/// The layout for a screen `width` CSS pixels wide when the user has no
/// default: the grid, and on a phone the speaker view with video first.
pub fn default_for(width: f64) -> Layout {
    if width < PHONE_WIDTH {
        Layout::preset(Preset::Speaker)
    } else {
        Layout::preset(Preset::Grid)
    }
}

/// Switches to `preset`, arranging the panels the way it is meant to be
/// used; pinned and hidden tiles stay.
pub fn apply_preset(layout: &mut Layout, preset: Preset) {
    let place = |panel, visible, size| PanelPlace {
        panel,
        visible,
        size,
    };
    let panels = match preset {
        Preset::Grid | Preset::Speaker => Layout::preset(preset).panels,
        Preset::Sidebar => vec![
            place(Panel::Video, true, 7),
            place(Panel::Chat, true, 5),
            place(Panel::Board, true, 7),
            place(Panel::People, true, 5),
        ],
        Preset::Presentation => vec![
            place(Panel::Board, true, 9),
            place(Panel::Video, true, 3),
            place(Panel::Chat, true, 6),
            place(Panel::People, true, 6),
        ],
        Preset::AudioOnly => vec![
            place(Panel::Video, true, 3),
            place(Panel::People, true, 3),
            place(Panel::Chat, true, 6),
            place(Panel::Board, true, 12),
        ],
    };
    layout.preset = preset;
    layout.panels = panels;
}

/// Moves `panel` `by` places (negative: earlier), within bounds.
pub fn move_panel(layout: &mut Layout, panel: Panel, by: isize) {
    let mut places = layout.places();
    let Some(i) = places.iter().position(|p| p.panel == panel) else {
        return;
    };
    let j = (i as isize + by).clamp(0, places.len() as isize - 1) as usize;
    let p = places.remove(i);
    places.insert(j, p);
    layout.panels = places;
}

/// Puts `panel` where `target` is (drag and drop).
pub fn drop_panel(layout: &mut Layout, panel: Panel, target: Panel) {
    let places = layout.places();
    let (Some(i), Some(j)) = (
        places.iter().position(|p| p.panel == panel),
        places.iter().position(|p| p.panel == target),
    ) else {
        return;
    };
    move_panel(layout, panel, j as isize - i as isize);
}

/// Grows or shrinks `panel` by `by` twelfths, staying within 1 to 12.
pub fn resize_panel(layout: &mut Layout, panel: Panel, by: i8) {
    let mut places = layout.places();
    if let Some(p) = places.iter_mut().find(|p| p.panel == panel) {
        p.size = (p.size as i8 + by).clamp(1, 12) as u8;
    }
    layout.panels = places;
}

/// Shows or hides `panel`.
pub fn set_visible(layout: &mut Layout, panel: Panel, visible: bool) {
    let mut places = layout.places();
    if let Some(p) = places.iter_mut().find(|p| p.panel == panel) {
        p.visible = visible;
    }
    layout.panels = places;
}

/// The place of `panel`.
pub fn place(layout: &Layout, panel: Panel) -> PanelPlace {
    layout
        .places()
        .into_iter()
        .find(|p| p.panel == panel)
        .unwrap_or(PanelPlace {
            panel,
            visible: true,
            size: 4,
        })
}

/// Pins or unpins a participant's tiles (pinned come first, in pin order).
pub fn toggle_pinned(layout: &mut Layout, who: &ParticipantId) {
    if let Some(i) = layout.pinned.iter().position(|p| p == who) {
        layout.pinned.remove(i);
    } else {
        layout.pinned.push(who.clone());
    }
}

/// Hides or shows a participant's video.
pub fn toggle_hidden(layout: &mut Layout, who: &ParticipantId) {
    if let Some(i) = layout.hidden.iter().position(|p| p == who) {
        layout.hidden.remove(i);
    } else {
        layout.hidden.push(who.clone());
    }
}

/// Where a participant's tile goes: pinned first (in pin order), then the
/// active speaker in the speaker view, then as the user ordered them, then
/// the rest as they came.
pub fn tile_rank(layout: &Layout, who: &ParticipantId, speaker: Option<&ParticipantId>) -> usize {
    let pinned = layout.pinned.len();
    if let Some(i) = layout.pinned.iter().position(|p| p == who) {
        return i;
    }
    if layout.preset == Preset::Speaker && speaker == Some(who) {
        return pinned;
    }
    match layout.order.iter().position(|p| p == who) {
        Some(i) => pinned + 1 + i,
        None => pinned + 1 + layout.order.len(),
    }
}

/// Moves `who`'s tile to where `onto`'s is, among `shown` (the tiles in
/// their current order): into the pinned list if `onto` is pinned, else into
/// the user's order.
pub fn drop_tile(
    layout: &mut Layout,
    who: &ParticipantId,
    onto: &ParticipantId,
    shown: &[ParticipantId],
) {
    if who == onto {
        return;
    }
    layout.pinned.retain(|p| p != who);
    if let Some(i) = layout.pinned.iter().position(|p| p == onto) {
        layout.pinned.insert(i, who.clone());
        return;
    }
    let mut order: Vec<ParticipantId> = shown
        .iter()
        .filter(|p| *p != who && !layout.pinned.contains(p))
        .cloned()
        .collect();
    let at = order.iter().position(|p| p == onto).unwrap_or(order.len());
    order.insert(at, who.clone());
    order.truncate(protocol::layout::MAX_TILES);
    layout.order = order;
}

/// Moves `who`'s tile one place earlier (`by` < 0) or later among `shown`.
pub fn nudge_tile(layout: &mut Layout, who: &ParticipantId, by: isize, shown: &[ParticipantId]) {
    let Some(i) = shown.iter().position(|p| p == who) else {
        return;
    };
    let j = i as isize + by;
    if j < 0 || j as usize >= shown.len() {
        return;
    }
    let onto = shown[j as usize].clone();
    if by > 0 {
        // Dropping onto the next tile puts this one before it: swap instead.
        drop_tile(layout, &onto, who, shown);
    } else {
        drop_tile(layout, who, &onto, shown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> ParticipantId {
        ParticipantId::parse(s).unwrap()
    }

    #[test]
    fn panels_move_drop_and_resize_within_bounds() {
        let mut l = Layout::preset(Preset::Grid);
        let order = |l: &Layout| l.places().iter().map(|p| p.panel).collect::<Vec<_>>();
        assert_eq!(
            order(&l),
            [Panel::Video, Panel::People, Panel::Chat, Panel::Board]
        );
        move_panel(&mut l, Panel::Board, -10);
        assert_eq!(order(&l)[0], Panel::Board);
        drop_panel(&mut l, Panel::Chat, Panel::Board);
        assert_eq!(order(&l)[0], Panel::Chat);
        resize_panel(&mut l, Panel::Chat, 100);
        assert_eq!(place(&l, Panel::Chat).size, 12);
        resize_panel(&mut l, Panel::Chat, -100);
        assert_eq!(place(&l, Panel::Chat).size, 1);
        set_visible(&mut l, Panel::People, false);
        assert!(!place(&l, Panel::People).visible);
        assert!(l.check().is_ok());
    }

    #[test]
    fn pinned_then_speaker_then_the_rest() {
        let mut l = Layout::preset(Preset::Speaker);
        let (a, b, c) = (pid("u-a"), pid("u-b"), pid("u-c"));
        toggle_pinned(&mut l, &c);
        assert_eq!(tile_rank(&l, &c, Some(&b)), 0);
        assert_eq!(tile_rank(&l, &b, Some(&b)), 1);
        assert_eq!(tile_rank(&l, &a, Some(&b)), 2);
        toggle_pinned(&mut l, &c);
        assert!(l.pinned.is_empty());
        toggle_hidden(&mut l, &a);
        assert_eq!(l.hidden, std::slice::from_ref(&a));
        toggle_hidden(&mut l, &a);
        assert!(l.hidden.is_empty());
        // The grid does not lift the speaker.
        let g = Layout::preset(Preset::Grid);
        assert_eq!(tile_rank(&g, &b, Some(&b)), tile_rank(&g, &a, Some(&b)));
    }

    #[test]
    fn presets_arrange_panels_and_keep_tiles() {
        let mut l = Layout::preset(Preset::Grid);
        toggle_hidden(&mut l, &pid("u-a"));
        for p in Preset::ALL {
            apply_preset(&mut l, p);
            assert_eq!(l.preset, p);
            assert!(l.check().is_ok());
            assert_eq!(l.places().len(), 4);
        }
        apply_preset(&mut l, Preset::Presentation);
        assert_eq!(l.places()[0].panel, Panel::Board);
        assert_eq!(l.hidden, [pid("u-a")]);
    }

    #[test]
    fn dragging_and_nudging_tiles() {
        let mut l = Layout::preset(Preset::Grid);
        let (a, b, c) = (pid("u-a"), pid("u-b"), pid("u-c"));
        let shown = [a.clone(), b.clone(), c.clone()];
        drop_tile(&mut l, &c, &a, &shown);
        let mut now = shown.to_vec();
        now.sort_by_key(|p| tile_rank(&l, p, None));
        assert_eq!(now, [c.clone(), a.clone(), b.clone()]);
        nudge_tile(&mut l, &c, 1, &now);
        now.sort_by_key(|p| tile_rank(&l, p, None));
        assert_eq!(now, [a.clone(), c.clone(), b.clone()]);
        nudge_tile(&mut l, &a, -1, &now);
        assert_eq!(
            l.order,
            [a.clone(), c.clone(), b.clone()],
            "no place before the first"
        );
        // Onto a pinned tile: among the pinned.
        toggle_pinned(&mut l, &b);
        drop_tile(&mut l, &c, &b, &now);
        assert_eq!(l.pinned, [c.clone(), b.clone()]);
        assert!(l.check().is_ok());
    }

    #[test]
    fn phones_get_the_speaker_view() {
        assert_eq!(default_for(375.0).preset, Preset::Speaker);
        assert_eq!(default_for(1280.0).preset, Preset::Grid);
    }
}
