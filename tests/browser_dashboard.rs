//! The web dashboard in a real browser: `ilot demo` replays the Toulouse heat wave through its
//! embedded broker (the simulator publishing over MQTT into the service), and headless Chromium
//! (Debian's `chromium`, driven by `playwright-core` from npm: `dashboards/web/tests/dashboard.mjs`)
//! opens the dashboard while it does: the canicule alert appears on the open alerts page, the
//! map shows every sensor, a sensor page its series against the reference and its nightly heat
//! island, the network page its calendars with the days meeting the canicule criterion, the
//! citizen view its cells. Nothing is fetched from outside the server.
//!
//! Screenshots: `$ILOT_SCREENSHOTS` (default `<target dir>/screenshots`), kept by `.ci/run` as
//! the run's artefacts; `docs/screenshots/` holds a copy for the README.
//!
//! Needs `/usr/bin/chromium` (or `$CHROMIUM`), Node.js and `npm ci` in `dashboards/web`; `.ci/run`
//! installs them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

fn screenshots() -> PathBuf {
    std::env::var_os("ILOT_SCREENSHOTS").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        target.join("screenshots")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_map_a_sensor_a_network_and_the_heat_wave_alert_in_chromium() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/web");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing: apt-get install chromium (.ci/run does)");
    assert!(web.join("node_modules/playwright-core").exists(), "playwright-core is missing: (cd dashboards/web && npm ci) (.ci/run does)");

    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path(), 0, free_port());
    // Refreshed every 2 s (the alert must appear on the open page), citizen view on with cells
    // wide enough for 16 sensors to fill some with 3 or more.
    let toml = std::fs::read_to_string(&config).unwrap() + "\n[http.dashboard]\nrefresh_s = 2\npublic_view = true\npublic_cell_m = 10000\n";
    std::fs::write(&config, toml).unwrap();
    let scenario = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-sim/scenarios/toulouse-heat-wave.toml")).unwrap();
    let scenario_file = dir.path().join("heat-wave.toml");
    std::fs::write(&scenario_file, scenario.replace("sensors = 40", "sensors = 16")).unwrap();

    let demo = Service::demo(&config, &["--scenario-file", scenario_file.to_str().unwrap()], &dir.path().join("demo.log")).unwrap();
    let base = demo.base();
    let sensors = reqwest::get(format!("{base}/api/sensors")).await.unwrap().json::<serde_json::Value>().await.unwrap();
    let registered = sensors["rows"].as_array().unwrap().iter().filter(|s| !s["lat"].is_null()).count();
    assert_eq!(registered, 16, "the fleet is registered before the replay starts");

    let shots = screenshots();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("tests/dashboard.mjs")
            .current_dir(&web)
            .env("ILOT_BASE", &base)
            .env("ILOT_SENSORS", registered.to_string())
            .env("ILOT_NETWORK", "toulouse")
            .env("ILOT_SCREENSHOTS", &shots)
            .env("CHROMIUM", &chromium)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert!(out.status.success(), "the browser saw:\n{stdout}\n{stderr}\ndemo log: {}", std::fs::read_to_string(dir.path().join("demo.log")).unwrap_or_default());
    let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(seen["markers"], 16, "{seen}");
    assert!(seen["criterion_days"].as_u64().unwrap() >= 1 && seen["public_cells"].as_u64().unwrap() >= 1, "{seen}");
    assert_eq!(seen["public_text_names_no_sensor"], true, "the citizen view names no sensor: {seen}");
}
