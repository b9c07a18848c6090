//! `ilot sim` fleets reach a separately started `ilot serve`'s analytics: registered through
//! the admin API (`--register`), or written as a registry file (`--registry-out`, CSV or
//! GeoJSON) the service reads from `registry.sensor_files`.

mod support;

use ilot_firmware_sim::{SensorRole, rural_reference_count};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::Duration;
use support::*;

const ADMIN_TOKEN: &str = "sim-fleet-admin-token";

/// `ilot sim <args>` to completion, with `env` set and no configuration file.
fn ilot_sim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(ilot_bin());
    command.arg("sim").args(args).env("RUST_LOG", "error").env_remove("ILOT_HTTP__ADMIN_TOKEN");
    command.envs(env.iter().copied()).output().expect("run ilot sim")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The fleet `ilot sim --city <city> --sensors <n> --seed <seed>` simulates: the same seed, city
/// and size give the same sensors whatever the span.
fn same_fleet(city: &str, sensors: usize, seed: u64) -> Fleet {
    Fleet::new(SimConfig { city: city.into(), sensors, seed, readings_per_sensor: Some(1), ..SimConfig::default() }).unwrap()
}

async fn admin(svc: &Service, method: reqwest::Method, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", svc.base())).bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_registered_through_the_admin_api_gives_heat_analytics() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&dir.path().join("mosquitto"));
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::External(broker.port), "ilot");
    spec.http_admin_token = Some(ADMIN_TOKEN.into());
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    // A setting of the network the registration must keep.
    let (status, body) = admin(&svc, reqwest::Method::PUT, "/api/admin/networks/rennes", Some(r#"{"display_name": "Rennes (simulated)"}"#)).await;
    assert_eq!(status, 200, "{body}");

    let port = broker.port.to_string();
    let sim = ["--host", "127.0.0.1", "--port", &port, "--city", "rennes", "--sensors", "20", "--days-back", "3", "--acceleration", "0", "--seed", "5"];
    let base = svc.base();
    // A wrong token: refused before anything is published, saying where and why, never echoed.
    let out = ilot_sim(&[&sim[..], &["--register", &base, "--admin-token", "not-the-admin-token"]].concat(), &[]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains(&format!("PUT {base}/api/admin/sensors: 401 Unauthorized")) && said.contains("--admin-token"), "{said}");
    assert!(!said.contains("not-the-admin-token"), "the token is not printed: {said}");

    // The token from the service's variable, as an operator beside the service would have it.
    let out = ilot_sim(&[&sim[..], &["--register", &format!("{base}/")]].concat(), &[("ILOT_HTTP__ADMIN_TOKEN", ADMIN_TOKEN)]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("registered the 20 sensors of network rennes") && said.contains("département 35"), "{said}");
    assert!(!said.contains(ADMIN_TOKEN), "{said}");

    let readings = 20 * 3 * 288;
    svc.wait_for("SELECT count(*) FROM readings WHERE network = 'rennes'", readings, Duration::from_secs(60)).await;
    assert_eq!(svc.count("SELECT count(*) FROM readings WHERE network = 'rennes' AND qc_flags & 64 <> 0").await, 0, "every sensor registered");
    let fleet = same_fleet("rennes", 20, 5);
    let rows = svc.sql("SELECT sensor_id, role, lcz, lat, lon FROM sensors WHERE network = 'rennes' ORDER BY sensor_id").await.unwrap();
    assert_eq!(rows.len(), 20);
    for (row, sensor) in rows.iter().zip(fleet.sensors()) {
        let role = if sensor.role == SensorRole::RuralReference { "rural" } else { "urban" };
        assert_eq!((row["sensor_id"].as_str(), row["role"].as_str(), row["lcz"].as_str()), (Some(sensor.id.as_str()), Some(role), Some(sensor.lcz.label())));
        assert_eq!((row["lat"].as_f64(), row["lon"].as_f64()), (Some(sensor.lat), Some(sensor.lon)));
    }
    let network = &svc.sql("SELECT display_name, departement, tn_threshold_c FROM networks WHERE network = 'rennes'").await.unwrap()[0];
    assert_eq!((network["display_name"].as_str(), network["departement"].as_str()), (Some("Rennes (simulated)"), Some("35")), "{network}");
    assert_eq!(network["tn_threshold_c"].as_f64(), Some(19.0), "{network}");

    // Three days up to now hold at least two complete nights, every sensor in each.
    let nights = svc.sql("SELECT night, count(*) AS sensors FROM uhi_nightly WHERE network = 'rennes' GROUP BY night ORDER BY night").await.unwrap();
    let complete = nights.iter().filter(|n| n["sensors"] == 20).count();
    assert!(complete >= 2, "{nights:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_files_written_by_the_simulator_are_read_by_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("dijon.csv");
    let geojson = dir.path().join("vitre.geojson");
    for (file, city, sensors) in [(&csv, "dijon", "15"), (&geojson, "vitre", "12")] {
        let out = ilot_sim(&["--city", city, "--sensors", sensors, "--seed", "2", "--registry-out", file.to_str().unwrap(), "--no-publish"], &[]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("registry.sensor_files"), "{}", text(&out));
    }
    assert!(std::fs::read_to_string(&geojson).unwrap().contains("FeatureCollection"));
    // Publishing nothing is only for writing or registering the fleet.
    assert_eq!(ilot_sim(&["--no-publish"], &[]).status.code(), Some(2));

    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::Embedded(free_port()), &unique("t"));
    spec.extra_toml = format!("[registry]\nsensor_files = [{:?}, {:?}]\n", csv.to_str().unwrap(), geojson.to_str().unwrap());
    let svc = Service::start(&spec);
    for (city, departement, sensors) in [("dijon", "21", 15), ("vitre", "35", 12)] {
        let fleet = same_fleet(city, sensors, 2);
        let sql = format!("SELECT sensor_id, role, lcz, lat, lon, cadence_s, departement, provider FROM sensors WHERE network = '{city}' ORDER BY sensor_id");
        let rows = svc.sql(&sql).await.unwrap();
        assert_eq!(rows.len(), sensors, "{city}");
        for (row, sensor) in rows.iter().zip(fleet.sensors()) {
            let role = if sensor.role == SensorRole::RuralReference { "rural" } else { "urban" };
            assert_eq!(row["sensor_id"].as_str(), Some(sensor.id.as_str()), "{row}");
            assert_eq!((row["role"].as_str(), row["lcz"].as_str()), (Some(role), Some(sensor.lcz.label())), "{row}");
            assert_eq!((row["lat"].as_f64(), row["lon"].as_f64()), (Some(sensor.lat), Some(sensor.lon)), "{row}");
            assert_eq!((row["cadence_s"].as_i64(), row["departement"].as_str()), (Some(300), Some(departement)), "{row}");
            assert_eq!(row["provider"].as_str(), Some("ilot-firmware-sim"), "{row}");
        }
        let rural = rows.iter().filter(|r| r["role"] == "rural").count();
        assert_eq!(rural, rural_reference_count(sensors), "{city}");
    }
}
