//! The first hour of a new user, through `ilot demo` as the README starts it: two complete nights
//! of heat island (and a day's Tn/Tx) within a minute, the commands the demo prints run as
//! printed, a restart on the same data directory resends duplicates (no conflict, no flood of
//! warnings), and a second demo beside the first is refused with a message that says why and
//! how to run two.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

/// Run `ilot sql` on the demo's store while the demo runs (its WAL included).
fn sql_count(config: &Path, query: &str) -> i64 {
    cli_count(config, query)
}

fn warnings(stderr: &Path) -> Vec<String> {
    std::fs::read_to_string(stderr).unwrap().lines().filter(|l| l.contains(" WARN ")).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_two_nights_within_a_minute_and_a_restart_resends_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path(), 0, free_port());
    let started = Instant::now();
    let demo_args = ["--sensors", "30", "--seed", "7"];
    let mut demo = Service::demo(&config, &demo_args, &dir.path().join("first.log")).unwrap();

    // Two complete nights of every urban sensor's UHI, and a closed climatological day's Tn/Tx.
    let nights = "SELECT count(DISTINCT night) FROM uhi_nightly WHERE network = 'toulouse' AND completeness >= 0.8";
    let days = "SELECT count(DISTINCT date) FROM daily_tn_tx WHERE network = 'toulouse' AND tn_c IS NOT NULL AND tx_c IS NOT NULL \
                AND NOT tn_provisional AND NOT tx_provisional";
    loop {
        if sql_count(&config, nights) >= 2 && sql_count(&config, days) >= 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "after 60 s: {} nights, {} days", sql_count(&config, nights), sql_count(&config, days));
        std::thread::sleep(Duration::from_secs(1));
    }

    // What the demo tells its user to run, run as printed (the program path replaced by this
    // build's binary), on the data they describe.
    demo.wait_line("demo: caught up", Duration::from_secs(60));
    let printed: Vec<String> = demo
        .stdout
        .lock()
        .unwrap()
        .iter()
        .skip_while(|l| !l.starts_with("demo: caught up"))
        .filter_map(|l| l.trim().split_once(" sql \"").map(|(_, q)| q.trim_end_matches('"').to_owned()))
        .collect();
    assert!(printed.len() >= 4, "{printed:?}");
    for query in &printed {
        let rows = cli_sql(&config, query);
        assert!(!rows.is_empty(), "{query}: no rows");
    }
    let uhi = cli_sql(&config, &printed[0]);
    assert!(uhi.iter().any(|r| r["uhi_mean_c"].as_f64().is_some_and(|u| u > 0.5)), "a heat island at night: {uhi:?}");
    assert!(demo.stdout.lock().unwrap().iter().any(|l| l.contains("Dashboard") && l.contains("/status")));

    // The alerts it points to: the fleet's spent battery (and frozen sensor) in one
    // sensor-health alert for the network.
    let alerts_url = demo.stdout.lock().unwrap().iter().find_map(|l| l.trim().strip_prefix("curl -s ").map(str::to_owned)).expect("the alerts' URL");
    // (Sensor health is evaluated at most every 30 s.)
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body: serde_json::Value = reqwest::get(&alerts_url).await.unwrap().json().await.unwrap();
        let health = body["alerts"].as_array().unwrap().iter().find(|a| a["rule"] == "health" && a["active"] == true).cloned();
        if let Some(health) = health {
            assert_eq!(health["area"], "toulouse");
            assert_eq!(health["latest"]["indicators"]["low_battery_sensors"], serde_json::json!(["tls-002"]), "{health}");
            break;
        }
        assert!(Instant::now() < deadline, "no sensor-health alert in the demo: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Restarted on its data directory, the demo replays the same days: duplicates, counted.
    demo.stop();
    let stored = sql_count(&config, "SELECT count(*) FROM readings");
    let second_log = dir.path().join("second.log");
    let mut demo = Service::demo(&config, &demo_args, &second_log).unwrap();
    demo.wait_line("demo: caught up", Duration::from_secs(90));
    let deadline = Instant::now() + Duration::from_secs(30);
    while demo.metric("ilot_duplicates_total", "").await < (stored as f64) * 0.9 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let duplicates = demo.metric("ilot_duplicates_total", "").await;
    assert!(duplicates >= stored as f64 * 0.9, "{duplicates} duplicates counted of {stored} readings replayed");
    assert_eq!(demo.metric("ilot_conflicts_total", "").await, 0.0);
    demo.stop();
    let warnings = warnings(&second_log);
    eprintln!("{}", std::fs::read_to_string(&second_log).unwrap());
    assert!(warnings.len() < 20, "{} warning lines: {warnings:#?}", warnings.len());
    assert!(!dir.path().join("data").join("conflicts").exists());
    assert_eq!(sql_count(&config, "SELECT count(*) FROM conflicts"), 0);

}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_demo_is_refused_with_the_reason_and_how_to_run_two() {
    let dir = tempfile::tempdir().unwrap();
    let (http, broker) = (free_port(), free_port());
    let first = dir.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    let config = demo_config(&first, http, broker);
    let demo = Service::demo(&config, &["--sensors", "5", "--days-back", "0"], &dir.path().join("first.log")).unwrap();
    let pid = demo.child.id().to_string();

    let refused = |config: &Path, name: &str| {
        let log = dir.path().join(format!("{name}.log"));
        let err = Service::demo(config, &["--sensors", "5", "--days-back", "0"], &log).err().expect("a second demo is refused");
        assert!(err.contains("To run a second demo beside it") && err.contains("ILOT_STORAGE__DATA_DIR="), "{err}");
        err
    };
    // The same data directory: the lock names the process holding it, before any port is tried.
    let err = refused(&config, "same-dir");
    assert!(err.contains(&format!("held by process {pid}")), "{err}");
    // Another directory, the same ports: each taken address is named with its setting.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let err = refused(&demo_config(&other, http, broker), "same-http");
    assert!(err.contains(&format!("127.0.0.1:{http} is already in use")) && err.contains("http.listen"), "{err}");
    let err = refused(&demo_config(&other, 0, broker), "same-broker");
    assert!(err.contains(&format!("127.0.0.1:{broker} is already in use")) && err.contains("embedded_broker.listen"), "{err}");
    // Nothing of the first demo was touched: it still answers.
    assert_eq!(demo.health().await.0, 200);
    assert!(!other.join("data").join("readings").exists());
}
