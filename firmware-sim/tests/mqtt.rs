//! Publishing against real Mosquitto brokers: the machine's shared one on 127.0.0.1:1883 (every
//! message must reach a QoS 1 subscriber) and a private one on a free port that is killed and
//! restarted mid-stream (every message must still be acknowledged).
//!
//! Topic prefixes and client ids are unique per run, so parallel runs do not interfere.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{TimeZone, Utc};
use ilot_firmware_sim::{FaultConfig, Fleet, MqttTarget, SimConfig, SimError, SimMessage, publish};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::oneshot;


fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn fleet(prefix: &str, sensors: usize, readings: u64, faults: FaultConfig) -> Fleet {
    Fleet::new(SimConfig {
        sensors,
        readings_per_sensor: Some(readings),
        start: Utc.with_ymd_and_hms(2025, 7, 1, 0, 0, 0).unwrap(),
        topic_prefix: prefix.to_owned(),
        seed: 11,
        faults,
        ..SimConfig::default()
    })
    .unwrap()
}

fn target(port: u16) -> MqttTarget {
    MqttTarget {
        port,
        client_id: unique("ilot-sim-test"),
        ..MqttTarget::default()
    }
}

/// Subscribe to `filter` with QoS 1; once subscribed, collect `count` publishes (topic, payload).
async fn subscriber(
    filter: String,
    count: usize,
) -> tokio::task::JoinHandle<Vec<(String, Vec<u8>)>> {
    let mut options =
        MqttOptions::new(unique("ilot-sim-test-sub"), "127.0.0.1", ilot_firmware_sim::local_broker::ensure_machine_broker());
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    let (subscribed_tx, subscribed) = oneshot::channel();
    let collector = tokio::spawn(async move {
        let _client = client; // dropping it would end the event loop
        let mut subscribed_tx = Some(subscribed_tx);
        let mut received = Vec::with_capacity(count);
        while received.len() < count {
            match eventloop.poll().await.expect("subscriber connection") {
                Event::Incoming(Packet::SubAck(suback)) => {
                    assert_eq!(
                        suback.return_codes,
                        vec![rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)]
                    );
                    if let Some(tx) = subscribed_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Event::Incoming(Packet::Publish(publish)) => {
                    received.push((publish.topic, publish.payload.to_vec()))
                }
                _ => {}
            }
        }
        received
    });
    subscribed.await.expect("subscribed");
    collector
}

fn multiset(
    messages: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> HashMap<(String, Vec<u8>), usize> {
    let mut counts = HashMap::new();
    for message in messages {
        *counts.entry(message).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_reaches_a_qos1_subscriber() {
    let prefix = unique("ilot-test");
    let fleet = fleet(&prefix, 20, 100, FaultConfig::default());
    let expected: Vec<SimMessage> = fleet.messages().collect();
    assert_eq!(expected.len(), 2000);
    let collector = subscriber(format!("{prefix}/#"), expected.len()).await;

    // 100 steps of 5 min in about 2 s: paced, so Mosquitto's default queue limit never drops.
    let stats = publish(
        &target(ilot_firmware_sim::local_broker::ensure_machine_broker()),
        fleet.messages(),
        15_000.0,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (stats.published, stats.acked, stats.readings),
        (2000, 2000, 2000)
    );
    assert!(
        stats.elapsed >= Duration::from_millis(1900) && stats.elapsed < Duration::from_secs(20),
        "{:?}",
        stats.elapsed
    );

    let received = tokio::time::timeout(Duration::from_secs(30), collector)
        .await
        .expect("all messages arrive")
        .unwrap();
    let expected = multiset(expected.into_iter().map(|m| (m.topic, m.payload)));
    assert_eq!(multiset(received), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_fast_as_possible_every_message_is_acknowledged() {
    let faults = FaultConfig {
        duplicate_rate: 0.05,
        malformed_rate: 0.05,
        offline_rate: 0.01,
        ..FaultConfig::default()
    };
    let fleet = fleet(&unique("ilot-test"), 50, 100, faults);
    let count = fleet.messages().count() as u64;
    let reports = std::sync::Mutex::new(Vec::new());
    let progress =
        |stats: &ilot_firmware_sim::PublishStats| reports.lock().unwrap().push(stats.clone());
    let stats = publish(
        &target(ilot_firmware_sim::local_broker::ensure_machine_broker()),
        fleet.messages(),
        f64::INFINITY,
        Some(&progress),
    )
    .await
    .unwrap();
    assert_eq!((stats.published, stats.acked), (count, count));
    assert_eq!(Some(stats.readings), fleet.expected_distinct_readings());
    assert!(stats.duplicates > 0 && stats.malformed > 0);
    assert!(
        stats.elapsed < Duration::from_secs(20),
        "no pacing: {:?}",
        stats.elapsed
    );
    assert_eq!(
        reports.lock().unwrap().last(),
        Some(&stats),
        "the final stats are reported"
    );
}

#[tokio::test]
async fn an_unreachable_broker_is_given_up_after_the_deadline() {
    let port = free_port();
    let target = MqttTarget {
        reconnect_deadline: Duration::from_millis(600),
        ..target(port)
    };
    let fleet = fleet(&unique("ilot-test"), 2, 2, FaultConfig::default());
    let error = publish(&target, fleet.messages(), 0.0, None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SimError::BrokerUnreachable { port: p, .. } if p == port),
        "{error}"
    );
}

/// A Mosquitto of our own, killed (by its pid) when dropped.
struct Broker {
    child: Child,
}

impl Broker {
    fn start(config: &std::path::Path, port: u16) -> Broker {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the mosquitto binary (Debian package `mosquitto`) is needed by this test");
        let broker = Broker { child };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return broker;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("mosquitto did not listen on port {port}");
    }
}

impl Broker {
    /// Send a signal to this broker (by its pid, it is our child).
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_broker_that_freezes_dies_and_restarts_without_its_session() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("mosquitto.conf");
    // No persistence: the restarted broker has forgotten the session and its in-flight messages.
    std::fs::write(
        &config,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let broker = Broker::start(&config, port);

    let fleet = fleet(&unique("ilot-test"), 10, 300, FaultConfig::default());
    let target = target(port);
    // 300 steps of 5 min in about 3 s.
    let publishing = async { publish(&target, fleet.messages(), 30_000.0, None).await };
    let restart = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        // Frozen, the broker stops acknowledging: publishes pile up in flight...
        broker.signal("STOP");
        tokio::time::sleep(Duration::from_millis(700)).await;
        // ...then it dies with them.
        drop(broker);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let config = config.clone();
        tokio::task::spawn_blocking(move || Broker::start(&config, port))
            .await
            .unwrap()
    };
    let (stats, _restarted) = tokio::join!(publishing, restart);
    let stats = stats.unwrap();
    assert_eq!((stats.published, stats.acked), (3000, 3000));
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert!(
        stats.resent > 0,
        "the publishes the broker lost were sent again: {stats:?}"
    );
}
