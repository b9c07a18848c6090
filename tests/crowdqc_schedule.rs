//! The service runs CrowdQC+ by itself (`[crowdqc] interval_s`) over the current month of its
//! crowdsourced networks: readings published over MQTT appear in the `crowdqc` table without
//! anyone running `ilot qc`.

mod support;

use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::time::Duration;
use support::*;

const STATIONS: i64 = 8;
const HOURS: i64 = 48;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowdsourced_network_is_quality_controlled_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let sensors = dir.path().join("cws.csv");
    let mut csv = String::from("network,sensor_id,lat,lon,cadence_s\n");
    for i in 0..STATIONS {
        csv += &format!("cws,s{i},{},{},3600\n", 52.50 + (i / 4) as f64 * 0.004, 13.40 + (i % 4) as f64 * 0.006);
    }
    std::fs::write(&sensors, csv).unwrap();
    let port = free_port();
    let prefix = unique("cqc");
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::Embedded(port), &prefix);
    spec.extra_toml = format!(
        "[crowdqc]\ninterval_s = 1\n\n[registry]\nsensor_files = [{:?}]\n\n[registry.networks.cws]\ncrowdsourced = true\nreference_mode = \"network_mean\"\n",
        sensors.to_str().unwrap()
    );
    let mut svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;

    // One reading per station and hour over the last two days (hourly cadence: every hour valid).
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(unique("cqc-"), "127.0.0.1", port), 1000);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let last_hour = chrono::Utc::now().timestamp() / 3600 * 3600 - 3600;
    for h in 0..HOURS {
        let ts = chrono::DateTime::from_timestamp(last_hour - h * 3600, 0).unwrap().to_rfc3339();
        for i in 0..STATIONS {
            let body = format!(r#"{{"ts":"{ts}","temperature_c":{:.2}}}"#, 15.0 + 0.1 * i as f64 + 0.01 * h as f64);
            client.publish(format!("{prefix}/cws/s{i}/reading"), QoS::AtLeastOnce, false, body).await.unwrap();
        }
    }
    svc.wait_for("SELECT count(*) FROM readings", STATIONS * HOURS, Duration::from_secs(30)).await;

    // Every published station-hour is in the CrowdQC+ grid, with its levels computed.
    svc.wait_for("SELECT count(*) FROM crowdqc WHERE network = 'cws' AND ta IS NOT NULL", STATIONS * HOURS, Duration::from_secs(30)).await;
    svc.wait_for("SELECT count(*) FROM crowdqc WHERE ta IS NOT NULL AND NOT m1", 0, Duration::from_secs(5)).await;
    svc.stop();
}
