//! The whiteboard panel: board picker, tools, and a 2D canvas. The model is
//! [`Whiteboards`] (fed by the room socket); this file turns pointer input
//! into [`BoardOp`]s and draws the strokes. Strokes stream while drawn: the
//! points gathered since the last message go out at most once per frame.
//! Text strokes are drawn with `fillText`, never as markup.

use std::collections::HashSet;

use leptos::html::Canvas;
use leptos::prelude::*;
use protocol::ParticipantId;
use protocol::access::{self, Grants, Permission, RoomRole};
use protocol::board::{
    BoardId, BoardOp, Color, DrawPolicy, MAX_MESSAGE_POINTS, Point, Shape, Stroke, StrokeId,
    VIEW_HEIGHT, VIEW_WIDTH,
};
use protocol::room::ClientMessage;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, PointerEvent, WheelEvent};

use super::room::{SocketSlot, send};
use crate::chat::RoomView;
use crate::sketch::{View, topmost};
use crate::whiteboard::Whiteboards;

/// The palette: eight colours; a colour input adds any other.
const PALETTE: [(u32, &str); 8] = [
    (0x111111, "black"),
    (0xe03131, "red"),
    (0xf08c00, "orange"),
    (0xf5c400, "yellow"),
    (0x2f9e44, "green"),
    (0x1971c2, "blue"),
    (0x7048e8, "purple"),
    (0xffffff, "white"),
];

/// Widths offered, board units.
const WIDTHS: [u16; 4] = [2, 6, 12, 24];

/// Pointer slack for erasing and selecting, board units.
const SLACK: f64 = 6.0;

/// What the pointer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Draw(Shape),
    Eraser,
    Select,
    Pan,
}

impl Tool {
    const ALL: [(Tool, &'static str, &'static str); 10] = [
        (Tool::Draw(Shape::Pen), "pen", "Pen"),
        (Tool::Draw(Shape::Highlighter), "highlighter", "Highlighter"),
        (Tool::Draw(Shape::Line), "line", "Line"),
        (Tool::Draw(Shape::Arrow), "arrow", "Arrow"),
        (Tool::Draw(Shape::Rect), "rect", "Rectangle"),
        (Tool::Draw(Shape::Ellipse), "ellipse", "Ellipse"),
        (Tool::Draw(Shape::Text), "text", "Text"),
        (Tool::Eraser, "eraser", "Eraser"),
        (Tool::Select, "select", "Select and move"),
        (Tool::Pan, "pan", "Pan"),
    ];
}

/// A gesture in progress.
#[derive(Debug, Default)]
enum Gesture {
    #[default]
    Idle,
    /// Freehand: the stroke so far, and points not sent yet.
    Freehand {
        board: BoardId,
        stroke: Stroke,
        unsent: Vec<Point>,
        last_sent_ms: f64,
    },
    /// A shape from `start` to the pointer.
    Shape { stroke: Stroke },
    /// Erasing what the pointer crosses.
    Erasing {
        board: BoardId,
        done: HashSet<StrokeId>,
    },
    /// Dragging the selected strokes.
    Moving {
        board: BoardId,
        ids: Vec<StrokeId>,
        from: Point,
        to: Point,
    },
    /// Dragging the view.
    Panning { last: (f64, f64) },
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// A fresh stroke counter: tenths of a second since 2025, and above the last
/// one used, so numbers only go up also across reloads.
fn next_n(last: u32) -> u32 {
    let tenths = ((js_sys::Date::now() - 1_735_689_600_000.0) / 100.0).max(0.0) as u32;
    tenths.max(last.saturating_add(1))
}

fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok()??.dyn_into().ok()
}

