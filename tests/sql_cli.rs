//! `ilot sql` behaves like the tools people know. It never cuts a result silently: a result cut
//! at `query.max_result_rows` ends the table with a line saying so and fails in CSV, JSON and
//! Arrow, unless `--max-rows` asked for the cut; the same on the stored data and against a
//! running service (`--server`), which prints the very table the local mode prints, `(N rows)`
//! line included, empty results with their header. Piped into `head`, it stops quietly; pointed
//! at a data directory that does not exist, it says so and creates nothing.

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

    // The table says so in its last line, after the row count.
    let (ok, stdout, stderr) = sql(&[TEN]);
    assert!(ok, "{stderr}");
    let last: Vec<&str> = stdout.lines().rev().take(2).collect();
    assert_eq!(last, [format!("(result cut at 5 rows ({cap}): add a LIMIT or raise --max-rows)").as_str(), "(5 rows)"], "{stdout}");
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
    assert!(ok && stdout.ends_with("(2 rows)\n(result cut at 2 rows (--max-rows): add a LIMIT or raise --max-rows)\n"), "{stdout}");

    // A whole result: no note, whatever the format.
    let (ok, stdout, stderr) = sql(&["--format", "csv", "SELECT value FROM generate_series(1, 5) ORDER BY value"]);
    assert_eq!((ok, stdout.as_str(), stderr.as_str()), (true, "value\n1\n2\n3\n4\n5\n", ""));
    let (ok, stdout, _) = sql(&["SELECT 1 AS one"]);
    assert_eq!((ok, stdout.as_str()), (true, "+-----+\n| one |\n+-----+\n| 1   |\n+-----+\n(1 row)\n"));
    // An empty result: its column names, and how many rows there are.
    let (ok, stdout, _) = sql(&["SELECT 1 AS one, 'a' AS b WHERE false"]);
    assert_eq!((ok, stdout.as_str()), (true, "+-----+---+\n| one | b |\n+-----+---+\n+-----+---+\n(0 rows)\n"));

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
    let mut spec = ServiceSpec::new(dir.path(), Broker::Embedded(free_port()), &unique("t"));
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

/// A config file whose data directory is `data_dir`.
fn config_for(dir: &Path, data_dir: &Path) -> std::path::PathBuf {
    let config = dir.join("ilot.toml");
    std::fs::write(&config, format!("[storage]\ndata_dir = \"{}\"\n", data_dir.display())).unwrap();
    config
}

#[test]
fn a_closed_pipe_ends_it_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), dir.path());
    // Far more than a pipe holds: `head` leaves while ilot is still writing.
    let many = "SELECT value, value * 2 AS double FROM generate_series(1, 100000)";
    for (format, head) in [("table", "head -1"), ("csv", "head -1"), ("json", "head -c 10"), ("arrow", "head -c 10")] {
        // ilot's own exit status goes to stderr: the pipeline's is head's.
        let script = format!("{{ '{}' --config '{}' sql --format {format} '{many}'; echo \"ilot exited $?\" >&2; }} | {head}", ilot_bin(), config.display());
        let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{format}: {stderr}");
        assert_eq!(stderr, "ilot exited 0\n", "{format}: quietly, with status 0");
        match format {
            "table" => assert_eq!(stdout, "+--------+--------+\n"),
            "csv" => assert_eq!(stdout, "value,double\n"),
            _ => assert_eq!(out.stdout.len(), 10, "{format}"),
        }
    }
}

#[test]
fn a_missing_data_directory_is_an_error_and_stays_missing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-store");
    let config = config_for(dir.path(), &missing);
    for args in [
        &["sql", "SELECT count(*) FROM readings"][..],
        &["sql", "SELECT 1"],
        &["check"],
        &["qc", "--network", "toulouse", "--month", "2025-07"],
        &["qc", "--flags", "--progress-s", "0"],
    ] {
        let out = std::process::Command::new(ilot_bin()).arg("--config").arg(&config).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(&format!("no data directory at {} (storage.data_dir)", missing.display())), "{args:?}: {stderr}");
        assert!(stderr.contains("--config") && stderr.contains("ILOT_STORAGE__DATA_DIR") && stderr.contains("ilot demo"), "{args:?}: {stderr}");
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }

    // Where a newcomer first tries it: no configuration, no ./data.
    let empty = dir.path().join("newcomer");
    std::fs::create_dir(&empty).unwrap();
    let out = std::process::Command::new(ilot_bin()).current_dir(&empty).args(["sql", "SELECT count(*) FROM readings"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("no data directory at ./data (storage.data_dir)"), "{stderr}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "nothing created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_server_the_same_table_as_locally() {
    let dir = tempfile::tempdir().unwrap();
    let (prefix, port) = (unique("t"), free_port());
    let svc = Service::start(&ServiceSpec::new(dir.path(), Broker::Embedded(port), &prefix));
    svc.wait_healthy(Duration::from_secs(30)).await;
    let stats = publish(&target(port, &unique("pub-")), fleet(&prefix, "toulouse", 3, 4).messages(), 0.0, None).await.unwrap();
    assert_eq!(stats.acked, 12);
    svc.wait_for("SELECT count(*) FROM readings", 12, Duration::from_secs(30)).await;

    let (config, base) = (svc.config_file.clone(), svc.base());
    for query in [
        "SELECT * FROM readings ORDER BY sensor_id, ts",
        "SELECT network, count(*) AS n, round(avg(temperature_c), 2) AS mean_c FROM readings GROUP BY 1",
        "SELECT sensor_id, ts FROM readings WHERE false",
    ] {
        let (local, remote) = tokio::task::spawn_blocking({
            let (config, base) = (config.clone(), base.clone());
            move || (ilot_sql(&config, &[query]), ilot_sql(&config, &["--server", &base, query]))
        })
        .await
        .unwrap();
        assert!(local.0 && remote.0, "{query}: {} {}", local.2, remote.2);
        assert_eq!(local.1, remote.1, "{query}");
        let http = reqwest::Client::new().post(format!("{base}/api/sql?format=table")).body(query).send().await.unwrap().text().await.unwrap();
        assert_eq!(http, local.1, "{query}: POST /api/sql?format=table");
        let rows = if query.contains("false") { 0 } else if query.contains("GROUP BY") { 1 } else { 12 };
        assert!(local.1.ends_with(&format!("({rows} {})\n", if rows == 1 { "row" } else { "rows" })), "{query}: {}", local.1);
    }
}
