//! The room's layout: the bar (presets, saved layouts, hidden tiles, host
//! push) and the panel frame (order, size and visibility of the video,
//! people, chat and whiteboard panels). Panels are always mounted; a layout
//! only changes CSS, so switching keeps every panel's state. Everything the
//! mouse does (drag a panel by its title onto another, drag its edge) has
//! buttons for the keyboard.

use leptos::prelude::*;
use protocol::ParticipantId;
use protocol::layout::{
    Layout, Panel, Preset, PushedLayout, SaveLayout, SavedLayout, SavedLayouts,
};
use protocol::room::ClientMessage;
use web_sys::PointerEvent;

use super::room::{SocketSlot, send};
use crate::chat::RoomView;
use crate::layout::{apply_preset, drop_panel, move_panel, place, resize_panel, set_visible};

/// The layout the page shows, and the user's own.
#[derive(Clone, Copy)]
pub struct Layouts {
    /// The user's own layout.
    pub own: RwSignal<Layout>,
    /// The user left a host's (unlocked) pushed layout for their own.
    pub returned: RwSignal<bool>,
    /// The room, for the pushed layout.
    pub room: RwSignal<RoomView>,
}

impl Layouts {
    /// A layout for this screen, replaced by the saved default once loaded.
    pub fn new(room: RwSignal<RoomView>) -> Self {
        let width = web_sys::window()
            .and_then(|w| w.inner_width().ok())
            .and_then(|w| w.as_f64())
            .unwrap_or(1280.0);
        Layouts {
            own: RwSignal::new(crate::layout::default_for(width)),
            returned: RwSignal::new(false),
            room,
        }
    }

    /// The pushed layout, if one holds.
    pub fn pushed(&self) -> Option<PushedLayout> {
        self.room.with(|v| v.pushed_layout.clone())
    }

    /// What the page shows now.
    pub fn current(&self) -> Layout {
        match self.pushed() {
            Some(p) if p.locked || !self.returned.get() => p.layout,
            _ => self.own.get(),
        }
    }

    /// Whether the user may change their layout now.
    pub fn editable(&self) -> bool {
        !self.pushed().is_some_and(|p| p.locked)
    }

    /// Changes the user's own layout (and shows it).
    pub fn edit(&self, f: impl FnOnce(&mut Layout)) {
        if !self.editable() {
            return;
        }
        if self.pushed().is_some() && !self.returned.get_untracked() {
            // Editing a host's layout makes it one's own.
            let current = self.current();
            self.own.set(current);
            self.returned.set(true);
        }
        self.own.update(f);
    }
}

fn style_of(layout: &Layout, panel: Panel) -> String {
    let places = layout.places();
    let order = places.iter().position(|p| p.panel == panel).unwrap_or(0);
    let p = place(layout, panel);
    let display = if p.visible { "" } else { "display:none;" };
    // A share of the row (twelfths) less the gap; panels wrap to new rows.
    format!(
        "order:{order};flex:0 0 calc({:.4}% - 0.8rem);{display}",
        f64::from(p.size) * 100.0 / 12.0
    )
}