/// Sizes the canvas to its box (16:9) and draws every stroke.
fn render(
    canvas: &HtmlCanvasElement,
    view: View,
    strokes: &[Stroke],
    moving: Option<(&[StrokeId], i32, i32)>,
) {
    let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let css_width = f64::from(canvas.client_width().max(1));
    let width = (css_width * ratio).round();
    let height = (width * f64::from(VIEW_HEIGHT) / f64::from(VIEW_WIDTH)).round();
    if f64::from(canvas.width()) != width || f64::from(canvas.height()) != height {
        canvas.set_width(width as u32);
        canvas.set_height(height as u32);
    }
    let Some(ctx) = context(canvas) else { return };
    ctx.set_global_alpha(1.0);
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, width, height);
    for s in strokes {
        let offset = moving
            .filter(|(ids, _, _)| ids.contains(&s.id))
            .map(|(_, dx, dy)| (dx, dy));
        draw(&ctx, view, width, s, offset);
    }
}

fn draw(
    ctx: &CanvasRenderingContext2d,
    view: View,
    width: f64,
    s: &Stroke,
    offset: Option<(i32, i32)>,
) {
    let (dx, dy) = offset.unwrap_or((0, 0));
    let at = |p: Point| view.to_canvas(width, Point(p.0 + dx, p.1 + dy));
    let scale = view.scale(width);
    let color = s.color.css();
    ctx.set_stroke_style_str(&color);
    ctx.set_fill_style_str(&color);
    ctx.set_line_width((f64::from(s.width) * scale).max(1.0));
    ctx.set_line_cap("round");
    ctx.set_line_join("round");
    ctx.set_global_alpha(if s.shape == Shape::Highlighter {
        0.35
    } else {
        1.0
    });
    let (Some(&first), Some(&last)) = (s.points.first(), s.points.last()) else {
        return;
    };
    let (x0, y0) = at(first);
    let (x1, y1) = at(last);
    ctx.begin_path();
    match s.shape {
        Shape::Pen | Shape::Highlighter => {
            if s.points.len() == 1 {
                let r = (f64::from(s.width) * scale / 2.0).max(0.5);
                let _ = ctx.arc(x0, y0, r, 0.0, std::f64::consts::TAU);
                ctx.fill();
                return;
            }
            ctx.move_to(x0, y0);
            for &p in &s.points[1..] {
                let (x, y) = at(p);
                ctx.line_to(x, y);
            }
        }
        Shape::Line => {
            ctx.move_to(x0, y0);
            ctx.line_to(x1, y1);
        }
        Shape::Arrow => {
            ctx.move_to(x0, y0);
            ctx.line_to(x1, y1);
            let angle = (y1 - y0).atan2(x1 - x0);
            let head = (f64::from(s.width) * scale * 4.0).max(8.0);
            for turn in [0.5, -0.5] {
                ctx.move_to(x1, y1);
                ctx.line_to(
                    x1 - head * (angle + turn).cos(),
                    y1 - head * (angle + turn).sin(),
                );
            }
        }
        Shape::Rect => ctx.rect(x0.min(x1), y0.min(y1), (x1 - x0).abs(), (y1 - y0).abs()),
        Shape::Ellipse => {
            let _ = ctx.ellipse(
                (x0 + x1) / 2.0,
                (y0 + y1) / 2.0,
                (x1 - x0).abs() / 2.0,
                (y1 - y0).abs() / 2.0,
                0.0,
                0.0,
                std::f64::consts::TAU,
            );
        }
        Shape::Text => {
            ctx.set_font(&format!(
                "{}px sans-serif",
                (f64::from(s.width) * scale).max(1.0)
            ));
            if let Some(text) = &s.text {
                let _ = ctx.fill_text(text, x0, y0);
            }
            return;
        }
    }
    ctx.stroke();
}

