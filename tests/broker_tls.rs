//! Production-style broker access: TLS (`mqtts://`, our own CA) and a username/password, with
//! a wrong password refused and never leaking into the logs.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_password_to_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("broker");
    std::fs::create_dir_all(&b).unwrap();
    make_certs(&b);
    run(Command::new("mosquitto_passwd").args(["-c", "-b", b.join("passwd").to_str().unwrap(), "ilot", "correct horse"]));
    let (tls_port, plain_port) = (free_port(), free_port());
    let conf = format!(
        "per_listener_settings false\nallow_anonymous false\npassword_file {p}/passwd\nuser root\n\
         max_queued_messages 0\nmax_queued_bytes 1073741824\n\
         listener {tls_port} 127.0.0.1\ncafile {p}/ca.pem\ncertfile {p}/server.pem\nkeyfile {p}/server.key\n\
         listener {plain_port} 127.0.0.1\n",
        p = b.display()
    );
    std::fs::write(b.join("mosquitto.conf"), conf).unwrap();
    let mut broker = Command::new("mosquitto").args(["-c", b.join("mosquitto.conf").to_str().unwrap()]).stderr(Stdio::null()).spawn().unwrap();
    wait_port(tls_port);

    let prefix = unique("t");
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::External(tls_port), &prefix);
    spec.mqtt_extra = format!(
        "username = \"ilot\"\npassword = \"correct horse\"\nca_file = \"{}\"\n",
        b.join("ca.pem").display()
    );
    spec.tls = true;
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;

    let fleet = fleet(&prefix, "paris", 10, 20);
    let mut t = target(plain_port, &unique("pub-"));
    t.username = Some("ilot".into());
    t.password = Some("correct horse".into());
    publish(&t, fleet.messages(), 0.0, None).await.unwrap();
    svc.wait_for("SELECT count(*) FROM readings", 200, Duration::from_secs(30)).await;

    // A wrong password: the service stays up, reports the broker as unreachable, logs no secret.
    let prefix2 = unique("t");
    let mut bad = ServiceSpec::new(&dir.path().join("data2"), Broker::External(tls_port), &prefix2);
    bad.tls = true;
    bad.mqtt_extra = format!("username = \"ilot\"\npassword = \"wrong-secret\"\nca_file = \"{}\"\n", b.join("ca.pem").display());
    let bad_svc = Service::start(&bad);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, body) = bad_svc.health().await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.to_string().contains("wrong-secret"));
    let _ = broker.kill();
    let _ = broker.wait();
}
