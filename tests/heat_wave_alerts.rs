//! The simulated Toulouse heat wave through MQTT, as a city would live it. `ilot sim` replays
//! two weeks of mid-July (five days 8 K warmer, then equipment failures) into `ilot serve`
//! through its embedded broker: the observed-canicule alert is raised yellow, then escalated
//! to orange on the days this test computes itself from the simulated series; a roof logger's
//! archive imported with `ilot import` during the episode gives an update marked as a
//! correction; the alert clears after the episode; a dead gateway, a stuck sensor and a flat
//! battery are one sensor-health alert, updated as its list of sensors changes.
//!
//! The replayed July is months old, so the rules are configured with `absent_after_s` of a
//! year: the evaluator then takes the replay as live (it evaluates as of the data's time).

mod support;

use chrono::{DateTime, Duration as Span, NaiveDate, TimeZone, Utc};
use ilot_firmware_sim::{Fleet, MessageKind, Scenario, SimConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{Broker, Service, ServiceSpec, ilot_bin, ilot_cli};

const SEED: u64 = 7;
const SENSORS: usize = 20;
const PREFIX: &str = "hw";
/// Toulouse (Haute-Garonne, 31): Sn / Sx, domain.md §4.
const SN: f64 = 21.0;
const SX: f64 = 36.0;
/// The rule's settings (the kind's defaults, and three stations).
const MIN_SENSORS: usize = 3;
const YELLOW_MARGIN_C: f64 = 1.0;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 7, 6, 0, 0, 0).unwrap()
}

fn heat_wave() -> Scenario {
    Scenario::HeatWave { start_day: 4, days: 5, extra_c: 8.0 }
}