/// One panel of the frame, with its title bar (drag to reorder) and right
/// edge (drag to resize).
#[component]
pub fn PanelFrame(panel: Panel, title: &'static str, children: Children) -> impl IntoView {
    let layouts = expect_context::<Layouts>();
    let dragging = StoredValue::new(None::<(f64, f64)>);
    let resizing = StoredValue::new(None::<(f64, f64)>);
    let name = panel.as_str();
    // Dragging the title: drop onto the panel under the pointer.
    let head_down = move |ev: PointerEvent| {
        if let Some(t) = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
        {
            let _ = t.set_pointer_capture(ev.pointer_id());
        }
        dragging.set_value(Some((f64::from(ev.client_x()), f64::from(ev.client_y()))));
    };
    let head_up = move |ev: PointerEvent| {
        if dragging.get_value().is_none() {
            return;
        }
        dragging.set_value(None);
        let target = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.element_from_point(ev.client_x() as f32, ev.client_y() as f32))
            .and_then(|e| e.closest(".panel").ok().flatten())
            .and_then(|e| e.get_attribute("data-panel"))
            .and_then(|n| Panel::ALL.into_iter().find(|p| p.as_str() == n));
        if let Some(target) = target
            && target != panel
        {
            layouts.edit(|l| drop_panel(l, panel, target));
        }
    };
    // Dragging the right edge: a twelfth of the frame's width per step.
    let edge_down = move |ev: PointerEvent| {
        if let Some(t) = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
        {
            let _ = t.set_pointer_capture(ev.pointer_id());
        }
        let width = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("layout"))
            .map_or(1200.0, |e| e.get_bounding_client_rect().width());
        resizing.set_value(Some((f64::from(ev.client_x()), width / 12.0)));
    };
    let edge_move = move |ev: PointerEvent| {
        let Some((start, step)) = resizing.get_value() else {
            return;
        };
        let moved = f64::from(ev.client_x()) - start;
        if moved.abs() >= step {
            let by = (moved / step).trunc() as i8;
            layouts.edit(|l| resize_panel(l, panel, by));
            resizing.set_value(Some((start + f64::from(by) * step, step)));
        }
    };
    let edge_up = move |_| resizing.set_value(None);
    let editable = move || layouts.editable();
    view! {
        <div class=format!("panel panel-{name}") id=format!("panel-{name}") data-panel=name
            style=move || style_of(&layouts.current(), panel)>
            <div class="panel-head">
                <span class="panel-title" title="Drag onto another panel to swap places"
                    on:pointerdown=head_down on:pointerup=head_up>{title}</span>
                <Show when=editable>
                    <span class="panel-keys">
                        <button type="button" class="panel-left" aria-label=format!("Move {title} earlier")
                            on:click=move |_| layouts.edit(|l| move_panel(l, panel, -1))>"◀"</button>
                        <button type="button" class="panel-right" aria-label=format!("Move {title} later")
                            on:click=move |_| layouts.edit(|l| move_panel(l, panel, 1))>"▶"</button>
                        <button type="button" class="panel-narrower" aria-label=format!("Make {title} narrower")
                            on:click=move |_| layouts.edit(|l| resize_panel(l, panel, -1))>"−"</button>
                        <button type="button" class="panel-wider" aria-label=format!("Make {title} wider")
                            on:click=move |_| layouts.edit(|l| resize_panel(l, panel, 1))>"+"</button>
                        <button type="button" class="panel-hide" aria-label=format!("Hide {title}")
                            on:click=move |_| layouts.edit(|l| set_visible(l, panel, false))>"×"</button>
                    </span>
                </Show>
            </div>
            <div class="panel-body">{children()}</div>
            <div class="panel-edge" title="Drag to resize" on:pointerdown=edge_down
                on:pointermove=edge_move on:pointerup=edge_up></div>
        </div>
    }
}

