//! `ilot sql` never cuts a result silently: a result cut at `query.max_result_rows` ends the
//! table with a line saying so and fails in CSV, JSON and Arrow, unless `--max-rows` asked for
//! the cut; the same on the stored data and against a running service (`--server`).

mod support;

use std::path::Path;
use std::time::Duration;
use support::*;

const TEN: &str = "SELECT value FROM generate_series(1, 10) ORDER BY value";

/// `ilot --config <config> sql <args>`: success, stdout, stderr.
fn ilot_sql(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(ilot_bin()).arg("--config").arg(config).arg("sql").args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The checks shared by both modes; `cap` names the limit that cut the result.
fn a_cut_result_is_never_silent(config: &Path, server: &[&str], cap: &str) {
    let sql = |args: &[&str]| ilot_sql(config, &[server, args].concat());

    // The table says so in its last line.
    let (ok, stdout, stderr) = sql(&[TEN]);
    assert!(ok, "{stderr}");
    let last = stdout.lines().last().unwrap();
    assert_eq!(last, format!("(result cut at 5 rows ({cap}): add a LIMIT or raise --max-rows)"), "{stdout}");
    assert!(stdout.contains("| 5 ") && !stdout.contains("| 6 "), "{stdout}");

    // Programs' formats refuse a cut they did not ask for.
    for format in ["csv", "json", "arrow"] {
        let (ok, stdout, stderr) = sql(&["--format", format, TEN]);
        assert!(!ok && stdout.is_empty(), "{format}: {stdout}");
        assert!(stderr.contains(&format!("result cut at 5 rows ({cap})")) && stderr.contains("LIMIT") && stderr.contains("--max-rows N"), "{format}: {stderr}");
    }

    // --max-rows asks for the cut: printed in every format, with a note.
    let (ok, stdout, stderr) = sql(&["--format", "csv", "--max-rows", "3", TEN]);
    assert_eq!((ok, stdout.as_str()), (true, "value\n1\n2\n3\n"), "{stderr}");
    assert!(stderr.contains("note: result cut at 3 rows (--max-rows)"), "{stderr}");
    let (ok, stdout, _) = sql(&["--format", "json", "--max-rows", "2", TEN]);
    assert_eq!((ok, stdout.as_str()), (true, "[{\"value\":1},{\"value\":2}]\n"));
    let (ok, stdout, _) = sql(&["--format", "arrow", "--max-rows", "2", TEN]);
    assert!(ok && !stdout.is_empty());
    let (ok, stdout, _) = sql(&["--max-rows", "2", TEN]);
    assert!(ok && stdout.ends_with("(result cut at 2 rows (--max-rows): add a LIMIT or raise --max-rows)\n"), "{stdout}");

    // A whole result: no note, whatever the format.
    let (ok, stdout, stderr) = sql(&["--format", "csv", "SELECT value FROM generate_series(1, 5) ORDER BY value"]);
    assert_eq!((ok, stdout.as_str(), stderr.as_str()), (true, "value\n1\n2\n3\n4\n5\n", ""));
    let (ok, stdout, _) = sql(&["SELECT 1 AS one"]);
    assert!(ok && !stdout.contains("cut"), "{stdout}");

    // --max-rows is bounded.
    for bad in ["0", "100000001"] {
        let (ok, _, stderr) = sql(&["--max-rows", bad, TEN]);
        assert!(!ok && stderr.contains("--max-rows"), "{bad}: {stderr}");
    }
}

#[test]
fn on_the_stored_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ilot.toml");
    std::fs::write(&config, format!("[storage]\ndata_dir = \"{}\"\n\n[query]\nmax_result_rows = 5\n", dir.path().display())).unwrap();
    a_cut_result_is_never_silent(&config, &[], "query.max_result_rows");
    // Locally, --max-rows may raise the configured cap.
    let (ok, stdout, stderr) = ilot_sql(&config, &["--format", "csv", "--max-rows", "20", TEN]);
    assert!(ok && stdout.lines().count() == 11 && stderr.is_empty(), "{stdout}{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_running_service() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ServiceSpec::new(dir.path(), Broker::Embedded(free_port_pair()), &unique("t"));
    spec.extra_toml = "[query]\nmax_result_rows = 5\n".into();
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    // The client's own configuration says nothing of the server's cap.
    let client = dir.path().join("client.toml");
    std::fs::write(&client, format!("[storage]\ndata_dir = \"{}\"\n", dir.path().join("elsewhere").display())).unwrap();
    let base = svc.base();
    tokio::task::spawn_blocking(move || a_cut_result_is_never_silent(&client, &["--server", &base], "the server's query.max_result_rows"))
        .await
        .unwrap();

    // With --server, --max-rows may only lower the server's cap.
    let (ok, _, stderr) = ilot_sql(&svc.config_file, &["--server", &svc.base(), "--max-rows", "6", TEN]);
    assert!(!ok && stderr.contains("max_rows: from 1 to 5 (query.max_result_rows)"), "{stderr}");
    let r = reqwest::Client::new().post(format!("{}/api/sql?max_rows=2&format=csv", svc.base())).body(TEN).send().await.unwrap();
    assert_eq!(r.headers().get("x-ilot-truncated").unwrap(), "true");
    assert_eq!(r.text().await.unwrap(), "value\n1\n2\n");
}
