//! The dashboard JSON API end to end, over real HTTP against a running `ilot serve`: sensors
//! registered through the admin API (CSV, JSON), readings published over MQTT, then the read
//! endpoints (latest by measurement time, UHI at every granularity, Tn/Tx, IBM, QC), their
//! parameter checks (400, 404), the admin token rules (401, 403, open demo) and the OpenAPI
//! document.

mod support;

use chrono::{DateTime, Days, Utc};
use reqwest::Method;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{Value, json};
use std::time::Duration;
use support::*;

const READER: &str = "reader-token";
const ADMIN: &str = "admin-token";

/// One request: status and body (JSON when it parses, else a string).
async fn call(svc: &Service, method: Method, path: &str, token: Option<&str>, body: Option<(&str, String)>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", svc.base()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some((content_type, body)) = body {
        req = req.header("content-type", content_type).body(body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn get(svc: &Service, path: &str) -> (u16, Value) {
    call(svc, Method::GET, path, Some(READER), None).await
}

/// `GET` that must succeed: the rows.
async fn rows(svc: &Service, path: &str) -> (Vec<Value>, Value) {
    let (status, body) = get(svc, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    (body["rows"].as_array().expect("rows").clone(), body["computed_with"].clone())
}

fn reading(ts: i64, t: f64) -> String {
    let ts = DateTime::from_timestamp(ts, 0).unwrap().to_rfc3339();
    format!(r#"{{"ts":"{ts}","temperature_c":{t:.2},"humidity_pct":55.0}}"#)
}

fn ts_of(v: &Value) -> i64 {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a timestamp: {v}"))).unwrap().timestamp()
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-6)
}

const SENSORS_CSV: &str = "network;sensor_id;name;lat;lon;elevation_m;lcz;role;cadence_s\n\
    dash;r1;Rural;43.55;1.50;150;D;rural;3600\n\
    dash;u1;Centre;43.60;1.44;150;2;urban;3600\n\
    dash;u2;Late;43.61;1.45;;6;urban;3600\n\
    dash;silent;Silent;43.62;1.46;;;urban;3600\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_api_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let prefix = unique("t");
    let mut spec = ServiceSpec::new(dir.path(), Broker::Embedded(port), &prefix);
    spec.http_token = Some(READER.into());
    spec.http_admin_token = Some(ADMIN.into());
    // The map judges sensor health by the sensor_health rule that covers the network.
    spec.extra_toml = "[alerts]\nenabled = true\n\n[[alerts.rules]]\nid = \"dash-health\"\nkind = \"sensor_health\"\nnetworks = [\"dash\"]\nbattery_low_v = 3.1\n".into();
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;

    // The OpenAPI document needs no token.
    let (status, doc) = call(&svc, Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/sensors/{network}/{sensor}/qc"]["get"].is_object());

    // Tokens: reader routes take the reader (or admin) token, admin routes only the admin token.
    let csv = || Some(("text/csv", SENSORS_CSV.to_owned()));
    assert_eq!(call(&svc, Method::GET, "/api/networks", None, None).await.0, 401);
    assert_eq!(call(&svc, Method::GET, "/api/networks", Some(ADMIN), None).await.0, 200, "an admin may read");
    assert_eq!(call(&svc, Method::PUT, "/api/admin/sensors", None, csv()).await.0, 401);
    assert_eq!(call(&svc, Method::PUT, "/api/admin/sensors", Some(READER), csv()).await.0, 401, "a reader may not administer");

    // Bad sensor lists are refused whole, naming the record.
    let bad = "network,sensor_id,lat,lon\ndash,a,43.6,1.4\ndash,b,north,1.4\n".to_owned();
    let (status, body) = call(&svc, Method::PUT, "/api/admin/sensors", Some(ADMIN), Some(("text/csv", bad))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("record 2"), "{body}");
    let (status, _) = call(&svc, Method::PUT, "/api/admin/sensors", Some(ADMIN), Some(("text/plain", "x".into()))).await;
    assert_eq!(status, 415);

    let (status, body) = call(&svc, Method::PUT, "/api/admin/sensors", Some(ADMIN), csv()).await;
    assert_eq!((status, &body["upserted"]), (200, &json!(4)), "{body}");
    let ghost = json!([{"network": "dash", "sensor_id": "ghost", "lat": 43.6, "lon": 1.4}]).to_string();
    assert_eq!(call(&svc, Method::PUT, "/api/admin/sensors", Some(ADMIN), Some(("application/json", ghost))).await.0, 200);
    assert_eq!(call(&svc, Method::DELETE, "/api/admin/sensors/dash/ghost", Some(ADMIN), None).await.0, 204);
    assert_eq!(call(&svc, Method::DELETE, "/api/admin/sensors/dash/ghost", Some(ADMIN), None).await.0, 404);

    let net = |v: Value| Some(("application/json", v.to_string()));
    let (status, body) = call(&svc, Method::PUT, "/api/admin/networks/dash", Some(ADMIN), net(json!({"reference_mode": "single", "reference_sensors": ["r1", "u1"]}))).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("exactly one"), "{body}");
    assert_eq!(call(&svc, Method::PUT, "/api/admin/networks/dash", Some(ADMIN), net(json!({"nope": 1}))).await.0, 400);
    let settings = json!({"display_name": "Dash", "departement": "31", "reference_mode": "single", "reference_sensors": ["r1"]});
    let (status, body) = call(&svc, Method::PUT, "/api/admin/networks/dash", Some(ADMIN), net(settings)).await;
    assert_eq!(status, 200, "{body}");
    // Bodies that are not an object of settings are refused and reset nothing (the settings
    // above are checked through /api/networks below).
    for refused in ["[]", "null", "\"Dash\"", r#"{"display_name": "Other", "nope": 1}"#] {
        let (status, body) = call(&svc, Method::PUT, "/api/admin/networks/dash", Some(ADMIN), Some(("application/json", refused.into()))).await;
        assert_eq!(status, 400, "{refused}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| m.starts_with("network settings: ")), "{refused}: {body}");
    }

    // Readings: r1 and u1 every hour from the start of the day before yesterday to the last
    // full hour, u1 exactly 2 K warmer; u2 gets its newest reading first, an older one last.
    let now = Utc::now().timestamp();
    let first = (now - now.rem_euclid(86_400)) - 2 * 86_400;
    let hours: Vec<i64> = (first..now - now.rem_euclid(3600)).step_by(3600).collect();
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(unique("dash-"), "127.0.0.1", port), 100);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    for (sensor, offset) in [("r1", 0.0), ("u1", 2.0)] {
        let batch: Vec<String> = hours.iter().enumerate().map(|(i, h)| reading(*h, 18.0 + 0.1 * (i % 3) as f64 + offset)).collect();
        client.publish(format!("{prefix}/dash/{sensor}/reading"), QoS::AtLeastOnce, false, format!("[{}]", batch.join(","))).await.unwrap();
    }
    let (newest, older) = (now - 600, now - 7200);
    // 3.2 V: low under the rule kind's default (3.3 V), not under the dash rule's 3.1 V.
    let with_battery = reading(newest, 20.0).replace('}', r#","battery_v":3.2}"#);
    client.publish(format!("{prefix}/dash/u2/reading"), QoS::AtLeastOnce, false, with_battery).await.unwrap();
    svc.wait_for("SELECT count(*) FROM readings WHERE sensor_id = 'u2'", 1, Duration::from_secs(30)).await;
    client.publish(format!("{prefix}/dash/u2/reading"), QoS::AtLeastOnce, false, reading(older, 70.0)).await.unwrap();
    svc.wait_for("SELECT count(*) FROM readings WHERE sensor_id = 'u2'", 2, Duration::from_secs(30)).await;
    for sensor in ["r1", "u1"] {
        svc.wait_for(&format!("SELECT count(*) FROM readings WHERE sensor_id = '{sensor}'"), hours.len() as i64, Duration::from_secs(30)).await;
    }

    // Networks and sensors.
    let (networks, _) = rows(&svc, "/api/networks").await;
    let dash = networks.iter().find(|n| n["network"] == "dash").expect("dash is listed");
    assert_eq!((&dash["reference_mode"], &dash["display_name"]), (&json!("single"), &json!("Dash")));
    let (sensors, computed_with) = rows(&svc, "/api/sensors?network=dash").await;
    assert!(computed_with["latest"].as_str().is_some_and(|s| s.contains("newest measurement time")), "{computed_with}");
    let sensor = |id: &str| sensors.iter().find(|s| s["sensor_id"] == id).unwrap_or_else(|| panic!("{id} listed")).clone();
    let u2 = sensor("u2");
    assert_eq!(ts_of(&u2["latest"]["ts"]), newest, "latest by measurement time, not arrival: {u2}");
    assert!(close(&u2["latest"]["temperature_c"], 20.0) && u2["latest"]["qc_flags"] == 0, "{u2}");
    assert_eq!((&u2["lcz"], &u2["role"], &u2["elevation_m"]), (&json!("6"), &json!("urban"), &Value::Null));
    assert_eq!(ts_of(&sensor("u1")["latest"]["ts"]), *hours.last().unwrap());
    assert_eq!(sensor("silent")["latest"], Value::Null, "no reading: latest is null");
    assert_eq!(sensors.len(), 4);
    let (all, _) = rows(&svc, "/api/sensors").await;
    assert_eq!(all.len(), 4);
    assert_eq!(get(&svc, "/api/sensors?network=nope").await.0, 404);

    // The map: one GeoJSON point per sensor ([lon, lat]), its health, its newest nights; the
    // network's newest reading (health's clock) once per network, not once per sensor.
    let (status, map) = get(&svc, "/api/map?network=dash").await;
    assert_eq!(status, 200, "{map}");
    let features = map["features"].as_array().expect("features");
    let feature = |id: &str| features.iter().find(|f| f["properties"]["sensor_id"] == id).unwrap_or_else(|| panic!("{id} on the map")).clone();
    assert_eq!(features.len(), 4);
    assert_eq!(feature("u1")["geometry"]["coordinates"], json!([1.44, 43.6]));
    assert_eq!(ts_of(&map["networks"]["dash"]["as_of"]), newest, "{}", map["networks"]);
    let health: Vec<(String, Value)> = features.iter().map(|f| (f["properties"]["sensor_id"].as_str().unwrap().to_owned(), f["properties"]["health"].clone())).collect();
    assert_eq!(health, [("r1", "ok"), ("silent", "no_data"), ("u1", "ok"), ("u2", "ok")].map(|(s, h)| (s.to_owned(), json!(h))));
    let u1 = &feature("u1")["properties"];
    assert!(close(&u1["complete_night_uhi_mean_c"], 2.0) && close(&u1["complete_night_uhi_max_c"], 2.0), "{u1}");
    assert!(u1["complete_night_completeness"].as_f64() >= Some(0.8) && u1["latest_night"].is_string(), "{u1}");
    assert!(u1.get("as_of").is_none() && u1.get("silent").is_none(), "health is one field, as_of is per network: {u1}");
    assert!(map["computed_with"]["health"].as_str().is_some_and(|h| h.contains("cadences")), "{}", map["computed_with"]);
    let thresholds = &map["computed_with"]["health_thresholds"];
    assert_eq!(thresholds["dash"], json!({"silent_cadences": 3, "battery_low_v": 3.1, "rules": ["dash-health"]}), "{thresholds}");
    assert_eq!(thresholds["*"], json!({"silent_cadences": 3, "battery_low_v": 3.3, "rules": []}), "{thresholds}");
    assert_eq!(get(&svc, "/api/map?network=nope").await.0, 404);

    // UHI at every granularity.
    let (hourly, computed_with) = rows(&svc, "/api/networks/dash/uhi?granularity=hourly").await;
    assert_eq!((&computed_with["view"], &computed_with["reference_mode"]), (&json!("uhi_hourly"), &json!("single")));
    assert_eq!(computed_with["reference_sensors"], json!(["r1"]));
    let u1_hours: Vec<&Value> = hourly.iter().filter(|r| r["sensor_id"] == "u1").collect();
    assert_eq!(u1_hours.len(), hours.len(), "every hour of the default 7 days");
    assert!(u1_hours.iter().all(|r| close(&r["uhi_c"], 2.0)), "{:?}", u1_hours[0]);
    let (only_u1, _) = rows(&svc, "/api/networks/dash/uhi?granularity=hourly&sensor=u1").await;
    assert!(only_u1.iter().all(|r| r["sensor_id"] == "u1") && only_u1.len() == hours.len());

    let yesterday = (Utc::now().date_naive() - Days::new(1)).to_string();
    let (daily, _) = rows(&svc, &format!("/api/sensors/dash/u1/uhi?granularity=daily&from={yesterday}&to={yesterday}")).await;
    assert_eq!(daily.len(), 1, "{daily:?}");
    assert!(close(&daily[0]["uhi_mean_c"], 2.0) && daily[0]["hours_valid"] == 24, "{:?}", daily[0]);
    let (nightly, computed_with) = rows(&svc, "/api/sensors/dash/u1/uhi?granularity=nightly").await;
    assert!(!nightly.is_empty() && nightly.iter().all(|r| close(&r["uhi_max_c"], 2.0)), "{nightly:?}");
    assert_eq!(computed_with["night_start_utc_hour"], 21);
    let (monthly, _) = rows(&svc, "/api/networks/dash/uhi?granularity=monthly").await;
    assert!(monthly.iter().any(|r| r["sensor_id"] == "u1" && r["days_valid"].as_i64() >= Some(1)), "{monthly:?}");

    // Tn/Tx and IBM.
    let (tn_tx, _) = rows(&svc, "/api/networks/dash/tn-tx?sensor=u1").await;
    assert!(tn_tx.iter().any(|r| r["date"] == yesterday && r["sensor_id"] == "u1"), "{tn_tx:?}");
    let (_, computed_with) = rows(&svc, "/api/networks/dash/ibm").await;
    assert_eq!(computed_with["thresholds"]["tn_threshold_c"], 21.0, "Haute-Garonne's Sn");

    // QC summary: u2's old reading is out of range.
    let (qc, _) = rows(&svc, "/api/sensors/dash/u2/qc").await;
    assert_eq!((&qc[0]["readings"], &qc[0]["temperature_passed"]), (&json!(2), &json!(1)), "{:?}", qc[0]);
    let range = qc[0]["flags"].as_array().unwrap().iter().find(|f| f["flag"] == "range").unwrap();
    assert_eq!((&range["bit"], &range["count"]), (&json!(1), &json!(1)));
    assert_eq!(qc[0]["crowdqc"], Value::Null);
    let (qc, _) = rows(&svc, "/api/sensors/dash/u1/qc").await;
    let n = hours.len() as i64;
    assert_eq!((qc[0]["readings"].as_i64(), qc[0]["hours_with_data"].as_i64(), qc[0]["hours_valid"].as_i64()), (Some(n), Some(n), Some(n)));

    // Parameter checks.
    for (path, expected) in [
        ("/api/networks/dash/uhi?granularity=weekly", 400),
        ("/api/networks/dash/uhi?from=2025-13-01", 400),
        ("/api/networks/dash/uhi?from=2020-01-01&to=2022-01-01", 400),
        ("/api/networks/dash/uhi?from=2025-07-02&to=2025-07-01", 400),
        ("/api/networks/dash/tn-tx?to=yesterday", 400),
        ("/api/sensors/dash/u1/qc?from=2020-01-01&to=2021-06-01", 400),
        ("/api/networks/nope/uhi", 404),
        ("/api/networks/nope/ibm", 404),
        ("/api/networks/dash/uhi?sensor=nope", 404),
        ("/api/sensors/dash/nope/uhi", 404),
        ("/api/sensors/nope/u1/qc", 404),
    ] {
        let (status, body) = get(&svc, path).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}: a JSON error with a message: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_is_disabled_without_its_token_and_open_in_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ServiceSpec::new(&dir.path().join("reader-only"), Broker::Embedded(free_port()), &unique("t"));
    spec.http_token = Some(READER.into());
    let reader_only = Service::start(&spec);
    let demo = Service::start(&ServiceSpec::new(&dir.path().join("demo"), Broker::Embedded(free_port()), &unique("t")));

    let (status, body) = call(&reader_only, Method::PUT, "/api/admin/networks/x", Some(READER), Some(("application/json", "{}".into()))).await;
    assert_eq!(status, 403);
    // /healthz answers everyone alike; only the detail of its texts depends on the token.
    let (anonymous, with_token) = (call(&reader_only, Method::GET, "/healthz", None, None).await, call(&reader_only, Method::GET, "/healthz", Some(READER), None).await);
    assert_eq!(anonymous.0, with_token.0);
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert!(keys(&anonymous.1).is_some_and(|k| k.contains(&"problems".to_owned())) && keys(&anonymous.1) == keys(&with_token.1), "{anonymous:?} {with_token:?}");
    assert!(body.as_str().unwrap().contains("admin API disabled: set http.admin_token"), "{body}");

    let (status, body) = call(&demo, Method::PUT, "/api/admin/networks/demo", None, Some(("application/json", "{}".into()))).await;
    assert_eq!(status, 200, "loopback without any token: open like the rest: {body}");
    let (status, body) = call(&demo, Method::GET, "/api/networks", None, None).await;
    assert_eq!(status, 200);
    assert!(body["rows"].as_array().unwrap().iter().any(|n| n["network"] == "demo"), "{body}");
}
