//! The analyst SQL surface: read-only, bounded in memory and time, authenticated, in JSON,
//! CSV and Arrow.

mod support;

use std::time::Duration;
use support::*;

async fn post(svc: &Service, sql: &str, query: &str, token: Option<&str>) -> (u16, String, String) {
    let mut req = reqwest::Client::new().post(format!("{}/api/sql{query}", svc.base())).body(sql.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, ctype, r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_sql_is_read_only_bounded_and_authenticated() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("t");
    let mut spec = ServiceSpec::new(dir.path(), Broker::Embedded(free_port()), &prefix);
    spec.extra_toml = "[query]\nmemory_limit_mib = 16\ntimeout_s = 2\nmax_result_rows = 5\n".into();
    let token = "s3cret-token";
    spec.http_token = Some(token.into());
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;

    let auth = Some(token);
    assert_eq!(post(&svc, "SELECT 1", "", None).await.0, 401, "no token, no SQL");
    assert_eq!(post(&svc, "SELECT 1", "", Some("wrong")).await.0, 401);
    let (status, ctype, body) = post(&svc, "SELECT 1 AS one", "", auth).await;
    assert_eq!((status, ctype.as_str(), body.as_str()), (200, "application/json", r#"[{"one":1}]"#));
    let (_, ctype, body) = post(&svc, "SELECT 1 AS one, 'a' AS b", "?format=csv", auth).await;
    assert_eq!((ctype.as_str(), body.as_str()), ("text/csv; charset=utf-8", "one,b\n1,a\n"));
    let (_, ctype, _) = post(&svc, "SELECT 1", "?format=arrow", auth).await;
    assert_eq!(ctype, "application/vnd.apache.arrow.stream");

    for refused in [
        "CREATE TABLE x AS SELECT 1",
        "CREATE VIEW v AS SELECT 1",
        "DROP TABLE readings",
        "INSERT INTO readings SELECT * FROM readings",
        "COPY (SELECT 1) TO '/tmp/ilot-escape.csv'",
        "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc/passwd'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let (status, _, body) = post(&svc, refused, "", auth).await;
        assert_eq!(status, 400, "{refused}: {body}");
        assert!(body.contains("not_read_only"), "{refused}: {body}");
    }
    assert!(!std::path::Path::new("/tmp/ilot-escape.csv").exists());

    let (status, _, body) = post(&svc, "SELEC count(*) FROM readings", "", auth).await;
    assert_eq!(status, 400);
    assert!(body.contains("\"sql\""), "{body}");
    let (status, _, body) = post(&svc, "SELECT nope FROM readings", "", auth).await;
    assert_eq!(status, 400, "{body}");

    let (status, _, body) = post(&svc, "SELECT value % 1000000 AS k, count(*) FROM generate_series(1, 20000000) GROUP BY 1 ORDER BY 2 DESC", "", auth).await;
    assert_eq!(status, 413, "memory bound: {body}");
    let (status, _, body) = post(&svc, "SELECT count(*) FROM generate_series(1, 100000000000)", "", auth).await;
    assert_eq!(status, 504, "time bound: {body}");

    let r = reqwest::Client::new().post(format!("{}/api/sql", svc.base())).bearer_auth(token).body("SELECT * FROM generate_series(1, 100)").send().await.unwrap();
    assert_eq!(r.headers().get("x-ilot-truncated").unwrap(), "true");
    assert_eq!(r.json::<Vec<serde_json::Value>>().await.unwrap().len(), 5, "results are cut at max_result_rows");
    assert_eq!(svc.health().await.0, 200, "still healthy after all that");

    let page = reqwest::get(format!("{}/", svc.base())).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("<title>ilot"), "the status page is served");
}

#[test]
fn ilot_sql_reads_configuration_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(ilot_bin())
        .args(["sql", "--format", "csv", "SELECT value FROM generate_series(1, 10) ORDER BY value"])
        .env("ILOT_STORAGE__DATA_DIR", dir.path())
        .env("ILOT_QUERY__MAX_RESULT_ROWS", "3")
        .output()
        .unwrap();
    // Cut at 3 rows, so refused in CSV (tests/sql_cli.rs).
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("result cut at 3 rows (query.max_result_rows)"), "{}", String::from_utf8_lossy(&out.stderr));

    let refused = std::process::Command::new(ilot_bin())
        .args(["sql", "DROP TABLE readings"])
        .env("ILOT_STORAGE__DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("only read-only queries"), "{}", String::from_utf8_lossy(&refused.stderr));
}

#[test]
fn ilot_sql_reads_the_query_from_a_file_or_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = std::process::Command::new(ilot_bin())
            .args(["sql", "--format", "csv"])
            .args(args)
            .env("ILOT_STORAGE__DATA_DIR", dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut input, stdin.unwrap_or_default().as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // A leading `--` comment, and more than a command-line argument may hold (128 KiB on Linux).
    let sql = format!("-- the answer\nSELECT 1 AS one\n-- {}\n", "x".repeat(200_000));
    let file = dir.path().join("query.sql");
    std::fs::write(&file, &sql).unwrap();
    let one = (true, "one\n1\n".to_owned());
    for (args, stdin) in [
        (vec!["-f", file.to_str().unwrap()], None),
        (vec!["--file", "-"], Some(sql.as_str())),
        (vec!["-"], Some(sql.as_str())),
        (vec![], Some(sql.as_str())),
        (vec!["--", "-- the answer\nSELECT 1 AS one"], None),
    ] {
        let (ok, stdout, stderr) = run(&args, stdin);
        assert_eq!((ok, stdout), one, "{:?}: {stderr}", &args);
    }
    let (ok, _, stderr) = run(&["-f", dir.path().join("missing.sql").to_str().unwrap()], None);
    assert!(!ok && stderr.contains("reading the query from") && stderr.contains("missing.sql"), "{stderr}");
    let (ok, _, stderr) = run(&[], Some(" \n"));
    assert!(!ok && stderr.contains("the query is empty"), "{stderr}");
    let (ok, _, stderr) = run(&["-f", file.to_str().unwrap(), "SELECT 2"], None);
    assert!(!ok && stderr.contains("cannot be used with"), "a query and a file: {stderr}");
}
