//! The store: one transaction per evaluation, deliveries queued once per subscription, in order.

use super::*;
use crate::lifecycle::{Observation, Timing, Trend};
use chrono::TimeZone;

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 7, 14, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

fn subscription(id: &str, min_level: Level) -> Subscription {
    Subscription {
        id: id.into(),
        url: format!("https://example.org/{id}").parse().unwrap(),
        rules: vec![],
        areas: vec![],
        min_level,
        secret: WebhookSecret::generate(),
        disabled: None,
    }
}

fn published(alert_id: &str, seq: u64, change: Change, level: Level, previous_level: Level) -> PublishedEvent {
    let observation = Observation { period: None, raise_level: level, hold_level: level, value: Some(36.0), evidence: serde_json::Value::Null, members: None };
    let event = AlertEvent {
        alert_id: alert_id.into(),
        seq,
        change,
        level,
        previous_level,
        onset: t(0),
        issued: t(seq as i64),
        expires: t(600),
        trend: Trend::Sustained,
        observation,
    };
    PublishedEvent { payload: format!("{{\"id\":\"{}\"}}", event_id(alert_id, seq)), event_type: "heat.alert.x".into(), event }
}

fn update(area: &str, event: PublishedEvent) -> AreaUpdate {
    let timing = Timing { raise_after_s: 0, clear_after_s: 0, absent_after_s: 0, valid_for_s: 0 };
    // Any non-quiet state will do here: the store keeps it as given.
    let mut state = AreaState::default();
    state.step(&[event.event.observation.clone()], t(0), &timing, || event.event.alert_id.clone());
    AreaUpdate { area: area.into(), state, event: Some(event) }
}

#[test]
fn states_events_and_deliveries_are_committed_together_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::open(&dir.path().join("alerts.sqlite")).unwrap();
    store.put_subscription(&subscription("sub_all", Level::Yellow)).unwrap();
    let queued = store.commit("heat", &[update("toulouse", published("alr_1", 1, Change::Raised, Level::Yellow, Level::Green))], Some(t(1))).unwrap();
    assert_eq!(queued, 1);
    assert_eq!(store.rule_cursor("heat").unwrap(), Some(t(1)));
    assert_eq!(store.rule_cursor("other").unwrap(), None);
    drop(store);
    // Reopened (a restart): the state and the delivery are there.
    let store = AlertStore::open(&dir.path().join("alerts.sqlite")).unwrap();
    let states = store.area_states("heat").unwrap();
    assert_eq!(states["toulouse"].active().unwrap().id, "alr_1");
    let delivery = store.next_delivery("sub_all").unwrap().unwrap();
    assert_eq!((delivery.event_id.as_str(), delivery.body.as_str(), delivery.attempts), ("alr_1.1", r#"{"id":"alr_1.1"}"#, 0));
    // A quiet area is forgotten.
    store.commit("heat", &[AreaUpdate { area: "toulouse".into(), state: AreaState::Quiet, event: None }], Some(t(2))).unwrap();
    assert!(store.area_states("heat").unwrap().is_empty());
}

#[test]
fn an_event_below_a_subscriptions_level_is_not_sent_unless_it_follows_one_that_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::open(&dir.path().join("alerts.sqlite")).unwrap();
    store.put_subscription(&subscription("sub_orange", Level::Orange)).unwrap();
    let updated = |reasons| Change::Updated { reasons };
    let events = [
        published("alr_1", 1, Change::Raised, Level::Yellow, Level::Green),
        published("alr_1", 2, updated(vec![]), Level::Orange, Level::Yellow),
        published("alr_1", 3, updated(vec![]), Level::Yellow, Level::Orange),
        published("alr_1", 4, Change::Cleared { reason: crate::lifecycle::ClearReason::BelowThreshold }, Level::Green, Level::Yellow),
        // Another alert that never reaches orange: nothing of it.
        published("alr_2", 1, Change::Raised, Level::Yellow, Level::Green),
    ];
    for event in events {
        store.commit("heat", &[update("a", event)], Some(t(1))).unwrap();
    }
    let mut sent = Vec::new();
    while let Some(d) = store.next_delivery("sub_orange").unwrap() {
        sent.push(d.event_id.clone());
        store.delivered(d.outbox_id, t(2)).unwrap();
    }
    assert_eq!(sent, ["alr_1.2", "alr_1.3", "alr_1.4"]);
}

