//! The PostgreSQL wire endpoint as analysts meet it: `ilot serve` with TLS and the HTTP
//! credentials, fed over MQTT, queried by Debian's `psql` (`\d`, `\dt`, `\d+ readings`, a
//! multi-statement query, refusals) and by psycopg 3 (`support/postgres_client.py`: parameters,
//! binary results, prepared statements, limits, wrong passwords, plaintext, the connection
//! limit).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::*;

const READER: &str = "reader-pass-1";
const ADMIN: &str = "admin-pass-2";

/// `psql` as `user`, with TLS checked against the test CA: (success, stdout, stderr).
fn psql(port: u16, ca: &Path, user: &str, password: &str, sslmode: &str, command: &str) -> (bool, String, String) {
    let conninfo = format!("host=127.0.0.1 port={port} dbname=ilot user={user} sslmode={sslmode} sslrootcert={}", ca.display());
    let out = Command::new("psql")
        .args([&conninfo, "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-c", command])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql (Debian's postgresql-client) is installed");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_and_psycopg_query_the_postgresql_endpoint_read_only_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
    let (ca, pg) = (dir.path().join("ca.pem"), free_port());
    let prefix = unique("pg");
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::Embedded(free_port()), &prefix);
    (spec.http_token, spec.http_admin_token) = (Some(READER.into()), Some(ADMIN.into()));
    let max_rows = 500;
    spec.extra_toml = format!(
        "[postgres]\nenabled = true\nlisten = \"127.0.0.1:{pg}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\nmax_connections = 4\n\n\
         [query]\nmemory_limit_mib = 16\ntimeout_s = 2\nmax_result_rows = {max_rows}\n",
        dir.path().join("server.pem").display(),
        dir.path().join("server.key").display()
    );
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let line = svc.wait_line("  PostgreSQL", Duration::from_secs(5));
    assert!(line.contains("TLS required"), "{line}");

    let (sensors, per_sensor) = (3, 12);
    let fleet = fleet(&prefix, "toulouse", sensors, per_sensor);
    let rows = (sensors as u64 * per_sensor) as i64;
    publish(&target(spec.broker.port(), &unique("pub-")), fleet.messages(), 0.0, None).await.unwrap();
    svc.wait_for("SELECT count(*) AS n FROM readings", rows, Duration::from_secs(30)).await;
    let sensor = svc.sql("SELECT min(sensor_id) AS s FROM readings").await.unwrap()[0]["s"].as_str().unwrap().to_owned();

    // psql: the catalog commands, a query, Grafana's multi-statement shape.
    let (ok, out, err) = psql(pg, &ca, "reader", READER, "verify-full", "SELECT count(*) AS n FROM readings");
    assert!(ok && out.contains(&format!(" {rows}\n")), "{out}{err}");
    let (ok, out, err) = psql(pg, &ca, "reader", READER, "verify-full", "\\dt");
    assert!(ok && out.contains("readings") && out.contains("sensors"), "\\dt: {out}{err}");
    let (ok, out, err) = psql(pg, &ca, "reader", READER, "verify-full", "\\d");
    assert!(ok && out.contains("readings") && out.contains("uhi_nightly"), "\\d: {out}{err}");
    let (ok, out, err) = psql(pg, &ca, "reader", READER, "verify-full", "\\d+ readings");
    assert!(ok && out.contains("temperature_c") && out.contains("sensor_id"), "\\d+ readings: {out}{err}");
    let (ok, out, err) = psql(pg, &ca, "reader", READER, "verify-full", "SET TIMEZONE='UTC'; SELECT count(*) AS n FROM readings");
    assert!(ok && out.contains(&format!(" {rows}\n")), "multi-statement: {out}{err}");

    // Refusals, as psql shows them.
    for (sql, words) in [
        ("INSERT INTO readings (sensor_id) VALUES ('x')", "only read-only queries are allowed here, not INSERT"),
        ("CREATE TABLE t (a INT)", "only read-only queries are allowed here, not CREATE TABLE"),
        ("COPY readings TO '/tmp/ilot-psql-escape.csv'", "only read-only queries are allowed here, not COPY"),
    ] {
        let (ok, out, err) = psql(pg, &ca, "reader", READER, "verify-full", sql);
        assert!(!ok && err.contains(words), "{sql}: {out}{err}");
    }
    let (ok, _, err) = psql(pg, &ca, "reader", "wrong", "verify-full", "SELECT 1");
    assert!(!ok && err.contains("password authentication failed for user \"reader\""), "{err}");
    let (ok, _, err) = psql(pg, &ca, "reader", READER, "disable", "SELECT 1");
    assert!(!ok && err.contains("this server requires TLS"), "{err}");

    // psycopg 3: parameters, binary results, prepared statements, limits, the connection limit.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/postgres_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", pg.to_string())
        .env("ILOT_CA", &ca)
        .env("ILOT_READER_PASSWORD", READER)
        .env("ILOT_ADMIN_PASSWORD", ADMIN)
        .env("ILOT_ROWS", rows.to_string())
        .env("ILOT_PER_SENSOR", per_sensor.to_string())
        .env("ILOT_SENSOR", &sensor)
        .env("ILOT_MAX_ROWS", max_rows.to_string())
        .env("ILOT_MAX_CONNECTIONS", "4")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("all checks passed"), "psycopg:\n{stdout}\n{stderr}");
    assert_eq!(svc.health().await.0, 200, "still healthy after all that");
}

/// A client that takes part of a result and then goes silent (a suspended portal), or stops
/// reading a large one, would hold its share of the query memory pool: the connection is closed
/// after `postgres.unread_result_timeout_s`, and others are still served
/// (`support/postgres_unread.py` speaks the protocol by hand: libpq cannot do either).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_left_unread_ends_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let pg = free_port();
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::Embedded(free_port()), &unique("unread"));
    spec.extra_toml = format!("[postgres]\nenabled = true\nlisten = \"127.0.0.1:{pg}\"\nunread_result_timeout_s = 2\n");
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/postgres_unread.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3").arg(&script).env("PGHOST", "127.0.0.1").env("PGPORT", pg.to_string()).env("ILOT_UNREAD_TIMEOUT_S", "2").output().unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("all checks passed"), "unread results:\n{stdout}\n{stderr}");
    println!("{stdout}");
    assert_eq!(svc.metric("ilot_postgres_sessions_ended_total", "unread_result").await, 2.0, "both counted");
}
