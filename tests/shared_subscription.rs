//! Two `ilot serve` processes on one shared subscription split the stream: every reading is
//! stored exactly once overall, and both take a share.

mod support;

use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_on_one_shared_subscription_store_each_reading_once() {
    let dir = tempfile::tempdir().unwrap();
    let mosquitto = Mosquitto::start(&dir.path().join("broker"));
    let prefix = unique("t");
    let data = dir.path().join("data");
    let group = unique("g");
    let mut specs = Vec::new();
    for i in 0..2 {
        let mut s = ServiceSpec::new(&data, Broker::External(mosquitto.port), &prefix);
        s.shared_group = Some(group.clone());
        s.writer_id = Some(format!("writer-{i}"));
        specs.push(s);
    }
    let mut a = Service::start(&specs[0]);
    let mut b = Service::start(&specs[1]);
    a.wait_healthy(Duration::from_secs(30)).await;
    b.wait_healthy(Duration::from_secs(30)).await;

    let fleet = fleet(&prefix, "rennes", 100, 60);
    let stats = publish(&target(mosquitto.port, &unique("pub-")), fleet.messages(), 0.0, None).await.unwrap();
    assert_eq!(stats.acked, 6_000);

    // Each service stores its share, and shows the whole stream: its own rows, plus the other
    // writer's once persisted (the other manifests are reloaded every storage.peer_refresh_s).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (mut na, mut nb) = (0, 0);
    while std::time::Instant::now() < deadline {
        na = a.count("SELECT count(*) FROM readings").await;
        nb = b.count("SELECT count(*) FROM readings").await;
        if na == 6_000 && nb == 6_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!((na, nb), (6_000, 6_000), "both services show every reading once");
    let writers: std::collections::BTreeSet<String> = walk(&data.join("readings"))
        .iter()
        .filter_map(|p| p.file_name()?.to_str()?.split('-').take(2).collect::<Vec<_>>().join("-").into())
        .collect();
    assert_eq!(writers.into_iter().collect::<Vec<_>>(), ["writer-0", "writer-1"], "both services took a share");

    // The whole deployment, read offline from the shared storage: every writer's files and WALs.
    a.stop();
    b.stop();
    let out = std::process::Command::new(ilot_bin())
        .args(["--config", a.config_file.to_str().unwrap(), "sql", "--format", "csv", "SELECT count(*) AS n, count(DISTINCT sensor_id || CAST(ts AS VARCHAR)) AS d FROM readings"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "n,d\n6000,6000");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