/// The layout bar above the panels.
#[component]
pub fn LayoutBar(socket: SocketSlot) -> impl IntoView {
    let layouts = expect_context::<Layouts>();
    let room = layouts.room;
    let saved = RwSignal::new(Vec::<SavedLayout>::new());
    let name = RwSignal::new(String::new());
    let as_default = RwSignal::new(true);
    let error = RwSignal::new(None::<String>);
    let push_locked = RwSignal::new(false);

    // The account's layouts; the default one applies when the room opens.
    let load = move |apply_default: bool| {
        leptos::task::spawn_local(async move {
            if let Ok(list) = crate::api::get::<SavedLayouts>("/api/layouts").await {
                if apply_default && let Some(d) = list.layouts.iter().find(|l| l.default) {
                    layouts.own.set(d.layout.clone());
                }
                saved.set(list.layouts);
            }
        });
    };
    load(true);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = SaveLayout {
            name: name.get_untracked(),
            layout: layouts.current(),
            default: as_default.get_untracked(),
        };
        leptos::task::spawn_local(async move {
            match crate::api::call::<SavedLayout>("POST", "/api/layouts", Some(&body)).await {
                Ok(_) => {
                    error.set(None);
                    name.set(String::new());
                    load(false);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let hidden = move || layouts.current().hidden;
    let names = move || room.with(|v| v.participants.clone());
    let is_host = move || room.with(RoomView::is_host);
    let push = move |pushed: Option<PushedLayout>| {
        send(socket, ClientMessage::PushLayout { pushed });
    };
    view! {
        <div class="layout-bar" role="toolbar" aria-label="Layout">
            <label for="layout-preset">"Layout"</label>
            <select id="layout-preset" disabled=move || !layouts.editable()
                on:change=move |ev| {
                    if let Some(p) = Preset::parse(&event_target_value(&ev)) {
                        layouts.edit(|l| apply_preset(l, p));
                    }
                }>
                {Preset::ALL.into_iter().map(|p| {
                    let label = match p {
                        Preset::Grid => "Grid",
                        Preset::Speaker => "Speaker",
                        Preset::Sidebar => "Sidebar",
                        Preset::Presentation => "Presentation",
                        Preset::AudioOnly => "Audio only",
                    };
                    view! { <option value=p.as_str() selected=move || layouts.current().preset == p>{label}</option> }
                }).collect_view()}
            </select>
            <label for="layout-saved">"Saved"</label>
            <select id="layout-saved" disabled=move || !layouts.editable()
                on:change=move |ev| {
                    let id = event_target_value(&ev);
                    if let Some(l) = saved.with_untracked(|s| s.iter().find(|l| l.id == id).cloned()) {
                        layouts.edit(|own| *own = l.layout);
                    }
                }>
                <option value="">"—"</option>
                {move || saved.get().into_iter().map(|l| view! {
                    <option value=l.id.clone()>{l.name.clone()}{if l.default { " (default)" } else { "" }}</option>
                }).collect_view()}
            </select>
            <form id="layout-save-form" class="inline" on:submit=save>
                <input id="layout-name" placeholder="Name this layout" maxlength="60"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                <label class="check">
                    <input id="layout-save-default" type="checkbox" prop:checked=move || as_default.get()
                        on:change=move |ev| as_default.set(event_target_checked(&ev))/>
                    "my default"
                </label>
                <button id="layout-save" type="submit">"Save layout"</button>
            </form>
            {move || Panel::ALL.into_iter()
                .filter(|p| !place(&layouts.current(), *p).visible)
                .map(|p| view! {
                    <button type="button" class="panel-show" id=format!("show-{}", p.as_str())
                        on:click=move |_| layouts.edit(|l| set_visible(l, p, true))>{format!("Show {}", p.as_str())}</button>
                }).collect_view()}
            {move || hidden().into_iter().map(|id: ParticipantId| {
                let label = names().get(&id).map_or_else(|| id.to_string(), |p| p.name.clone());
                let who = id.clone();
                view! {
                    <button type="button" class="unhide" data-id=id.to_string()
                        on:click=move |_| layouts.edit(|l| crate::layout::toggle_hidden(l, &who))>
                        "Show " {label}
                    </button>
                }
            }).collect_view()}
            <Show when=move || layouts.pushed().is_some() && !is_host()>
                <span id="layout-pushed" class="badge">"Layout set by the host"</span>
                <Show when=move || layouts.editable()>
                    <button id="layout-return" type="button" on:click=move |_| layouts.returned.update(|r| *r = !*r)>
                        {move || if layouts.returned.get() { "Use the host's layout" } else { "Use my layout" }}
                    </button>
                </Show>
            </Show>
            <Show when=is_host>
                <label class="check">
                    <input id="layout-push-locked" type="checkbox" prop:checked=move || push_locked.get()
                        on:change=move |ev| push_locked.set(event_target_checked(&ev))/>
                    "keep it"
                </label>
                <button id="layout-push" type="button" on:click=move |_| push(Some(PushedLayout {
                    layout: layouts.own.get_untracked(),
                    locked: push_locked.get_untracked(),
                }))>"Show everyone my layout"</button>
                <Show when=move || layouts.pushed().is_some()>
                    <button id="layout-unpush" type="button" on:click=move |_| push(None)>"Let everyone choose"</button>
                </Show>
            </Show>
            <span class="error" role="alert">{move || error.get()}</span>
        </div>
    }
}

/// Effects of the layout on the room: a new push brings the user back to it.
pub fn follow_pushes(layouts: Layouts) {
    Effect::new(move |_| {
        layouts.room.with(|v| v.pushed_layout.clone());
        layouts.returned.set(false);
    });
}
