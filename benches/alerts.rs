//! Alert benchmarks (see BENCHMARKS.md, "Alerts"), through the product path: a private
//! Mosquitto with the shipped settings, `ilot serve` with alerts on, and a webhook receiver in
//! this process (axum, loopback).
//!
//! 1. **Latency**: while a fleet of `ILOT_BENCH_SENSORS` (10,000) sensors streams, a probe
//!    sensor publishes the reading that completes a rule's criterion; the time from its
//!    PUBACK to the signed webhook's arrival, p50 and p99 over `ILOT_BENCH_PROBES` (100).
//! 2. **Outbox drain**: the receiver answers 503 while `ILOT_BENCH_EVENTS` (10,000) alerts are
//!    raised at once (an endpoint down, its backlog piling up), then comes back: events per
//!    second delivered, against the receiver's own capacity (the same signed requests posted
//!    one after the other by a client of this process, as ilot delivers them: in order).
//! 3. **Evaluation cost**: the service's CPU time for the same 10,000-sensor stream with the
//!    built-in readings rules (instantaneous heat, sensor health) on and off.
//!
//! Run: `cargo bench --bench alerts`.

#[path = "../tests/support/mod.rs"]
mod support;

use axum::extract::State;
use axum::http::StatusCode;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What the receiver got: (area, arrival).
#[derive(Default)]
struct Received {
    down: AtomicBool,
    arrivals: Mutex<Vec<(String, Instant)>>,
}

async fn receive(State(received): State<Arc<Received>>, body: axum::body::Bytes) -> StatusCode {
    if received.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let area = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["data"]["area"]["id"].as_str().map(str::to_owned)).unwrap_or_default();
    received.arrivals.lock().unwrap().push((area, Instant::now()));
    StatusCode::NO_CONTENT
}

async fn start_receiver() -> (u16, Arc<Received>) {
    let received = Arc::new(Received::default());
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, received)
}

/// A QoS 1 publisher whose `publish` returns when the broker acknowledged.
struct Prober {
    client: AsyncClient,
    acks: tokio::sync::mpsc::UnboundedReceiver<()>,
}

