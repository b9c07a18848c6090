//! `dashboards/grafana/` against the real endpoint: `ilot demo` (PostgreSQL wire on loopback,
//! the demo's open login) fed by its simulated city, then every query of the provisioned
//! dashboards run by `support/grafana_queries.py` as Grafana sends it (macros expanded,
//! `SET TIMEZONE…; SELECT …` in one simple query), and the provisioning files parsed.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grafana_dashboard_query_runs_against_the_postgresql_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path(), 0, free_port());
    let demo = Service::demo(&config, &["--sensors", "30", "--seed", "7"], &dir.path().join("demo.log")).unwrap();
    let line = demo.wait_line("  PostgreSQL", Duration::from_secs(10));
    assert!(line.contains("loopback demo"), "the open login says so: {line}");
    let port = line.split("postgresql://127.0.0.1:").nth(1).and_then(|rest| rest.split('/').next()).expect("the address");

    // Two nights of heat island and the demo's sensor-health alert, as the panels show them.
    let started = Instant::now();
    let (nights, alerts) = ("SELECT count(DISTINCT night) AS n FROM uhi_nightly WHERE completeness >= 0.8", "SELECT count(*) AS n FROM alerts WHERE active");
    while demo.count(nights).await < 2 || demo.count(alerts).await < 1 {
        assert!(started.elapsed() < Duration::from_secs(120), "after 120 s: {} nights, {} alerts", demo.count(nights).await, demo.count(alerts).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/grafana_queries.py");
    let must_have_rows = [
        "Sensors now (temperature, LCZ, role, QC)",
        "Hourly mean temperature, urban and rural stations",
        "Nightly heat island: UHImax and mean over the network",
        "Network health: sensors a technician must see",
        "Hourly temperature against the reference",
        "Readings",
        "Climatological Tn / Tx",
        "IBMn and IBMx against the thresholds (warmest station)",
        "Alerts in force",
        "Events",
    ];
    let out = Command::new("python3")
        .arg(&script)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", port)
        .env("PGUSER", "grafana")
        .env("ILOT_GRAFANA_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/grafana"))
        .env("ILOT_MUST_HAVE_ROWS", must_have_rows.join("|"))
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("queries ran"), "grafana queries:\n{stdout}\n{stderr}");
    println!("{stdout}");
}
