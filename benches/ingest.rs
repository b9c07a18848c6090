//! Ingest benchmarks (see BENCHMARKS.md): end-to-end intake rate through Mosquitto against the
//! broker's raw delivery rate in the same run, the same rate while four heavy analyst queries
//! run (query isolation), publish-to-SQL latency, and the service's peak memory with 10,000
//! simulated sensors.
//!
//! Run: `cargo bench --bench ingest` (ILOT_BENCH_SENSORS, ILOT_BENCH_STEPS to resize).

#[path = "../tests/support/mod.rs"]
mod support;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::time::{Duration, Instant};
use support::*;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Time for the broker to deliver the fleet's messages to a subscriber that discards them.
async fn raw_delivery(port: u16, sensors: usize, steps: u64) -> Duration {
    let prefix = unique("raw");
    let mut opts = MqttOptions::new(unique("raw-sub-"), "127.0.0.1", port);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 1000);
    client.subscribe(format!("{prefix}/#"), QoS::AtLeastOnce).await.unwrap();
    let expected = sensors as u64 * steps;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut n = 0u64;
        let mut done_tx = Some(done_tx);
        while let Ok(e) = eventloop.poll().await {
            if let Event::Incoming(Packet::Publish(_)) = e {
                n += 1;
                if n == expected
                    && let Some(tx) = done_tx.take()
                {
                    let _ = tx.send(Instant::now());
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let f = fleet(&prefix, "bench", sensors, steps);
    let start = Instant::now();
    publish(&target(port, &unique("raw-pub-")), f.messages(), 0.0, None).await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(600), done_rx).await.expect("raw subscriber got everything").unwrap();
    end - start
}

/// The same fleet again (another network), published while four clients keep heavy queries
/// running over HTTP (CPU-bound scans and group-bys on the query threads); time to ack it all.
async fn ingest_under_queries(svc: &Service, port: u16, prefix: &str, sensors: usize, steps: u64) -> Duration {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let queries = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let base = svc.base();
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (stop, queries, base) = (stop.clone(), queries.clone(), base.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let sql = format!("SELECT x % 1000 AS k, count(*), sum(x * {i}) FROM range(40000000) AS t(x) GROUP BY 1 ORDER BY 2 DESC LIMIT 3");
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = client.post(format!("{base}/api/sql")).body(sql.clone()).send().await;
                    queries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let already = svc.metric("ilot_messages_acked_total", "").await;
    let f = fleet(prefix, "loaded", sensors, steps);
    let start = Instant::now();
    publish(&target(port, &unique("pub-loaded-")), f.messages(), 0.0, None).await.unwrap();
    let n = sensors as f64 * steps as f64;
    while svc.metric("ilot_messages_acked_total", "").await < already + n {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(start.elapsed() < Duration::from_secs(900), "ilot did not ack everything under query load");
    }
    let took = start.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    println!("  ({} heavy queries completed meanwhile)", queries.load(std::sync::atomic::Ordering::Relaxed));
    took
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sensors = env_or("ILOT_BENCH_SENSORS", 10_000) as usize;
    let steps = env_or("ILOT_BENCH_STEPS", 20);
    let n = sensors as u64 * steps;
    let dir = tempfile::tempdir().unwrap();
    let mosquitto = Mosquitto::start(&dir.path().join("broker"));
    println!("# ingest benchmark: {sensors} sensors x {steps} readings = {n} messages, QoS 1, Mosquitto (deploy/ settings)");

    let raw = raw_delivery(mosquitto.port, sensors, steps).await;
    let raw_rate = n as f64 / raw.as_secs_f64();
    println!("raw broker delivery (discarding subscriber): {:.2} s, {:.0} msg/s", raw.as_secs_f64(), raw_rate);

    let prefix = unique("ilot");
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::External(mosquitto.port), &prefix);
    spec.persist_interval_s = 60;
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let f = fleet(&prefix, "bench", sensors, steps);
    let start = Instant::now();
    publish(&target(mosquitto.port, &unique("pub-")), f.messages(), 0.0, None).await.unwrap();
    while svc.metric("ilot_messages_acked_total", "").await < n as f64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(start.elapsed() < Duration::from_secs(900), "ilot did not ack everything");
    }
    let ilot = start.elapsed();
    let ilot_rate = n as f64 / ilot.as_secs_f64();
    let stored = svc.count("SELECT count(*) FROM readings").await;
    println!(
        "ilot end-to-end (acked after fsync): {:.2} s, {:.0} msg/s = {:.0} % of raw; stored {stored} of {n} (lost {})",
        ilot.as_secs_f64(),
        ilot_rate,
        100.0 * ilot_rate / raw_rate,
        n as i64 - stored
    );
    let loaded = ingest_under_queries(&svc, mosquitto.port, &prefix, sensors, steps).await;
    let loaded_rate = n as f64 / loaded.as_secs_f64();
    println!(
        "ilot end-to-end while 4 heavy analyst queries run: {:.2} s, {:.0} msg/s = {:.0} % of the rate without queries",
        loaded.as_secs_f64(),
        loaded_rate,
        100.0 * loaded_rate / ilot_rate
    );
    let commits = svc.metric("ilot_wal_commit_seconds_count", "").await;
    println!("WAL group commits: {commits:.0} ({:.0} messages per fsync on average)", n as f64 / commits.max(1.0));
    println!("peak RSS of ilot serve with {sensors} sensors: {:.0} MiB", peak_rss_mib(svc.child.id()));

    // Latency: a background stream (~2,000 msg/s) while probes measure publish → visible in SQL.
    let bg_prefix = prefix.clone();
    let port = mosquitto.port;
    let background = tokio::spawn(async move {
        let f = fleet(&bg_prefix, "background", 1_000, 1_000);
        let _ = publish(&target(port, &unique("bg-")), f.messages(), 600.0, None).await;
    });
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(unique("probe-"), "127.0.0.1", mosquitto.port), 100);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let mut latencies = Vec::new();
    for i in 0..200 {
        let ts = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
        let sql = format!("SELECT count(*) FROM readings WHERE network = 'probe' AND sensor_id = 'p{i}'");
        let started = Instant::now();
        client
            .publish(format!("{prefix}/probe/p{i}/reading"), QoS::AtLeastOnce, false, format!(r#"{{"ts":"{ts}","temperature_c":20.5}}"#))
            .await
            .unwrap();
        while svc.count(&sql).await != 1 {
            assert!(started.elapsed() < Duration::from_secs(10), "probe {i} not visible");
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    background.abort();
    latencies.sort_by(f64::total_cmp);
    println!(
        "publish -> visible in SQL (200 probes, background stream): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
}
