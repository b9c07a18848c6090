//! Evaluations over a scripted query side: the domain's worked example replayed day by day.

use super::*;
use crate::subscription::Subscription;
use serde_json::json;
use std::sync::Mutex;

type Script = Box<dyn Fn(DateTime<Utc>) -> Vec<Map<String, Value>> + Send + Sync>;

/// Answers a rule's query by the evaluation time written into it, and a settable watermark.
#[derive(Clone)]
struct Scripted {
    rows: Arc<Script>,
    watermark: Arc<Mutex<Option<DateTime<Utc>>>>,
}

fn at_of(sql: &str) -> DateTime<Utc> {
    let start = sql.find(", as of ").expect("an evaluation time") + ", as of ".len();
    let digits: String = sql[start..].chars().take_while(char::is_ascii_digit).collect();
    DateTime::from_timestamp_millis(digits.parse().unwrap()).unwrap()
}

impl RuleQueries for Scripted {
    async fn rows(&self, sql: String) -> Result<Vec<Map<String, Value>>, RuleQueryError> {
        if sql.contains("AS ms FROM latest_readings") {
            let ms = self.watermark.lock().unwrap().map(|w| w.timestamp_millis());
            return Ok(vec![json!({ "ms": ms }).as_object().unwrap().clone()]);
        }
        Ok((self.rows)(at_of(&sql)))
    }
}

fn day(d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 7, d).unwrap()
}

/// domain.md §4 (Toulouse, 21/36): Tn 20, 22, 22, 23 and Tx 33, 35, 36, 37 from the 14th give
/// IBMn/IBMx 21.33/34.67 (window ending the 16th: within 1 °C of both, yellow) then
/// 22.33/36.00 (ending the 17th: met, orange); then the heat breaks (the 18th and 19th).
fn canicule_rows(at: DateTime<Utc>) -> Vec<Map<String, Value>> {
    let windows = [(16, "yellow", "yellow", 21.33, 34.67), (17, "orange", "orange", 22.33, 36.0), (18, "orange", "orange", 22.0, 36.3), (19, "green", "green", 19.5, 31.0), (20, "green", "green", 18.0, 28.0)];
    windows
        .iter()
        // A window is returned once its last day's Tx window closed (D+1 06:00 UTC).
        .filter(|(d, ..)| day(*d + 1).and_hms_opt(6, 0, 0).unwrap().and_utc() <= at)
        .map(|(d, level, hold, ibmn, ibmx)| {
            let row = json!({
                "network": "toulouse", "area": "31555", "insee": "31555", "period": day(*d).to_string(),
                "level": level, "hold_level": hold, "value": ibmx, "ibmn_max_c": ibmn, "ibmx_max_c": ibmx,
                "tn_threshold_c": 21.0, "tx_threshold_c": 36.0, "sensors": ["tls-001"]
            });
            row.as_object().unwrap().clone()
        })
        .collect()
}

fn canicule_rule() -> Rule {
    toml::from_str("id = \"canicule\"\nkind = \"observed_canicule\"\nnetworks = [\"toulouse\"]\n").unwrap()
}

fn setup(rows: Script) -> (tempfile::TempDir, Arc<AlertStore>, Scripted, Evaluator<Scripted>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(AlertStore::open(&dir.path().join("alerts.sqlite")).unwrap());
    store
        .put_subscription(&Subscription {
            id: "sub".into(),
            url: "https://example.org/hook".parse().unwrap(),
            rules: vec![],
            areas: vec![],
            min_level: Level::Yellow,
            secret: crate::signature::WebhookSecret::generate(),
            disabled: None,
        })
        .unwrap();
    let queries = Scripted { rows: Arc::new(rows), watermark: Arc::new(Mutex::new(None)) };
    let evaluator = Evaluator::new(watch::channel(Arc::new(vec![canicule_rule()])).1, store.clone(), queries.clone(), EvaluationConfig::default(), watch::channel(()).0);
    (dir, store, queries, evaluator)
}

