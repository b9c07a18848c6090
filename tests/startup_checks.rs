//! A service that cannot work refuses to start, at once and before it creates anything: a
//! configuration breaking a rule (the error names the key) and an HTTP port that cannot be
//! bound (bound before the store, the WAL and the broker are touched).

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Start `ilot serve` with `env` on a data folder that does not exist yet, and a broker URL
/// nothing answers on: it must exit with an error within a few seconds, having created nothing.
/// Its stderr.
fn refused_start(env: &[(&str, String)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut command = Command::new(ilot_bin());
    command
        .arg("serve")
        .current_dir(dir.path())
        .env("ILOT_STORAGE__DATA_DIR", &data_dir)
        .env("ILOT_MQTT__URL", format!("mqtt://127.0.0.1:{}", free_port()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn ilot serve");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ilot serve with {env:?} still runs after 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!status.success(), "{env:?}: {stderr}");
    assert!(!data_dir.exists(), "{env:?}: nothing may be created before the checks: {:?}", list(&data_dir));
    stderr
}

fn list(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

#[test]
fn an_unprotected_public_listener_is_refused_before_anything_starts() {
    let listen = format!("0.0.0.0:{}", free_port());
    let stderr = refused_start(&[("ILOT_HTTP__LISTEN", listen.clone())]);
    assert!(stderr.contains(&format!("http.token: required when http.listen ({listen}) is not a loopback address")), "{stderr}");

    // `ILOT_HTTP__TOKEN=`: a public listener that would refuse everyone.
    let stderr = refused_start(&[("ILOT_HTTP__LISTEN", listen), ("ILOT_HTTP__TOKEN", String::new())]);
    assert!(stderr.contains("http.token: empty"), "{stderr}");

    let stderr = refused_start(&[("ILOT_QUERY__TIMEOUT_S", "0".into())]);
    assert!(stderr.contains("query.timeout_s: must be at least 1"), "{stderr}");
}

#[test]
fn a_taken_http_port_is_named_before_anything_starts() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let stderr = refused_start(&[("ILOT_HTTP__LISTEN", addr.to_string())]);
    assert!(stderr.contains(&format!("{addr} is already in use: another ilot or another program listens there")), "{stderr}");
    assert!(stderr.contains("set another address in http.listen") && stderr.matches("in use").count() == 1, "{stderr}");
}
