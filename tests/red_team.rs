//! Nothing an analyst sends can stop the intake. A running `ilot serve` (256 MiB query pool,
//! 5 s time limit) takes the red-team corpus over HTTP — expressions 10,000 terms deep, memory
//! bombs, time bombs, four at a time — and `ilot sql` takes the deep ones too, while a QoS 1
//! stream goes through a private Mosquitto with the shipped settings. Every query ends within
//! twice its time limit with a clear error and lets go of its query thread, the service survives, the stream is acknowledged
//! at its pace and stored whole, and the peak RSS stays within the documented budget + 25 %.

mod support;

use std::time::{Duration, Instant};
use support::*;

const TIMEOUT_S: u64 = 5;
const MEMORY_LIMIT_MIB: u64 = 256;
const MAX_CONCURRENT: u64 = 4;

fn chain(n: usize, term: &str, op: &str) -> String {
    vec![term; n].join(op)
}

/// The corpus: (name, SQL). Each must fail with a clear error, not succeed, hang or crash.
fn corpus() -> Vec<(&'static str, String)> {
    vec![
        ("10,000 additions", format!("SELECT {}", chain(10_000, "1", "+"))),
        ("10,000 ORs", format!("SELECT 1 WHERE {}", chain(10_000, "1 = 1", " OR "))),
        ("10,000 concatenations", format!("SELECT {}", chain(10_000, "'a'", " || "))),
        ("5,000 UNION ALL", chain(5_000, "SELECT 1", " UNION ALL ")),
        ("10,000 parentheses", format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000))),
        ("unnest(range(1e9))", "SELECT count(*) FROM (SELECT unnest(range(1000000000)))".into()),
        ("unnest(range(2e8))", "SELECT sum(x) FROM (SELECT unnest(range(200000000)) AS x)".into()),
        ("array_repeat(1, 3e8)", "SELECT cardinality(array_repeat(1, 300000000))".into()),
        ("window sort over 2e8 rows", "SELECT max(r) FROM (SELECT row_number() OVER (ORDER BY random()) AS r FROM range(200000000))".into()),
        ("repeat('x', 1e9)", "SELECT length(repeat('x', 1000000000))".into()),
        ("string growth by ||", "SELECT length(v || v || v || v || v || v || v || v) FROM (SELECT repeat('x', 60000000) AS v)".into()),
        ("regexp over 400 MB", "SELECT length(regexp_replace(repeat('ab', 200000000), 'a', 'c', 'g'))".into()),
        ("count(*) over 1e11 rows", "SELECT count(*) FROM range(100000000000)".into()),
        ("regexp over every row", "SELECT count(regexp_replace(repeat('ab', 4000), 'a', 'c', 'g')) FROM range(100000000000)".into()),
        ("endless recursion", "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t".into()),
        ("cross join", "SELECT count(*) FROM range(1000000) a, range(1000000) b".into()),
        ("window sort with a column", "SELECT max(r + x) FROM (SELECT row_number() OVER (ORDER BY random()) AS r, x FROM range(200000000) AS t(x))".into()),
        ("big group by", "SELECT x % 50000000, count(*) FROM range(200000000) AS t(x) GROUP BY 1 ORDER BY 2 DESC LIMIT 1".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_red_team_corpus_cannot_hurt_the_intake() {
    let dir = tempfile::tempdir().unwrap();
    let mosquitto = Mosquitto::start(&dir.path().join("broker"));
    let prefix = unique("red");
    let token = "red-team-token";
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::External(mosquitto.port), &prefix);
    spec.http_token = Some(token.into());
    // No per-client rate limit: the corpus is one client, and each of its queries must reach the engine.
    spec.extra_toml = format!(
        "[query]\nmemory_limit_mib = {MEMORY_LIMIT_MIB}\ntimeout_s = {TIMEOUT_S}\nmax_concurrent = {MAX_CONCURRENT}\nper_client_per_minute = 0\n"
    );
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;

    // 24,000 readings at 800 messages/s: 30 s of stream.
    let (sensors, per_sensor, rate) = (80usize, 300u64, 800.0);
    let stream = fleet(&prefix, "metz", sensors, per_sensor);
    let port = mosquitto.port;
    let paced_s = (sensors as f64 * per_sensor as f64) / rate;
    let publisher = tokio::spawn(async move {
        let started = Instant::now();
        let stats = publish(&target(port, &unique("pub-")), stream.messages(), rate * 300.0 / sensors as f64, None).await;
        (stats, started.elapsed())
    });

    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    for group in corpus().chunks(MAX_CONCURRENT as usize) {
        let runs = group.iter().map(|(name, sql)| {
            let (client, base, sql) = (client.clone(), svc.base(), sql.clone());
            async move {
                let started = Instant::now();
                let r = client.post(format!("{base}/api/sql")).bearer_auth(token).body(sql).send().await.expect("the service answers");
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                (*name, status, body, started.elapsed())
            }
        });
        for (name, status, body, took) in futures::future::join_all(runs).await {
            let clear = body.contains("\"error\"") && body.contains("\"message\"");
            if !(matches!(status, 400 | 413 | 504) && clear && took <= Duration::from_secs(2 * TIMEOUT_S)) {
                failures.push(format!("{name}: {status} after {took:?}: {}", &body[..body.len().min(300)]));
            }
        }
        let (status, body) = svc.health().await;
        assert_eq!(status, 200, "healthy after {:?}: {body}", group.iter().map(|g| g.0).collect::<Vec<_>>());
        // The cancelled queries let go of the query threads: the next one answers within its limit.
        let answer = svc.sql("SELECT count(*) AS n FROM range(3)").await;
        assert!(answer.is_ok(), "a short query after {:?}: {answer:?}", group.iter().map(|g| g.0).collect::<Vec<_>>());
    }
    assert!(failures.is_empty(), "queries without a clear, timely error:\n{}", failures.join("\n"));

    // The command line takes the deep ones (from a file: far beyond an argument's length).
    let config = svc.config_file.to_str().unwrap().to_owned();
    for (name, sql) in corpus().into_iter().take(5) {
        let file = dir.path().join("deep.sql");
        std::fs::write(&file, &sql).unwrap();
        let out = std::process::Command::new(ilot_bin()).args(["--config", &config, "sql", "-f", file.to_str().unwrap()]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: ilot sql exits with an error, not a signal: {stderr}");
        assert!(stderr.contains("nests") || stderr.contains("UNION"), "{name}: {stderr}");
    }

    let (stats, took) = publisher.await.unwrap();
    let stats = stats.unwrap();
    let total = (sensors as u64) * per_sensor;
    assert_eq!(stats.acked, total, "every reading acknowledged");
    assert!(took.as_secs_f64() < paced_s * 1.5, "acknowledged at the stream's pace: {took:?} for {paced_s} s of stream");
    svc.wait_for("SELECT count(*) FROM readings", total as i64, Duration::from_secs(30)).await;
    assert_eq!(svc.health().await.0, 200);

    // README, "Memory": the process keeps to query.process_memory_mib (memory_limit_mib + 512 by default).
    let budget = MEMORY_LIMIT_MIB + 512;
    let peak = peak_rss_mib(svc.child.id());
    eprintln!("red team: peak RSS {peak:.0} MiB, budget {budget} MiB, stream {took:?} for {paced_s} s paced");
    assert!(peak <= budget as f64 * 1.25, "peak RSS {peak:.0} MiB over the budget {budget} MiB + 25 %");
}