#[tokio::test]
async fn the_worked_example_replayed_day_by_day_raises_yellow_then_orange_then_clears() {
    let (_dir, store, _, evaluator) = setup(Box::new(canicule_rows));
    let rule = canicule_rule();
    let mut timeline = Vec::new();
    for d in 15..=22 {
        let at = day(d).and_hms_opt(7, 0, 0).unwrap().and_utc();
        let evaluation = evaluator.evaluate(&rule, at, false).await.unwrap();
        timeline.extend(evaluation.events.iter().map(|e| (d, e.clone())));
    }
    let mut summary = Vec::new();
    for (d, id) in &timeline {
        let delivery_body = {
            let mut found = None;
            while let Some(delivery) = store.next_delivery("sub").unwrap() {
                store.delivered(delivery.outbox_id, Utc::now()).unwrap();
                if &delivery.event_id == id {
                    found = Some(delivery.body);
                    break;
                }
            }
            found.expect("every event is queued for the subscription")
        };
        let body: Value = serde_json::from_str(&delivery_body).unwrap();
        summary.push((*d, body["type"].as_str().unwrap().to_owned(), body["data"]["level"].as_str().unwrap().to_owned()));
    }
    let expected = [
        (17, "heat.alert.raised", "yellow"), // window ending the 16th, closed the 17th 06:00
        (18, "heat.alert.updated", "orange"), // met from D+1: escalated
        (19, "heat.alert.updated", "orange"), // a new day, still met
        (20, "heat.alert.updated", "orange"), // a new day below: falling, not cleared yet
        (21, "heat.alert.cleared", "green"), // below since the 20th, for 24 h
    ];
    let expected: Vec<(u32, String, String)> = expected.iter().map(|(d, t, l)| (*d, t.to_string(), l.to_string())).collect();
    assert_eq!(summary, expected);
    assert_eq!(store.rule_cursor("canicule").unwrap(), Some(day(22).and_hms_opt(7, 0, 0).unwrap().and_utc()));
}

#[tokio::test]
async fn closings_are_due_one_by_one_after_the_grace_and_stale_data_raises_nothing() {
    let (_dir, _store, queries, evaluator) = setup(Box::new(canicule_rows));
    let rule = canicule_rule();
    let now = Utc::now();
    let today = now.date_naive();
    let closing = |days_ago: i64| (today - chrono::Duration::days(days_ago)).and_hms_opt(6, 0, 0).unwrap().and_utc() + Duration::hours(1);
    // Data up to now, last evaluated three closings ago: each closing since, in order.
    *queries.watermark.lock().unwrap() = Some(now);
    assert_eq!(evaluator.watermark(&rule).await.unwrap(), Some(now).map(|n| DateTime::from_timestamp_millis(n.timestamp_millis()).unwrap()));
    let cursor = Cursor { at: Some(closing(3)), ..Cursor::default() };
    let due = evaluator.due(&rule, &cursor, 1, Some(now));
    let expected: Vec<_> = (0..3).rev().map(|n| (closing(n), false)).filter(|(at, _)| *at <= now).collect();
    assert_eq!(due, expected);
    // The newest data is older than the rule's absence time (3 days): no data, at the clock.
    let _ = &queries;
    let due = evaluator.due(&rule, &Cursor::default(), 1, Some(now - Duration::days(4)));
    assert_eq!(due.len(), 1);
    assert!(due[0].1, "evaluated with no data");
}

#[tokio::test]
async fn a_custom_rule_without_an_area_or_a_level_is_an_error_that_names_the_column() {
    let rows = vec![json!({"level": "orange"}).as_object().unwrap().clone()];
    assert!(matches!(observations(rows, false), Err(RowError::NoArea)));
    let rows = vec![json!({"area": "a"}).as_object().unwrap().clone()];
    assert!(matches!(observations(rows, false), Err(RowError::NoLevel)));
    let rows = vec![json!({"area": "a", "level": "amber"}).as_object().unwrap().clone()];
    assert!(observations(rows, false).unwrap_err().to_string().contains("amber"));
    let rows = vec![json!({"area": "a", "level": null, "value": 3.5, "note": "x"}).as_object().unwrap().clone()];
    let observed = observations(rows, false).unwrap();
    assert_eq!(observed["a"][0].raise_level, Level::Green);
    assert_eq!(observed["a"][0].evidence, json!({"note": "x"}));
}