/// The scenario file of one `ilot sim` run (`start` + `days` days).
fn scenario_file(dir: &Path, name: &str, from: DateTime<Utc>, days: u64, hot: bool, failures: &str) -> std::path::PathBuf {
    let scenario = if hot { "[scenario]\nkind = \"heat_wave\"\nstart_day = 4\ndays = 5\nextra_c = 8.0\n" } else { "" };
    let text = format!(
        "city = \"toulouse\"\nsensors = {SENSORS}\nseed = {SEED}\ntopic_prefix = \"{PREFIX}\"\nstart = \"{}\"\nreadings_per_sensor = {}\nacceleration = 0\n{scenario}{failures}",
        from.to_rfc3339(),
        days * 288
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn sim(args: &[&str]) {
    let out = std::process::Command::new(ilot_bin()).arg("sim").args(args).env("RUST_LOG", "error").output().unwrap();
    assert!(out.status.success(), "ilot sim {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The expected level of each 3-day window (by its last day), computed here from the simulated
/// series: Tn(D) = min over [D-1 18:00, D 18:00), Tx(D) = max over [D 06:00, D+1 06:00) UTC,
/// IBM = 3-day means; a station is orange when IBMn ≥ Sn and IBMx ≥ Sx, yellow when both are
/// within the margin or the last day alone reaches both; the area takes a level when
/// MIN_SENSORS stations hold it.
fn expected_levels() -> BTreeMap<NaiveDate, &'static str> {
    let fleet = Fleet::new(SimConfig {
        city: "toulouse".into(),
        sensors: SENSORS,
        seed: SEED,
        start: start(),
        readings_per_sensor: Some(13 * 288),
        scenario: heat_wave(),
        ..SimConfig::default()
    })
    .unwrap();
    let mut tn: BTreeMap<(String, NaiveDate), f64> = BTreeMap::new();
    let mut tx: BTreeMap<(String, NaiveDate), f64> = BTreeMap::new();
    for message in fleet.messages().filter(|m| m.kind == MessageKind::Reading) {
        for r in message.readings().unwrap() {
            let tn_day = (r.ts + Span::hours(6)).date_naive();
            let tx_day = (r.ts - Span::hours(6)).date_naive();
            let low = tn.entry((r.sensor.clone(), tn_day)).or_insert(f64::MAX);
            *low = low.min(r.temperature_c);
            let high = tx.entry((r.sensor.clone(), tx_day)).or_insert(f64::MIN);
            *high = high.max(r.temperature_c);
        }
    }
    let mut levels = BTreeMap::new();
    // Windows whose three days are whole in the series (Tn of the first day starts the eve).
    let first = start().date_naive() + Span::days(3);
    let last = start().date_naive() + Span::days(11);
    let mut day = first;
    while day <= last {
        let (mut orange, mut yellow) = (0, 0);
        for sensor in fleet.sensors() {
            let days = [day - Span::days(2), day - Span::days(1), day];
            let mean = |m: &BTreeMap<(String, NaiveDate), f64>| days.iter().map(|d| m[&(sensor.id.clone(), *d)]).sum::<f64>() / 3.0;
            let (ibmn, ibmx) = (mean(&tn), mean(&tx));
            let peak = tn[&(sensor.id.clone(), day)] >= SN && tx[&(sensor.id.clone(), day)] >= SX;
            if ibmn >= SN && ibmx >= SX {
                orange += 1;
            } else if (ibmn >= SN - YELLOW_MARGIN_C && ibmx >= SX - YELLOW_MARGIN_C) || peak {
                yellow += 1;
            }
        }
        let level = if orange >= MIN_SENSORS {
            "orange"
        } else if orange + yellow >= MIN_SENSORS {
            "yellow"
        } else {
            "green"
        };
        levels.insert(day, level);
        day += Span::days(1);
    }
    levels
}

/// The payloads of the alert events of `rule`, in order.
async fn events(service: &Service, rule: &str) -> Vec<Value> {
    let rows = service.sql(&format!("SELECT payload FROM alert_events WHERE rule = '{rule}' ORDER BY alert_id, sequence")).await.unwrap();
    rows.iter().map(|r| serde_json::from_str::<Value>(r["payload"].as_str().unwrap()).unwrap()["data"].clone()).collect()
}

async fn wait_event(service: &Service, rule: &str, what: &str, timeout: Duration, found: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let events = events(service, rule).await;
        if events.iter().any(&found) {
            return events;
        }
        assert!(Instant::now() < deadline, "{what}: not seen in {timeout:?}; events so far:\n{}", serde_json::to_string_pretty(&events).unwrap());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn period(event: &Value) -> NaiveDate {
    event["period"].as_str().unwrap_or_else(|| panic!("no period: {event}")).parse().unwrap()
}

fn listed(event: &Value, key: &str) -> Vec<String> {
    event["indicators"][key].as_array().map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect()).unwrap_or_default()
}

/// A roof logger's archive: a smooth diurnal cycle between 27 °C (03:00 UTC) and 41 °C (15:00).
fn roof_archive(path: &Path) {
    let mut csv = String::from("sensor_id,ts,temperature_c\n");
    let from = Utc.with_ymd_and_hms(2026, 7, 8, 12, 0, 0).unwrap();
    for i in 0..(6 * 288 + 216) {
        let ts = from + Span::minutes(5 * i);
        let hour = (ts.timestamp() % 86_400) as f64 / 3600.0;
        let t = 34.0 + 7.0 * (std::f64::consts::TAU * (hour - 15.0) / 24.0).cos();
        csv.push_str(&format!("tls-roof,{},{t:.2}\n", ts.to_rfc3339()));
    }
    std::fs::write(path, csv).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulated_toulouse_heat_wave_raises_escalates_corrects_and_clears_and_failures_are_one_alert() {
    let expected = expected_levels();
    let first_yellow = *expected.iter().find(|(_, l)| **l != "green").expect("the heat wave reaches yellow").0;
    let first_orange = *expected.iter().find(|(_, l)| **l == "orange").expect("the heat wave reaches orange").0;
    assert!(first_yellow < first_orange, "a yellow day comes first: {expected:?}");

    let dir = tempfile::tempdir().unwrap();
    let phase1 = scenario_file(dir.path(), "phase1.toml", start(), 10, true, "");
    let failures = "[faults.failures]\nafter_steps = 864\ndead_gateway_sensors = 3\nstuck_sensors = 1\nflat_battery_sensors = 1\n";
    let phase2 = scenario_file(dir.path(), "phase2.toml", start() + Span::days(10), 5, false, failures);
    // The registry: the fleet, written by the simulator, and a roof logger read out by hand.
    let registry = dir.path().join("sensors.csv");
    sim(&["--scenario-file", phase1.to_str().unwrap(), "--registry-out", registry.to_str().unwrap(), "--no-publish"]);
    let text = std::fs::read_to_string(&registry).unwrap();
    let first_row = text.lines().nth(1).unwrap().to_owned();
    let roof = first_row.replacen("tls-001", "tls-roof", 1);
    std::fs::write(&registry, format!("{}{roof}\n", if text.ends_with('\n') { text.clone() } else { format!("{text}\n") })).unwrap();

    let port = support::free_port();
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::Embedded(port), PREFIX);
    spec.extra_toml = format!(
        r#"
[registry]
sensor_files = ["{}"]

[registry.networks.toulouse]
departement = "31"

[alerts]
enabled = true

[alerts.evaluation]
recheck_s = 1

[[alerts.rules]]
id = "canicule"
kind = "observed_canicule"
area = "network"
min_sensors = {MIN_SENSORS}
absent_after_s = 31536000

[[alerts.rules]]
id = "health"
kind = "sensor_health"
absent_after_s = 31536000
"#,
        registry.display()
    );
    let mut service = Service::start(&spec);
    service.wait_healthy(Duration::from_secs(30)).await;
    let port_arg = port.to_string();

    // Ten days, through the heat wave, as fast as the broker acknowledges.
    sim(&["--scenario-file", phase1.to_str().unwrap(), "--port", &port_arg, "--client-id", "sim-1"]);
    // Every window closed by then evaluated: one update a day (a new period), up to the last.
    let caught_up = start().date_naive() + Span::days(8);
    let so_far = wait_event(&service, "canicule", "the evaluation of every closed window", Duration::from_secs(120), |e| {
        e["period"].as_str().is_some_and(|p| p.parse::<NaiveDate>().unwrap() == caught_up)
    })
    .await;
    let raised = &so_far[0];
    assert_eq!((raised["status"].as_str(), raised["level"].as_str()), (Some("raised"), Some("yellow")), "{raised}");
    assert_eq!(period(raised), first_yellow, "raised yellow on the first yellow window; expected {expected:?}");
    let escalated = so_far.iter().find(|e| e["level"] == "orange").unwrap();
    assert_eq!(period(escalated), first_orange, "orange on the first window meeting the criterion; expected {expected:?}");
    assert!(escalated["reasons"].as_array().unwrap().iter().any(|r| r["reason"] == "escalated"), "{escalated}");
    assert_eq!(escalated["alert_id"], raised["alert_id"], "one alert, escalated");
    assert_eq!(escalated["indicators"]["qc_level"].as_str().map(|q| q.starts_with("QC-passed")), Some(true), "{escalated}");

    // The roof logger's archive arrives late, through `ilot import`: the days it covers were
    // reported already, and its IBMx is the area's highest: a correction.
    let archive = dir.path().join("roof.csv");
    roof_archive(&archive);
    ilot_cli(&service.config_file, &["import", "--network", "toulouse", archive.to_str().unwrap()]);
    let so_far = wait_event(&service, "canicule", "the correction", Duration::from_secs(60), |e| e["correction"] == true).await;
    let correction = so_far.iter().find(|e| e["correction"] == true).unwrap();
    assert_eq!(correction["status"], "updated");
    assert!(correction["reasons"].as_array().unwrap().iter().any(|r| r["reason"] == "late_data"), "{correction}");
    assert!(correction["area"]["sensors"].as_array().unwrap().iter().any(|s| s == "tls-roof"), "{correction}");

    // Five more days, cooler; on the fourth, a gateway dies with three sensors, one sensor
    // freezes and one runs on a spent battery.
    sim(&["--scenario-file", phase2.to_str().unwrap(), "--port", &port_arg, "--client-id", "sim-2"]);
    let canicule = wait_event(&service, "canicule", "the clearance", Duration::from_secs(120), |e| e["status"] == "cleared").await;
    let cleared = canicule.last().unwrap();
    assert_eq!((cleared["clear_reason"].as_str(), cleared["alert_id"].clone()), (Some("below_threshold"), raised["alert_id"].clone()), "{cleared}");
    let last_hot = *expected.iter().rev().find(|(_, l)| **l != "green").unwrap().0;
    assert!(period(cleared) > last_hot, "cleared after the episode ({last_hot}): {cleared}");
    let ids: std::collections::BTreeSet<_> = canicule.iter().map(|e| e["alert_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1, "one canicule alert for the whole episode");

    let health = wait_event(&service, "health", "the failures", Duration::from_secs(60), |e| {
        listed(e, "stuck_sensors") == ["tls-004"] && listed(e, "low_battery_sensors") == ["tls-005"] && listed(e, "silent_sensors").len() == 4
    })
    .await;
    let ids: std::collections::BTreeSet<_> = health.iter().map(|e| e["alert_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1, "one sensor-health alert for the network: {health:?}");
    // The registered roof logger never reported live: silent from the start.
    assert!(listed(&health[0], "silent_sensors").contains(&"tls-roof".to_owned()), "{}", health[0]);
    let gateway = ["tls-001", "tls-002", "tls-003"].map(String::from);
    let gone = health
        .iter()
        .flat_map(|e| e["reasons"].as_array().cloned().unwrap_or_default())
        .find(|r| r["reason"] == "sensors_changed" && r["added"].as_array().unwrap().iter().any(|s| s == "tls-001"))
        .unwrap_or_else(|| panic!("no update for the dead gateway: {health:?}"));
    let added: Vec<String> = gone["added"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    assert!(gateway.iter().all(|s| added.contains(s)), "the gateway's three sensors in one update: {gone}");
    for e in canicule.iter().chain(&health) {
        eprintln!("{} {} seq {} {} {} {} {}", e["rule"]["id"], e["period"], e["sequence"], e["status"], e["level"], e["reasons"], e["indicators"]["value"]);
    }
    eprintln!("expected: {expected:?}");
    let last = health.last().unwrap();
    assert_eq!(listed(last, "silent_sensors"), ["tls-001", "tls-002", "tls-003", "tls-roof"]);
    assert!(last["summary"]["en"].as_str().unwrap().contains("tls-004"), "{last}");
    service.stop();
}
