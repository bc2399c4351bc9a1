//! Helpers for the call tests: joining a call through the pages, and reading
//! what each browser decodes from `getStats()`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::browser::Browser;
use crate::paths::Paths;

/// How long a step may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// Per remote track, keyed `participant/source`: `n`, frames decoded for
/// video and packets received for audio (concealment alone also raises
/// `totalSamplesReceived`), and `codec`, its MIME type.
pub const INBOUND: &str = r#"
const done = arguments[arguments.length - 1];
const pc = window.__openTelecon && window.__openTelecon.pc;
if (!pc) { done(null); return; }
pc.getStats().then(stats => {
  const out = {};
  stats.forEach(r => {
    if (r.type !== 'inbound-rtp') return;
    // What each section carries now, as the node told the page (a video
    // slot's counters run on across the tracks it carried).
    const names = window.__openTelecon.names || {};
    const key = names[r.mid];
    if (!key) return;
    const codec = r.codecId && stats.get(r.codecId);
    out[key] = {
      n: r.kind === 'video' ? (r.framesDecoded || 0) : (r.packetsReceived || 0),
      bytes: r.bytesReceived || 0,
      codec: codec ? codec.mimeType : null,
    };
  });
  done(out);
}, () => done(null));
"#;

#[derive(serde::Deserialize)]
struct Inbound {
    n: u64,
    bytes: u64,
    codec: Option<String>,
}

async fn inbound(c: &Client) -> BTreeMap<String, Inbound> {
    let v = c.execute_async(INBOUND, vec![]).await.unwrap_or_default();
    serde_json::from_value(v).unwrap_or_default()
}

/// One figure of each remote track, where `pick` finds it.
async fn per_track<T>(c: &Client, pick: impl Fn(Inbound) -> Option<T>) -> BTreeMap<String, T> {
    let all = inbound(c).await;
    all.into_iter()
        .filter_map(|(k, v)| Some((k, pick(v)?)))
        .collect()
}

/// Frames decoded per remote video track and packets received per remote
/// microphone.
pub async fn counters(c: &Client) -> BTreeMap<String, u64> {
    per_track(c, |v| Some(v.n)).await
}

/// Bytes received per remote track.
pub async fn bytes_received(c: &Client) -> BTreeMap<String, u64> {
    per_track(c, |v| Some(v.bytes)).await
}

/// The codec each remote track arrives in, e.g. `video/VP9`.
pub async fn codecs(c: &Client) -> BTreeMap<String, String> {
    per_track(c, |v| v.codec).await
}

/// Waits until every one of `keys` rises between two samples a second apart.
pub async fn all_rising(c: &Client, who: &str, keys: &[String]) {
    let last = std::sync::Mutex::new(BTreeMap::new());
    let found = crate::eventually(&format!("{who} to decode {keys:?}"), WAIT, || async {
        let a = counters(c).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let b = counters(c).await;
        *last.lock().unwrap() = b.clone();
        keys.iter()
            .all(|k| matches!((a.get(k), b.get(k)), (Some(x), Some(y)) if y > x && *x > 0))
            .then_some(())
    })
    .await;
    if let Err(e) = found {
        let mut status = String::new();
        for css in ["#status", "#call-status"] {
            if let Ok(el) = c.find(Locator::Css(css)).await {
                status += &format!("{css}: {} ", el.text().await.unwrap_or_default());
            }
        }
        let diag = c
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                window.__openTelecon.pc.getStats().then(s => { const out = [];
                  s.forEach(r => { if (r.type === 'transport') out.push(['transport', r.dtlsState, r.iceState, r.bytesReceived, r.bytesSent, r.selectedCandidatePairChanges]);
                    if (r.type === 'candidate-pair') { const l = s.get(r.localCandidateId), m = s.get(r.remoteCandidateId); out.push(['pair', r.state, r.nominated, r.bytesReceived, r.bytesSent, l && (l.address + ':' + l.port), m && (m.address + ':' + m.port), r.lastPacketReceivedTimestamp, r.responsesReceived, r.requestsSent]); }
                    if (r.type === 'inbound-rtp') out.push(['in', r.kind, r.mid, r.trackIdentifier, r.packetsReceived, r.framesDecoded, r.keyFramesDecoded, r.pliCount, r.nackCount]);
                    if (r.type === 'outbound-rtp') out.push(['out', r.kind, r.mid, r.rid, r.packetsSent, r.framesEncoded, r.qualityLimitationReason]); });
                  document.querySelectorAll('video').forEach(v => out.push(['video', v.srcObject ? v.srcObject.getTracks().map(t => t.id).join(',') : null]));
                  done(JSON.stringify(out)); });"#,
                vec![],
            )
            .await
            .unwrap_or_default();
        panic!(
            "{e}; last counters {:?}; call status {status:?}; stats {diag}",
            last.lock().unwrap()
        );
    }
}