impl Prober {
    async fn connect(port: u16) -> Prober {
        let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(unique("probe-"), "127.0.0.1", port), 100);
        let (tx, acks) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                if let Event::Incoming(Packet::PubAck(_)) = event {
                    let _ = tx.send(());
                }
            }
        });
        Prober { client, acks }
    }

    async fn publish(&mut self, topic: String, temperature_c: f64) -> Instant {
        let ts = chrono::Utc::now() - chrono::Duration::seconds(30);
        let body = serde_json::json!({"ts": ts.to_rfc3339(), "temperature_c": temperature_c}).to_string();
        self.client.publish(topic, QoS::AtLeastOnce, false, body).await.unwrap();
        self.acks.recv().await.unwrap();
        Instant::now()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A rule over `network` raising one alert per sensor whose newest reading is ≥ 35 °C.
fn hot_rule(id: &str, network: &str) -> String {
    format!(
        "[[alerts.rules]]\nid = \"{id}\"\nkind = \"custom\"\nnetworks = [\"{network}\"]\nclear_after_s = 0\n\
         sql = \"SELECT sensor_id AS area, CASE WHEN temperature_c >= 35 THEN 'yellow' ELSE 'green' END AS level, \
         CAST(temperature_c AS DOUBLE) AS value FROM latest_readings WHERE network = '{network}'\"\n\n"
    )
}

fn service(dir: &std::path::Path, broker: u16, prefix: &str, alerts: &str) -> Service {
    let mut spec = ServiceSpec::new(&dir.join("data"), Broker::External(broker), prefix);
    spec.extra_toml = alerts.to_owned();
    Service::start(&spec)
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[tokio::main]
async fn main() {
    let sensors = env_or("ILOT_BENCH_SENSORS", 10_000) as usize;
    let probes = env_or("ILOT_BENCH_PROBES", 100) as usize;
    let events = env_or("ILOT_BENCH_EVENTS", 10_000) as usize;
    let steps = env_or("ILOT_BENCH_STEPS", 30);
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&dir.path().join("broker"));
    let (receiver_port, received) = start_receiver().await;
    let prefix = unique("alerts");
    let delivery = format!(
        "[alerts.subscriptions.bench]\nurl = \"http://127.0.0.1:{receiver_port}/hook\"\nsecret = \"{SECRET}\"\n\n\
         [alerts.delivery]\nallow_http = true\nallowed_networks = [\"127.0.0.0/8\"]\nretry_schedule_s = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    );
    let alerts = format!("[alerts]\nenabled = true\n\n{}{}{delivery}", hot_rule("probe", "probe"), hot_rule("mass", "mass"));
    let svc = service(&dir.path().join("a"), broker.port, &prefix, &alerts);
    svc.wait_healthy(Duration::from_secs(60)).await;

    // 1. Latency under a streaming fleet (paced at 60× real time: 10,000 sensors ≈ 2,000 msg/s).
    let streaming = fleet(&prefix, "city", sensors, steps);
    let port = broker.port;
    let background = tokio::spawn(async move { publish(&target(port, &unique("fleet-")), streaming.messages(), 60.0, None).await.unwrap() });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut prober = Prober::connect(broker.port).await;
    let mut latencies = Vec::new();
    for i in 0..probes {
        let sensor = format!("p{i}");
        let acked = prober.publish(format!("{prefix}/probe/{sensor}/reading"), 36.0).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        let arrived = loop {
            if let Some((_, at)) = received.arrivals.lock().unwrap().iter().find(|(area, _)| *area == sensor) {
                break *at;
            }
            assert!(Instant::now() < deadline, "no webhook for {sensor}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        latencies.push(arrived.saturating_duration_since(acked));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let streamed = background.is_finished();
    latencies.sort();
    println!(
        "latency (PUBACK of the completing reading → webhook received), {probes} probes, {sensors} sensors streaming{}: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (goal p99 ≤ 2000 ms)",
        if streamed { " (the stream ended before the probes: resize ILOT_BENCH_STEPS)" } else { "" },
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    background.await.unwrap();

    // 2. Outbox drain: the endpoint down while `events` alerts are raised at once.
    received.down.store(true, Ordering::SeqCst);
    received.arrivals.lock().unwrap().clear();
    let mass = Fleet::new(ilot_firmware_sim::SimConfig { sensors: events, readings_per_sensor: Some(1), ..ilot_firmware_sim::SimConfig::default() }).unwrap();
    let now = chrono::Utc::now() - chrono::Duration::seconds(60);
    let messages = mass.sensors().iter().map(|s| ilot_firmware_sim::SimMessage {
        topic: format!("{prefix}/mass/{}/reading", s.id),
        payload: serde_json::json!({"ts": now.to_rfc3339(), "temperature_c": 36.0}).to_string().into_bytes(),
        sim_time: now,
        kind: ilot_firmware_sim::MessageKind::Reading,
        anomalies: Default::default(),
    });
    publish(&target(broker.port, &unique("mass-")), messages.collect::<Vec<_>>().into_iter(), 0.0, None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while svc.metric("ilot_alert_outbox_pending", "").await < events as f64 {
        assert!(Instant::now() < deadline, "the outbox did not fill: {}", svc.metrics().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    received.down.store(false, Ordering::SeqCst);
    let up = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(1800);
    while received.arrivals.lock().unwrap().len() < events {
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = received.arrivals.lock().unwrap()[0].1;
    let last = received.arrivals.lock().unwrap()[events - 1].1;
    let drain_rate = (events - 1) as f64 / last.duration_since(first).as_secs_f64();
    // The receiver's own capacity: the same signed requests, one after the other, keep-alive.
    let secret = ilot_alerts::signature::WebhookSecret::parse(SECRET).unwrap();
    let client = reqwest::Client::new();
    let body = serde_json::json!({"type": "heat.alert.raised", "data": {"area": {"id": "capacity"}, "padding": "x".repeat(1500)}}).to_string();
    let started = Instant::now();
    for i in 0..events {
        let id = format!("msg_{i}");
        let ts = chrono::Utc::now().timestamp();
        client
            .post(format!("http://127.0.0.1:{receiver_port}/hook"))
            .header("webhook-id", &id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", secret.sign(&id, ts, body.as_bytes()))
            .body(body.clone())
            .send()
            .await
            .unwrap();
    }
    let capacity = events as f64 / started.elapsed().as_secs_f64();
    println!(
        "outbox drain: {events} events after an outage, {drain_rate:.0} events/s delivered (first after {:.1} s), receiver capacity {capacity:.0} requests/s in order: {:.0} %",
        first.duration_since(up).as_secs_f64(),
        100.0 * drain_rate / capacity
    );
    drop(svc);

    // 3. Evaluation cost: the same stream, its fleet registered, with the readings rules on and off.
    let registry = dir.path().join("city.csv");
    std::fs::write(&registry, fleet(&prefix, "city", sensors, steps).registry_csv()).unwrap();
    let registered = format!("[registry]\nsensor_files = [\"{}\"]\n\n", registry.display());
    let mut cpu = Vec::new();
    for (name, alerts) in [
        ("off", registered.clone()),
        (
            "on",
            registered.clone()
                + "[alerts]\nenabled = true\n\n[[alerts.rules]]\nid = \"heat\"\nkind = \"instantaneous_heat\"\nyellow_c = 35.0\narea = \"network\"\n\n\
             [[alerts.rules]]\nid = \"health\"\nkind = \"sensor_health\"\n",
        ),
    ] {
        let prefix = unique("cost");
        let svc = service(&dir.path().join(name), broker.port, &prefix, &alerts);
        svc.wait_healthy(Duration::from_secs(60)).await;
        let before = cpu_seconds(svc.child.id());
        let stream = fleet(&prefix, "city", sensors, steps);
        let started = Instant::now();
        publish(&target(broker.port, &unique("cost-")), stream.messages(), 60.0, None).await.unwrap();
        svc.wait_for("SELECT count(*) FROM readings", (sensors as u64 * steps) as i64, Duration::from_secs(120)).await;
        let used = cpu_seconds(svc.child.id()) - before;
        println!("evaluation cost, rules {name}: {used:.1} s of CPU for {} readings in {:.0} s", sensors as u64 * steps, started.elapsed().as_secs_f64());
        for rule in ["heat", "health"].iter().filter(|_| name == "on") {
            let filter = format!("rule=\"{rule}\"");
            let (count, sum) = (svc.metric("ilot_alert_evaluation_seconds_count", &filter).await, svc.metric("ilot_alert_evaluation_seconds_sum", &filter).await);
            println!("  rule {rule}: {count} evaluations, {:.0} ms each (wall time)", 1e3 * sum / count.max(1.0));
        }
        cpu.push(used);
    }
    println!("evaluation cost: rule evaluation takes {:.1} % of the service's CPU at {sensors} sensors", 100.0 * (cpu[1] - cpu[0]) / cpu[1]);
}
