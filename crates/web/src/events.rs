//! Live updates: one watcher reads the open holds while someone listens and publishes them
//! when they change; `GET /api/events` streams them as server-sent events (`event: holds`).
//! Holds are written by other processes too (hooks, proxies), so the store is read again every
//! half second, and at once after a decision made here.

use std::convert::Infallible;
use std::sync::{OnceLock, Weak};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::{Notify, watch};

use crate::session::SignedIn;
use crate::{Console, Inner};

/// How often the watcher reads the store while a stream is open.
const POLL: Duration = Duration::from_millis(500);

/// The latest open holds (as the JSON the stream sends) and the watcher's wake-up.
pub(crate) struct Changes {
    holds: watch::Sender<String>,
    poke: Notify,
    stop: OnceLock<watch::Receiver<bool>>,
}

impl Default for Changes {
    fn default() -> Changes {
        Changes { holds: watch::channel(String::new()).0, poke: Notify::new(), stop: OnceLock::new() }
    }
}

impl Changes {
    /// Read the store now (after a decision).
    pub(crate) fn poke(&self) {
        self.poke.notify_one();
    }

    /// The server's stop signal, which ends every stream.
    pub(crate) fn set_stop(&self, stop: watch::Receiver<bool>) {
        let _ = self.stop.set(stop);
    }
}

/// The watcher: runs until the console is gone or `stop` says so.
pub(crate) async fn watch(console: Weak<Inner>, mut stop: watch::Receiver<bool>) {
    loop {
        let Some(inner) = console.upgrade() else { return };
        if inner.changes.holds.receiver_count() > 0
            && let Ok(holds) = crate::api::open_holds(&inner, holdpoint_store::unix_now()).await
        {
            let text = serde_json::Value::Array(holds).to_string();
            inner.changes.holds.send_if_modified(|old| {
                let changed = *old != text;
                if changed {
                    *old = text;
                }
                changed
            });
        }
        tokio::select! {
            _ = inner.changes.poke.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// `GET /api/events`: `event: holds` with the open holds (a JSON array, newest first) now and
/// whenever they change; ends when the session or the server does.
pub(crate) async fn events(
    State(console): State<Console>,
    signed: SignedIn,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut rx = console.inner.changes.holds.subscribe();
    rx.mark_changed();
    console.inner.changes.poke();
    let stop = console.inner.changes.stop.get().cloned();
    let weak = std::sync::Arc::downgrade(&console.inner);
    let state = (rx, stop, weak, signed.id);
    let stream = futures_util::stream::unfold(state, |(mut rx, mut stop, weak, id)| async move {
        loop {
            let changed = match stop.as_mut() {
                Some(stop) => tokio::select! {
                    r = rx.changed() => r.is_ok(),
                    _ = stop.wait_for(|s| *s) => false,
                },
                None => rx.changed().await.is_ok(),
            };
            let inner = weak.upgrade()?;
            if !changed || !inner.sessions.is_live(&id) {
                return None;
            }
            let text = rx.borrow_and_update().clone();
            if text.is_empty() {
                continue;
            }
            let event = Event::default().event("holds").data(text);
            return Some((Ok(event), (rx, stop, weak, id)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