#[test]
fn deliveries_go_in_order_retry_die_and_are_replayed_with_their_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::open(&dir.path().join("alerts.sqlite")).unwrap();
    store.put_subscription(&subscription("sub", Level::Yellow)).unwrap();
    for seq in 1..=3 {
        let change = if seq == 1 { Change::Raised } else { Change::Updated { reasons: vec![] } };
        store.commit("heat", &[update("a", published("alr_1", seq, change, Level::Yellow, Level::Green))], Some(t(seq as i64))).unwrap();
    }
    let depth = store.outbox_depth().unwrap();
    assert_eq!(depth.pending, 3);
    assert!(depth.oldest_created_ms.unwrap() <= Utc::now().timestamp_millis(), "queued at the wall-clock time");
    // The head fails: it stays the head (per-endpoint order), with one attempt counted.
    let head = store.next_delivery("sub").unwrap().unwrap();
    store.failed(head.outbox_id, "HTTP 503", Some(t(10)), t(5)).unwrap();
    let again = store.next_delivery("sub").unwrap().unwrap();
    assert_eq!((again.event_id.as_str(), again.attempts, again.next_attempt_ms), ("alr_1.1", 1, t(10).timestamp_millis()));
    // Given up: a dead letter, and the next event becomes the head.
    store.failed(head.outbox_id, "HTTP 503", None, t(11)).unwrap();
    assert_eq!(store.next_delivery("sub").unwrap().unwrap().event_id, "alr_1.2");
    let dead = store.dead_letters().unwrap();
    assert_eq!((dead.len(), dead[0].event_id.as_str(), dead[0].attempts, dead[0].last_error.as_deref()), (1, "alr_1.1", 2, Some("HTTP 503")));
    // Replayed: pending again, same event id, first in line.
    assert!(store.replay(head.outbox_id, t(20)).unwrap());
    assert!(!store.replay(head.outbox_id, t(20)).unwrap(), "only a dead letter is replayed");
    assert_eq!(store.next_delivery("sub").unwrap().unwrap().event_id, "alr_1.1");
    assert!(store.dead_letters().unwrap().is_empty());
}

#[test]
fn a_disabled_or_deleted_subscription_gets_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::open(&dir.path().join("alerts.sqlite")).unwrap();
    store.put_subscription(&subscription("gone", Level::Yellow)).unwrap();
    store.put_subscription(&subscription("other", Level::Yellow)).unwrap();
    store.disable_subscription("gone", "HTTP 410 Gone").unwrap();
    let queued = store.commit("heat", &[update("a", published("alr_1", 1, Change::Raised, Level::Yellow, Level::Green))], Some(t(1))).unwrap();
    assert_eq!(queued, 1);
    assert_eq!(store.subscriptions().unwrap()[0].disabled.as_deref(), Some("HTTP 410 Gone"));
    // Given again by the configuration at a restart: still disabled, until an admin enables it.
    store.put_subscription(&subscription("gone", Level::Yellow)).unwrap();
    assert!(store.subscriptions().unwrap()[0].disabled.is_some());
    assert!(store.enable_subscription("gone").unwrap());
    assert!(store.subscriptions().unwrap()[0].disabled.is_none());
    assert!(store.delete_subscription("other").unwrap());
    assert!(!store.delete_subscription("other").unwrap());
    assert_eq!(store.outbox_depth().unwrap().pending, 0);
}

#[test]
fn a_second_process_cannot_open_a_held_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.sqlite");
    let first = AlertStore::open(&path).unwrap();
    // Another connection stands for another process (SQLite's locks are per connection).
    assert!(matches!(AlertStore::open(&path), Err(AlertStoreError::Held { .. })));
    drop(first);
    AlertStore::open(&path).unwrap();
}