/// The whiteboard panel.
#[component]
pub fn WhiteboardPanel(
    state: RwSignal<RoomView>,
    boards: RwSignal<Whiteboards>,
    socket: SocketSlot,
) -> impl IntoView {
    let slot = socket;
    let canvas = NodeRef::<Canvas>::new();
    let tool = RwSignal::new(Tool::Draw(Shape::Pen));
    let color = RwSignal::new(PALETTE[0].0);
    let width = RwSignal::new(WIDTHS[1]);
    let zoom_view = StoredValue::new(View::default());
    let gesture = StoredValue::new_local(Gesture::Idle);
    let last_n = StoredValue::new(0u32);
    let selected = RwSignal::new(Vec::<StrokeId>::new());
    let message = RwSignal::new(None::<String>);

    let op = move |op: BoardOp| {
        send(slot, ClientMessage::Board(op));
    };
    let me = move || -> Option<ParticipantId> {
        state.with_untracked(|v| v.me.as_ref().map(|m| m.id.clone()))
    };
    let is_host = move || state.with(RoomView::is_host);
    // The room's own rule, to offer the tools only to those it will accept.
    let may_draw = move || {
        let Some((role, id)) = state.with(|v| v.me.as_ref().map(|m| (m.role, m.id.clone()))) else {
            return false;
        };
        let grants = Grants {
            global: None,
            room: Some(role),
        };
        let draw = access::check(grants, Permission::Draw).is_ok();
        let manage = access::check(grants, Permission::ManageBoards).is_ok();
        boards.with(|b| b.state.policy.allows(&id, draw, manage))
    };

    // Ask for the strokes of the board on screen whenever it changes.
    Effect::new(move |_| {
        boards.with(|b| (b.viewing, b.replica.is_some()));
        // Untracked: asking changes nothing the page shows.
        let mut request = None;
        boards.update_untracked(|b| request = b.wanted());
        if let Some(request) = request {
            op(request);
        }
    });

    let redraw = move || {
        let Some(c) = canvas.get_untracked() else {
            return;
        };
        let view = zoom_view.get_value();
        boards.with_untracked(|b| {
            gesture.with_value(|g| {
                let mut extra: Vec<&Stroke> = Vec::new();
                let mut moving = None;
                match g {
                    Gesture::Freehand { stroke, .. } | Gesture::Shape { stroke } => {
                        extra.push(stroke)
                    }
                    Gesture::Moving { ids, from, to, .. } => {
                        moving = Some((ids.as_slice(), to.0 - from.0, to.1 - from.1));
                    }
                    _ => {}
                }
                let all: Vec<Stroke> = b.strokes().iter().chain(extra).cloned().collect();
                render(&c, view, &all, moving);
            })
        });
    };
    // Redraw on every change to what is on screen.
    Effect::new(move |_| {
        boards.with(|b| b.revision);
        canvas.get();
        redraw();
    });
    let on_resize = leptos::prelude::window_event_listener(leptos::ev::resize, move |_| redraw());
    on_cleanup(move || on_resize.remove());

    let point_of = move |ev: &PointerEvent| -> Option<(Point, (f64, f64))> {
        let c = canvas.get_untracked()?;
        let rect = c.get_bounding_client_rect();
        let ratio = f64::from(c.width()) / rect.width().max(1.0);
        let (x, y) = (
            (f64::from(ev.client_x()) - rect.left()) * ratio,
            (f64::from(ev.client_y()) - rect.top()) * ratio,
        );
        Some((
            zoom_view.get_value().to_board(f64::from(c.width()), x, y),
            (x, y),
        ))
    };

    // Sends the points gathered since the last message.
    let flush = move |force: bool| {
        let mut out = None;
        gesture.update_value(|g| {
            if let Gesture::Freehand {
                board,
                stroke,
                unsent,
                last_sent_ms,
            } = g
            {
                let now = now_ms();
                if !unsent.is_empty() && (force || now - *last_sent_ms >= 16.0) {
                    *last_sent_ms = now;
                    out = Some((*board, stroke.id.n, std::mem::take(unsent)));
                }
            }
        });
        if let Some((board, n, points)) = out {
            for chunk in points.chunks(MAX_MESSAGE_POINTS) {
                op(BoardOp::Extend {
                    board,
                    n,
                    points: chunk.to_vec(),
                });
            }
        }
    };

    let on_down = move |ev: PointerEvent| {
        let Some(board) = boards.with_untracked(|b| b.viewing) else {
            return;
        };
        let Some((p, px)) = point_of(&ev) else { return };
        let Some(me) = me() else { return };
        if let Some(c) = canvas.get_untracked() {
            let _ = c.set_pointer_capture(ev.pointer_id());
        }
        message.set(None);
        let t = tool.get_untracked();
        let new_stroke = |shape: Shape, text: Option<String>| {
            let n = next_n(last_n.get_value());
            last_n.set_value(n);
            Stroke {
                id: StrokeId { by: me.clone(), n },
                shape,
                color: Color(color.get_untracked()),
                width: if shape == Shape::Highlighter {
                    width.get_untracked().saturating_mul(3)
                } else if shape == Shape::Text {
                    width.get_untracked().saturating_mul(4).max(16)
                } else {
                    width.get_untracked()
                },
                points: vec![p],
                text,
                done: false,
                z: u64::MAX,
            }
        };
        let next = match t {
            Tool::Draw(Shape::Text) => {
                let text = web_sys::window()
                    .and_then(|w| w.prompt_with_message("Text").ok().flatten())
                    .filter(|t| !t.trim().is_empty());
                if let Some(text) = text {
                    let s = new_stroke(Shape::Text, Some(text.clone()));
                    op(BoardOp::Begin {
                        board,
                        n: s.id.n,
                        shape: Shape::Text,
                        color: s.color,
                        width: s.width,
                        points: vec![p],
                        text: Some(text),
                    });
                    op(BoardOp::End { board, n: s.id.n });
                }
                Gesture::Idle
            }
            Tool::Draw(shape @ (Shape::Pen | Shape::Highlighter)) => {
                let s = new_stroke(shape, None);
                op(BoardOp::Begin {
                    board,
                    n: s.id.n,
                    shape,
                    color: s.color,
                    width: s.width,
                    points: vec![p],
                    text: None,
                });
                Gesture::Freehand {
                    board,
                    stroke: s,
                    unsent: vec![],
                    last_sent_ms: now_ms(),
                }
            }
            Tool::Draw(shape) => {
                let mut s = new_stroke(shape, None);
                s.points.push(p);
                Gesture::Shape { stroke: s }
            }
            Tool::Eraser => {
                let hit =
                    boards.with_untracked(|b| topmost(b.strokes(), p, SLACK).map(|s| s.id.clone()));
                let mut done = HashSet::new();
                if let Some(id) = hit {
                    op(BoardOp::Erase {
                        board,
                        strokes: vec![id.clone()],
                    });
                    done.insert(id);
                }
                Gesture::Erasing { board, done }
            }
            Tool::Select => {
                let hit =
                    boards.with_untracked(|b| topmost(b.strokes(), p, SLACK).map(|s| s.id.clone()));
                match hit {
                    Some(id) => {
                        selected.set(vec![id.clone()]);
                        Gesture::Moving {
                            board,
                            ids: vec![id],
                            from: p,
                            to: p,
                        }
                    }
                    None => {
                        selected.set(vec![]);
                        Gesture::Idle
                    }
                }
            }
            Tool::Pan => Gesture::Panning { last: px },
        };
        gesture.set_value(next);
        redraw();
    };

    let on_move = move |ev: PointerEvent| {
        let Some((p, px)) = point_of(&ev) else { return };
        let width_px = canvas.get_untracked().map_or(1.0, |c| f64::from(c.width()));
        let mut erase = None;
        gesture.update_value(|g| match g {
            Gesture::Freehand { stroke, unsent, .. } => {
                if stroke.points.last() != Some(&p)
                    && stroke.points.len() + unsent.len() < protocol::board::MAX_STROKE_POINTS
                {
                    stroke.points.push(p);
                    unsent.push(p);
                }
            }
            Gesture::Shape { stroke } => {
                if stroke.points.len() == 2 {
                    stroke.points[1] = p;
                }
            }
            Gesture::Erasing { board, done } => {
                let hit =
                    boards.with_untracked(|b| topmost(b.strokes(), p, SLACK).map(|s| s.id.clone()));
                if let Some(id) = hit
                    && done.insert(id.clone())
                {
                    erase = Some((*board, id));
                }
            }
            Gesture::Moving { to, .. } => *to = p,
            Gesture::Panning { last } => {
                let mut v = zoom_view.get_value();
                v.drag(width_px, px.0 - last.0, px.1 - last.1);
                zoom_view.set_value(v);
                *last = px;
            }
            Gesture::Idle => {}
        });
        if let Some((board, id)) = erase {
            op(BoardOp::Erase {
                board,
                strokes: vec![id],
            });
        }
        flush(false);
        redraw();
    };

    let on_up = move |_ev: PointerEvent| {
        flush(true);
        let mut finished = Gesture::Idle;
        gesture.update_value(|g| finished = std::mem::take(g));
        match finished {
            Gesture::Freehand { board, stroke, .. } => op(BoardOp::End {
                board,
                n: stroke.id.n,
            }),
            Gesture::Shape { stroke } => {
                if let Some(board) = boards.with_untracked(|b| b.viewing) {
                    op(BoardOp::Begin {
                        board,
                        n: stroke.id.n,
                        shape: stroke.shape,
                        color: stroke.color,
                        width: stroke.width,
                        points: stroke.points.clone(),
                        text: None,
                    });
                    op(BoardOp::End {
                        board,
                        n: stroke.id.n,
                    });
                }
            }
            Gesture::Moving {
                board,
                ids,
                from,
                to,
            } => {
                let (dx, dy) = (to.0 - from.0, to.1 - from.1);
                if dx != 0 || dy != 0 {
                    op(BoardOp::Move {
                        board,
                        strokes: ids,
                        dx,
                        dy,
                    });
                }
            }
            _ => {}
        }
        redraw();
    };

    let on_wheel = move |ev: WheelEvent| {
        ev.prevent_default();
        let Some(c) = canvas.get_untracked() else {
            return;
        };
        let rect = c.get_bounding_client_rect();
        let ratio = f64::from(c.width()) / rect.width().max(1.0);
        let x = (f64::from(ev.client_x()) - rect.left()) * ratio;
        let y = (f64::from(ev.client_y()) - rect.top()) * ratio;
        let factor = if ev.delta_y() < 0.0 { 1.1 } else { 1.0 / 1.1 };
        let mut v = zoom_view.get_value();
        v.zoom_at(f64::from(c.width()), x, y, factor);
        zoom_view.set_value(v);
        redraw();
    };

    let zoom_by = move |factor: f64| {
        let Some(c) = canvas.get_untracked() else {
            return;
        };
        let (w, h) = (f64::from(c.width()), f64::from(c.height()));
        let mut v = zoom_view.get_value();
        v.zoom_at(w, w / 2.0, h / 2.0, factor);
        zoom_view.set_value(v);
        redraw();
    };

    let viewing = move || boards.with(|b| b.viewing);
    let with_board = move |f: &dyn Fn(BoardId) -> BoardOp| {
        if let Some(b) = boards.with_untracked(|b| b.viewing) {
            op(f(b));
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let ctrl = ev.ctrl_key() || ev.meta_key();
        match ev.key().as_str() {
            "z" | "Z" if ctrl && ev.shift_key() => with_board(&|board| BoardOp::Redo { board }),
            "z" if ctrl => with_board(&|board| BoardOp::Undo { board }),
            "y" if ctrl => with_board(&|board| BoardOp::Redo { board }),
            "Delete" | "Backspace" => {
                let ids = selected.get_untracked();
                if !ids.is_empty() {
                    with_board(&|board| BoardOp::Erase {
                        board,
                        strokes: ids.clone(),
                    });
                    selected.set(vec![]);
                }
            }
            _ => return,
        }
        ev.prevent_default();
    };

    let create = move |_| {
        let n = boards.with_untracked(|b| b.state.boards.len()) + 1;
        op(BoardOp::Create {
            name: format!("Board {n}"),
        });
    };
    let rename = move |_| {
        let Some(board) = viewing() else { return };
        let name = web_sys::window()
            .and_then(|w| w.prompt_with_message("Board name").ok().flatten())
            .filter(|n| !n.trim().is_empty());
        if let Some(name) = name {
            op(BoardOp::Rename { board, name });
        }
    };
    let delete = move |_| {
        let Some(board) = viewing() else { return };
        let sure = web_sys::window()
            .and_then(|w| {
                w.confirm_with_message("Delete this board for everyone?")
                    .ok()
            })
            .unwrap_or(false);
        if sure {
            op(BoardOp::Delete { board });
        }
    };
    let export = move |_| {
        let Some(c) = canvas.get_untracked() else {
            return;
        };
        let Ok(url) = c.to_data_url() else { return };
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        if let Ok(a) = doc.create_element("a") {
            let _ = a.set_attribute("href", &url);
            let _ = a.set_attribute("download", "whiteboard.png");
            if let Ok(a) = a.dyn_into::<web_sys::HtmlElement>() {
                a.click();
            }
        }
    };
    let set_policy = move |value: String| {
        let policy = match value.as_str() {
            "hosts" => DrawPolicy::Hosts,
            "chosen" => DrawPolicy::Chosen { ids: vec![] },
            _ => DrawPolicy::Everyone,
        };
        op(BoardOp::Policy { policy });
    };
    let policy_value = move || {
        boards.with(|b| match b.state.policy {
            DrawPolicy::Everyone => "everyone",
            DrawPolicy::Hosts => "hosts",
            DrawPolicy::Chosen { .. } => "chosen",
        })
    };

    view! {
        <section class="whiteboard" aria-label="Whiteboard">
            <div class="board-bar">
                <label for="board-select">"Board"</label>
                <select id="board-select" on:change=move |ev| {
                    if let Ok(id) = event_target_value(&ev).parse::<u32>() {
                        boards.update(|b| b.view(BoardId(id)));
                        // A presenting host takes everyone along.
                        let presenting = boards.with_untracked(|b| b.state.presented.is_some());
                        if presenting && state.with_untracked(RoomView::is_host) {
                            op(BoardOp::Present { board: Some(BoardId(id)) });
                        }
                    }
                }>
                    {move || boards.with(|b| {
                        let on = b.viewing;
                        b.state.boards.iter().map(|info| {
                            let id = info.id;
                            view! { <option value=id.0.to_string() selected=on == Some(id)>{info.name.clone()}</option> }
                        }).collect_view()
                    })}
                </select>
                <Show when=may_draw>
                    <button id="board-new" type="button" on:click=create>"New board"</button>
                    <button id="board-rename" type="button" on:click=rename disabled=move || viewing().is_none()>"Rename"</button>
                </Show>
                <Show when=is_host>
                    <button id="board-delete" type="button" on:click=delete disabled=move || viewing().is_none()>"Delete"</button>
                    <button id="board-present" type="button" on:click=move |_| op(BoardOp::Present { board: viewing() })>
                        "Bring everyone here"
                    </button>
                    <Show when=move || boards.with(|b| b.state.presented.is_some())>
                        <button id="board-stop-presenting" type="button" on:click=move |_| op(BoardOp::Present { board: None })>
                            "Stop presenting"
                        </button>
                    </Show>
                    <label for="board-policy">"Who may draw"</label>
                    <select id="board-policy" on:change=move |ev| set_policy(event_target_value(&ev))>
                        <option value="everyone" selected=move || policy_value() == "everyone">"Everyone"</option>
                        <option value="hosts" selected=move || policy_value() == "hosts">"Hosts only"</option>
                        <option value="chosen" selected=move || policy_value() == "chosen">"Chosen people"</option>
                    </select>
                    <Show when=move || policy_value() == "chosen">
                        <span id="board-drawers" class="drawers">
                            {move || {
                                let chosen = boards.with(|b| match &b.state.policy {
                                    DrawPolicy::Chosen { ids } => ids.clone(),
                                    _ => vec![],
                                });
                                state.with(|v| v.participants.values()
                                    .filter(|p| p.role == RoomRole::Participant)
                                    .cloned().collect::<Vec<_>>())
                                    .into_iter()
                                    .map(|p| {
                                        let on = chosen.contains(&p.id);
                                        let (id, list) = (p.id.clone(), chosen.clone());
                                        view! {
                                            <label class="check">
                                                <input type="checkbox" class="may-draw" data-id=p.id.to_string() prop:checked=on
                                                    on:change=move |ev| {
                                                        let mut ids = list.clone();
                                                        ids.retain(|x| x != &id);
                                                        if event_target_checked(&ev) {
                                                            ids.push(id.clone());
                                                        }
                                                        op(BoardOp::Policy { policy: DrawPolicy::Chosen { ids } });
                                                    }/>
                                                {p.name}
                                            </label>
                                        }
                                    })
                                    .collect_view()
                            }}
                        </span>
                    </Show>
                </Show>
                <Show when=move || boards.with(|b| b.state.presented.is_some())>
                    <span id="board-presented" class="badge">"Presented by the host"</span>
                </Show>
                <button id="board-export" type="button" on:click=export disabled=move || viewing().is_none()>"Export PNG"</button>
            </div>
            <Show when=move || may_draw() && viewing().is_some()>
                <div class="board-tools" role="toolbar" aria-label="Drawing tools">
                    {Tool::ALL.into_iter().map(|(t, key, label)| view! {
                        <button type="button" class="tool" id=format!("tool-{key}") title=label aria-label=label
                            aria-pressed=move || (tool.get() == t).to_string()
                            on:click=move |_| tool.set(t)>{label}</button>
                    }).collect_view()}
                    {PALETTE.into_iter().map(|(c, name)| view! {
                        <button type="button" class="swatch" id=format!("color-{name}") title=name aria-label=name
                            style=format!("background:{}", Color(c).css())
                            aria-pressed=move || (color.get() == c).to_string()
                            on:click=move |_| color.set(c)></button>
                    }).collect_view()}
                    <input id="color-custom" type="color" aria-label="Custom colour"
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            if let Ok(c) = u32::from_str_radix(v.trim_start_matches('#'), 16) {
                                color.set(c);
                            }
                        }/>
                    {WIDTHS.into_iter().map(|w| view! {
                        <button type="button" class="width" id=format!("width-{w}") title=format!("Width {w}")
                            aria-pressed=move || (width.get() == w).to_string()
                            on:click=move |_| width.set(w)>{w}</button>
                    }).collect_view()}
                    <button id="board-undo" type="button" on:click=move |_| with_board(&|board| BoardOp::Undo { board })>"Undo"</button>
                    <button id="board-redo" type="button" on:click=move |_| with_board(&|board| BoardOp::Redo { board })>"Redo"</button>
                    <Show when=is_host>
                        <button id="board-clear" type="button" on:click=move |_| with_board(&|board| BoardOp::Clear { board })>"Clear board"</button>
                    </Show>
                    <button id="zoom-in" type="button" on:click=move |_| zoom_by(1.25)>"+"</button>
                    <button id="zoom-out" type="button" on:click=move |_| zoom_by(0.8)>"−"</button>
                    <button id="zoom-reset" type="button" on:click=move |_| { zoom_view.set_value(View::default()); redraw(); }>"100%"</button>
                </div>
            </Show>
            <p class="error" role="alert">{move || message.get()}</p>
            <Show when=move || viewing().is_some() fallback=|| view! {
                <p id="board-empty" class="card">"No board yet."</p>
            }>
                <canvas id="board-canvas" node_ref=canvas tabindex="0"
                    data-board=move || viewing().map(|b| b.0.to_string())
                    data-strokes=move || boards.with(|b| b.strokes().len().to_string())
                    class:readonly=move || !may_draw()
                    on:pointerdown=move |ev| if may_draw() || tool.get_untracked() == Tool::Pan { on_down(ev) }
                    on:pointermove=on_move
                    on:pointerup=on_up
                    on:pointercancel=on_up
                    on:wheel=on_wheel
                    on:keydown=on_key></canvas>
            </Show>
        </section>
    }
}
