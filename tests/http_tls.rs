//! HTTPS on the HTTP listener (`http.tls_cert_file`, `http.tls_key_file`): `ilot serve` with a
//! test CA's certificate serves the dashboard and the API over TLS only; a client that does not
//! trust the certificate, and plain HTTP, get nothing; a key that cannot load stops the start
//! with its file named (never a plaintext fallback).

mod support;

use std::time::Duration;
use support::*;

const READER: &str = "https-reader-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_listener_speaks_tls_only_and_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::Embedded(free_port()), &unique("https"));
    spec.http_token = Some(READER.into());
    spec.http_extra = format!("tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n", dir.path().join("server.pem").display(), dir.path().join("server.key").display());
    let svc = Service::start(&spec);
    let base = format!("https://{}", svc.http);
    assert!(svc.stdout.lock().unwrap().iter().any(|l| l.contains(&format!("Dashboard        {base}/"))), "the printed address says https");

    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.path().join("ca.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder().add_root_certificate(ca).timeout(Duration::from_secs(10)).build().unwrap();
    let page = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("content-security-policy"), "the dashboard page is served with its policy");
    let (open, with_token) = (
        client.get(format!("{base}/api/networks")).send().await.unwrap().status(),
        client.get(format!("{base}/api/networks")).bearer_auth(READER).send().await.unwrap().status(),
    );
    assert_eq!((open.as_u16(), with_token.as_u16()), (401, 200), "the reader token over TLS");
    assert_eq!(client.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);

    let untrusting = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    assert!(untrusting.get(format!("{base}/healthz")).send().await.is_err(), "a client that does not trust the certificate gets nothing");
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let answer = plain.get(format!("http://{}/healthz", svc.http)).send().await;
    assert!(answer.is_err() || !answer.unwrap().status().is_success(), "plain HTTP is not served");

    // A key that cannot load: the start fails, naming it.
    std::fs::write(dir.path().join("broken.key"), "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n").unwrap();
    let mut broken = ServiceSpec::new(&dir.path().join("data-2"), Broker::Embedded(free_port()), &unique("https"));
    broken.http_token = Some(READER.into());
    broken.http_extra = format!("tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n", dir.path().join("server.pem").display(), dir.path().join("broken.key").display());
    let config = dir.path().join("broken.toml");
    std::fs::write(&config, broken.toml()).unwrap();
    let err = try_ilot_cli(&config, &["serve"]).unwrap_err();
    assert!(err.contains("http.tls_cert_file / tls_key_file") && err.contains("broken.key"), "{err}");
}