pub async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

pub async fn text_is(c: &Client, css: &str, wanted: &str) {
    let last = std::sync::Mutex::new(String::new());
    let found = crate::eventually(&format!("{css} to read {wanted}"), WAIT, || async {
        let t = c.find(Locator::Css(css)).await.ok()?.text().await.ok()?;
        *last.lock().unwrap() = t.clone();
        (t == wanted).then_some(())
    })
    .await;
    if let Err(e) = found {
        let errors = c.find_all(Locator::Css(".error")).await.unwrap_or_default();
        let mut texts = Vec::new();
        for el in errors {
            texts.push(el.text().await.unwrap_or_default());
        }
        let sdp = c
            .execute("const p = window.__openTelecon && window.__openTelecon.pc; return [p && p.signalingState, p && p.connectionState]", vec![])
            .await
            .unwrap_or_default();
        panic!(
            "{e}; it reads {:?}; errors on the page: {texts:?}; pc {sdp}",
            last.lock().unwrap()
        );
    }
}

/// Opens a browser, logs in as `email` through the page, opens `room` and
/// joins its call.
pub async fn join(paths: &Paths, log_dir: &Path, email: &str, url: &str, room: &str) -> Browser {
    join_in(paths, log_dir, email, url, room, None).await
}

/// [`join`], publishing video in `codec` (a value of the preview's codec
/// picker) where given.
pub async fn join_in(
    paths: &Paths,
    log_dir: &Path,
    email: &str,
    url: &str,
    room: &str,
    codec: Option<&str>,
) -> Browser {
    let browser = open_room(paths, log_dir, email, url, room).await;
    let c = &browser.client;
    if let Some(codec) = codec {
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#codec-select"))
            .await
            .unwrap()
            .select_by_value(codec)
            .await
            .unwrap();
    }
    click(c, "#join-call").await;
    text_is(c, "#call-status", "connected").await;
    browser
}

/// Opens a browser, logs in as `email` through the page and opens `room`.
pub async fn open_room(
    paths: &Paths,
    log_dir: &Path,
    email: &str,
    url: &str,
    room: &str,
) -> Browser {
    let browser = Browser::start(paths, log_dir).await.unwrap();
    let c = &browser.client;
    c.goto(&format!("{url}/login")).await.unwrap();
    let field = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#login-email"))
        .await
        .unwrap();
    field.send_keys(email).await.unwrap();
    let field = c.find(Locator::Css("#login-password")).await.unwrap();
    field
        .send_keys(&format!("{}\u{E007}", crate::api::PASSWORD))
        .await
        .unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#signed-in-as"))
        .await
        .unwrap();
    c.goto(&format!("{url}/r/{room}")).await.unwrap();
    text_is(c, "#status", "connected").await;
    browser
}

/// Polls `check` every 200 ms until it holds; panics after [`WAIT`].
pub async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = std::time::Instant::now();
    while !check().await {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Chooses `value` in the `<select>` at `css`, once it exists.
pub async fn select(c: &Client, css: &str, value: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}
