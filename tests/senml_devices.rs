//! SenML as real devices send it, through the real service: an independent MQTT client
//! (`mosquitto_pub`) publishes packs named by a device URN only (RFC 8428 §5.1.1), by a device
//! URN base name and vendor measurement names (`temp`, `rh`, `vbat`), with a base unit, with the
//! measurement told by its unit alone (`K`, `%RH`, `V`), and with a network's own vendor names
//! (`senml_names`, from the configuration file and from the admin API) to a private Mosquitto.
//! Each is stored with the right value and the topic's sensor; a volts-only pack, a temperature
//! in an unknown unit and a pack of vendor names the network does not know are dead-lettered
//! with their documented reasons.

mod support;

use std::process::Command;
use std::time::Duration;
use support::*;

fn mosquitto_pub(port: u16, topic: &str, message: &str) {
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-i", &unique("pub-"), "-m", message])
        .status()
        .expect("mosquitto_pub on PATH (Debian package mosquitto-clients)");
    assert!(status.success(), "mosquitto_pub failed");
}

/// A reading as stored: `network/sensor +<seconds after bt> temperature humidity battery`.
fn row(r: &serde_json::Value, bt: i64) -> String {
    let number = |key: &str| r[key].as_f64().map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
    format!(
        "{}/{} +{} {} {} {}",
        r["network"].as_str().unwrap(),
        r["sensor_id"].as_str().unwrap(),
        r["t"].as_i64().unwrap() - bt,
        number("temperature_c"),
        number("humidity_pct"),
        number("battery_v")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senml_packs_of_real_devices_are_stored_or_dead_lettered_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let mosquitto = Mosquitto::start(&dir.path().join("broker"));
    let prefix = unique("senml");
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::External(mosquitto.port), &prefix);
    spec.extra_toml = "[registry.networks.acme]\nsenml_names = { airTemp = \"temperature\", bv = \"battery\" }\n".into();
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;

    // A network's vendor names through the admin API: validated, then used by the next message.
    let admin = |body: &'static str| {
        reqwest::Client::new().put(format!("{}/api/admin/networks/grenoble", svc.base())).header("content-type", "application/json").body(body).send()
    };
    let refused = admin(r#"{"senml_names": {"p": "pressure"}}"#).await.unwrap();
    assert_eq!(refused.status().as_u16(), 400, "only temperature, humidity and battery are targets");
    let refused = admin(r#"{"senml_names": {"a:b": "battery"}}"#).await.unwrap();
    assert_eq!(refused.status().as_u16(), 400, "a name never holds ':'");
    let accepted = admin(r#"{"senml_names": {"T_air": "temperature"}, "qc": {"stuck_window_s": 7200}}"#).await.unwrap();
    assert_eq!(accepted.status().as_u16(), 200, "{}", accepted.text().await.unwrap());
    // What a PUT replaces is there to read first, every key included.
    let settings: serde_json::Value =
        reqwest::Client::new().get(format!("{}/api/admin/networks/grenoble", svc.base())).send().await.unwrap().json().await.unwrap();
    assert_eq!(settings["settings"]["senml_names"]["T_air"], "temperature", "{settings}");
    assert_eq!(settings["settings"]["qc"]["stuck_window_s"], 7200, "{settings}");
    assert_eq!(settings["settings"]["timezone"], "Europe/Paris", "defaults are shown: {settings}");

    let bt = chrono::Utc::now().timestamp() - 600;
    let topic = |network: &str, sensor: &str| format!("{prefix}/{network}/{sensor}/reading");
    let vendor = format!(r#"[{{"bn":"urn:dev:org:32473-x1:","bt":{bt},"n":"airTemp","u":"Cel","v":18.25}},{{"n":"bv","u":"V","v":3.1}}]"#);
    let messages = [
        // RFC 8428 §5.1.1, with a time: the record is named by the device's URN only.
        (topic("lyon", "rfc-urn"), format!(r#"[{{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1,"t":{bt}}}]"#)),
        // A device URN base name and vendor names; RSSI and mains voltage are not read.
        (
            topic("lyon", "bn-urn"),
            format!(
                r#"[{{"bn":"urn:dev:ow:10e2073a01080064:","bt":{bt},"n":"temp","u":"Cel","v":21.5}},{{"n":"rh","u":"%RH","v":40.5}},
                   {{"n":"vbat","u":"V","v":3.3}},{{"n":"rssi","u":"dBW","v":-80}},{{"n":"voltage","u":"V","v":230}}]"#
            ),
        ),
        // The base unit for the records without one.
        (topic("lyon", "base-unit"), format!(r#"[{{"bn":"urn:dev:mac:0024befffe804ff1","bt":{bt},"bu":"Cel","v":19.25}},{{"v":19.5,"t":60}}]"#)),
        // No name at all: the unit tells the measurement.
        (topic("lyon", "by-unit"), format!(r#"[{{"bt":{bt},"u":"K","v":294.15}},{{"u":"%RH","v":61.2}},{{"u":"V","v":3.61}}]"#)),
        // The network's vendor names, from the configuration file and from the admin API.
        (topic("acme", "vendor"), vendor.clone()),
        (topic("grenoble", "vendor"), format!(r#"[{{"bt":{bt},"n":"T_air","u":"Cel","v":17.5}}]"#)),
        // Dead letters: vendor names of another network, volts only, a temperature in °F.
        (topic("lyon", "vendor"), vendor),
        (topic("lyon", "volts"), format!(r#"[{{"bn":"urn:dev:ow:10e2073a01080065","bt":{bt},"u":"V","v":3.3}}]"#)),
        (topic("lyon", "fahrenheit"), format!(r#"[{{"bn":"urn:dev:ow:10e2073a01080066:","bt":{bt},"n":"temp","u":"degF","v":75}}]"#)),
    ];
    for (topic, message) in &messages {
        mosquitto_pub(mosquitto.port, topic, message);
    }

    svc.wait_for("SELECT count(*) FROM readings", 7, Duration::from_secs(30)).await;
    let rows = svc
        .sql("SELECT network, sensor_id, to_unixtime(ts) AS t, temperature_c, humidity_pct, battery_v FROM readings ORDER BY network, sensor_id, t")
        .await
        .unwrap();
    let rows: Vec<String> = rows.iter().map(|r| row(r, bt)).collect();
    assert_eq!(
        rows,
        [
            "acme/vendor +0 18.25 - 3.10",
            "grenoble/vendor +0 17.50 - -",
            "lyon/base-unit +0 19.25 - -",
            "lyon/base-unit +60 19.50 - -",
            "lyon/bn-urn +0 21.50 40.50 3.30",
            "lyon/by-unit +0 21.00 61.20 3.61",
            "lyon/rfc-urn +0 23.10 - -",
        ]
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while svc.metric("ilot_dead_letters_total", "").await < 3.0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for reason in ["missing_field", "no_temperature", "unknown_unit"] {
        assert_eq!(svc.metric("ilot_dead_letters_total", &format!("reason=\"{reason}\"")).await, 1.0, "{reason}");
    }
    assert_eq!(svc.metric("ilot_dead_letters_total", "").await, 3.0, "nothing else is dead-lettered");
}
