//! `/healthz`: 200 while intake is connected and subscribed and durable writes succeed, 503
//! with the reasons otherwise (broker lost, reconnecting repeatedly, WAL failing, silence when
//! configured). `degraded` with `warnings` when something was damaged or lost but the intake
//! works (WAL regions unreadable at start, damaged or missing data files, alert deliveries
//! older than `alerts.max_outbox_age_s` still waiting).
//!
//! The reasons may quote the service's files (a WAL error names its segment). A caller without
//! the reader or admin token, when `http.token` is set, gets the same status and fields with
//! every file path in the texts replaced by `<path>`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::sync::Arc;

use crate::HttpState;
use crate::auth::{self, Access, Decision};

pub async fn healthz(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let now = chrono::Utc::now().timestamp_millis();
    let report = state.health.report(now, state.config.disconnect_grace_ms, state.config.max_silence_ms);
    let status = if report.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let buffered = state.store.buffered_rows();
    let mut body = serde_json::to_value(&report).unwrap_or_default();
    body["buffered_rows"] = buffered.into();
    // Damaged or missing stored files: queries answer from the rest, the service is degraded.
    let damaged = state.store.damaged_files();
    body["damaged_files"] = serde_json::to_value(&damaged).unwrap_or_default();
    let mut degraded = !report.warnings.is_empty() || !damaged.is_empty();
    // Alert deliveries that do not leave: the city's services are not being told.
    if let Some(alerting) = state.alerting.clone() {
        let outbox = tokio::task::spawn_blocking(move || alerting.outbox()).await;
        match outbox {
            Ok(Ok((depth, late))) => {
                let age_s = depth.oldest_created_ms.map(|t| (now - t) / 1000);
                body["alert_outbox"] = serde_json::json!({ "pending": depth.pending, "oldest_age_s": age_s, "late": late });
                degraded |= late;
            }
            Ok(Err(e)) => {
                body["alert_outbox"] = serde_json::json!({ "error": e.to_string() });
                degraded = true;
            }
            Err(e) => body["alert_outbox"] = serde_json::json!({ "error": e.to_string() }),
        }
    }
    body["degraded"] = degraded.into();
    if auth::decide(&state.config, Access::Reader, &headers) != Decision::Allow {
        scrub(&mut body);
    }
    (status, Json(body))
}

pub async fn metrics(State(state): State<Arc<HttpState>>) -> String {
    state.prometheus.render()
}

/// Replace the file paths in every text of `value` by `<path>`.
fn scrub(value: &mut Value) {
    match value {
        Value::String(text) => *text = scrub_paths(text),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(fields) => fields.values_mut().for_each(scrub),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `text` with each word that is a file path replaced by `<path>`, the punctuation around it
/// kept. A path: absolute (`/…`), explicitly relative (`./…`, `../…`, `~/…`), or with two
/// `/` or more and no `://` (`data/wal/w/00000001.wal`, not `mqtt://host` nor `I/O`).
fn scrub_paths(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        let core = word.trim_start_matches(['(', '[', '"', '\'', '=']).trim_end_matches([')', ']', '"', '\'', ',', ';', ':', '.']);
        if core.is_empty() || !is_path(core) {
            out.push_str(word);
        } else {
            let lead = word.len() - word.trim_start_matches(['(', '[', '"', '\'', '=']).len();
            out.push_str(&word[..lead]);
            out.push_str("<path>");
            out.push_str(&word[lead + core.len()..]);
        }
        rest = &rest[end..];
    }
    out
}

fn is_path(word: &str) -> bool {
    ["/", "./", "../", "~/"].iter().any(|p| word.starts_with(p)) || (word.matches('/').count() >= 2 && !word.contains("://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_scrubbed_and_the_rest_is_kept() {
        assert_eq!(
            scrub_paths("intake stalled: WAL cannot commit (WAL I/O on /var/lib/ilot/wal/w-1/00000042.wal: No space left on device (os error 28))"),
            "intake stalled: WAL cannot commit (WAL I/O on <path>: No space left on device (os error 28))"
        );
        assert_eq!(scrub_paths("at ./data/wal/x, then \"../up/file\"; and data/wal/w/1.wal."), "at <path>, then \"<path>\"; and <path>.");
        assert_eq!(scrub_paths("(~/ilot/ca.pem)"), "(<path>)");
        let kept = "intake stalled: broker connection lost for 12 s (mqtts://broker.example:8883 refused: network/sensor I/O)";
        assert_eq!(scrub_paths(kept), kept);
        assert_eq!(scrub_paths("  two  spaces /x  "), "  two  spaces <path>  ");

        let mut body = serde_json::json!({"healthy": false, "problems": ["WAL I/O on /tmp/w.wal: denied"], "buffered_rows": 3, "wal": {"damage": "/d/x"}});
        scrub(&mut body);
        assert_eq!(body, serde_json::json!({"healthy": false, "problems": ["WAL I/O on <path>: denied"], "buffered_rows": 3, "wal": {"damage": "<path>"}}));
    }
}
