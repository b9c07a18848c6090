//! `publish`: send a message stream to an MQTT broker with QoS 1, paced on simulated time, and
//! return once the broker has acknowledged every message.
//!
//! The producer (this function) awaits `AsyncClient::publish`, whose bounded request channel
//! applies backpressure; a separate task ([`crate::connection`]) polls the event loop.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, MqttOptions, NetworkOptions, QoS, valid_topic};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::connection::{Acks, Driver};
use crate::{MessageKind, SimError, SimMessage};

/// Largest outgoing packet: a two-week backlog array fits.
const MAX_OUTGOING_PACKET: usize = 1 << 20;
/// Incoming packets are acknowledgements only.
const MAX_INCOMING_PACKET: usize = 64 << 10;
const CONNECT_TIMEOUT_S: u64 = 5;
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How long a clean DISCONNECT may take once everything is acknowledged.
const DISCONNECT_GRACE: Duration = Duration::from_secs(5);

/// Broker and session settings of the publisher.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttTarget {
    pub host: String,
    pub port: u16,
    /// Stable id: the broker keeps the session (and in-flight messages) under it. Two publishers
    /// running at once need different ids, or the broker disconnects one for the other.
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Publishes awaiting their PUBACK at most (at least 1).
    pub max_inflight: u16,
    /// MQTT keep-alive (0, or at least one second).
    pub keep_alive: Duration,
    /// Give up when the broker has been unreachable this long without interruption.
    pub reconnect_deadline: Duration,
}

impl Default for MqttTarget {
    fn default() -> MqttTarget {
        MqttTarget {
            host: "127.0.0.1".to_owned(),
            port: 1883,
            client_id: "ilot-firmware-sim".to_owned(),
            username: None,
            password: None,
            max_inflight: 1000,
            keep_alive: Duration::from_secs(15),
            reconnect_deadline: Duration::from_secs(60),
        }
    }
}

impl MqttTarget {
    fn options(&self) -> Result<MqttOptions, SimError> {
        if self.client_id.is_empty() {
            return Err(SimError::invalid(
                "client_id",
                "a persistent session needs a client id",
            ));
        }
        if self.max_inflight == 0 {
            return Err(SimError::invalid("max_inflight", "must be at least 1"));
        }
        if !self.keep_alive.is_zero() && self.keep_alive < Duration::from_secs(1) {
            return Err(SimError::invalid("keep_alive", "0 or at least one second"));
        }
        let mut options = MqttOptions::new(&self.client_id, &self.host, self.port);
        options
            .set_clean_session(false)
            .set_inflight(self.max_inflight)
            .set_keep_alive(self.keep_alive)
            .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET);
        if let Some(username) = &self.username {
            options.set_credentials(username, self.password.clone().unwrap_or_default());
        }
        Ok(options)
    }
}

/// Counters of a publishing run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishStats {
    /// Messages handed to the MQTT client.
    pub published: u64,
    /// Messages acknowledged by the broker (PUBACK).
    pub acked: u64,
    /// Valid readings carried, duplicates not counted (a backlog of n counts n).
    pub readings: u64,
    pub duplicates: u64,
    pub malformed: u64,
    /// Successful reconnections after a lost connection.
    pub reconnects: u64,
    /// Publishes sent again after a reconnection because the broker had lost the session
    /// (already counted in `published`; the broker may receive them twice).
    pub resent: u64,
    /// Simulated time of the last message handed to the client.
    pub last_sim_time: Option<DateTime<Utc>>,
    pub elapsed: Duration,
}

/// Publish every message with QoS 1 (not retained), paced so that `acceleration` simulated
/// seconds pass per wall-clock second (0 or infinity: as fast as the broker acknowledges), and
/// return once every publish has been acknowledged. Survives broker restarts, including ones
/// that lose the session (unacknowledged publishes are sent again), as long as no outage lasts
/// longer than `target.reconnect_deadline`. `progress` is called about once a second and at the
/// end. Dropping the future stops publishing and closes the connection.
pub async fn publish(
    target: &MqttTarget,
    messages: impl Iterator<Item = SimMessage> + Send,
    acceleration: f64,
    progress: Option<&(dyn Fn(&PublishStats) + Sync)>,
) -> Result<PublishStats, SimError> {
    if acceleration.is_nan() || acceleration < 0.0 {
        return Err(SimError::invalid(
            "acceleration",
            "must be ≥ 0 (0 or infinity: as fast as possible)",
        ));
    }
    let (client, mut eventloop) =
        AsyncClient::new(target.options()?, usize::from(target.max_inflight));
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network.set_connection_timeout(CONNECT_TIMEOUT_S);
    eventloop.set_network_options(network);
    let (acks_tx, mut acks) = watch::channel(Acks::default());
    let driver = Driver {
        host: target.host.clone(),
        port: target.port,
        reconnect_deadline: target.reconnect_deadline,
    };
    let mut driver = DriverTask(tokio::spawn(driver.run(eventloop, acks_tx)));

    let started = Instant::now();
    let mut pace = Pace::new(acceleration);
    let mut stats = PublishStats::default();
    let mut last_report = started;
    let report = |stats: &mut PublishStats, acks: &watch::Receiver<Acks>| {
        let observed = *acks.borrow();
        stats.acked = observed.acked;
        stats.reconnects = observed.reconnects;
        stats.resent = observed.resent;
        stats.elapsed = started.elapsed();
        if let Some(progress) = progress {
            progress(stats);
        }
    };

    for message in messages {
        let (kind, sim_time) = (message.kind, message.sim_time);
        if !valid_topic(&message.topic) {
            return Err(SimError::InvalidTopic(message.topic));
        }
        let send = async {
            pace.wait_for(sim_time).await;
            client
                .publish(message.topic, QoS::AtLeastOnce, false, message.payload)
                .await
        };
        tokio::select! {
            biased;
            sent = send => if sent.is_err() {
                return Err(failure((&mut driver.0).await));
            },
            outcome = &mut driver.0 => return Err(failure(outcome)),
        }
        stats.published += 1;
        stats.last_sim_time = Some(sim_time);
        match kind {
            MessageKind::Reading => stats.readings += 1,
            MessageKind::Backlog(n) => stats.readings += u64::from(n),
            MessageKind::Duplicate => stats.duplicates += 1,
            MessageKind::Malformed(_) => stats.malformed += 1,
        }
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            report(&mut stats, &acks);
        }
    }

    let published = stats.published;
    loop {
        tokio::select! {
            all = async { acks.wait_for(|acks| acks.acked >= published).await.map(drop) } => match all {
                Ok(_) => break,
                Err(_) => return Err(failure((&mut driver.0).await)),
            },
            outcome = &mut driver.0 => return Err(failure(outcome)),
            () = tokio::time::sleep(PROGRESS_EVERY) => report(&mut stats, &acks),
        }
    }
    // Everything is acknowledged: whether the DISCONNECT gets through changes nothing.
    if client.disconnect().await.is_ok() {
        let _ = tokio::time::timeout(DISCONNECT_GRACE, &mut driver.0).await;
    }
    report(&mut stats, &acks);
    Ok(stats)
}

/// The event-loop task, aborted when `publish` returns or its future is dropped (the event loop
/// would otherwise keep its connection, and itself, alive).
struct DriverTask(JoinHandle<Result<(), SimError>>);

impl Drop for DriverTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The error that stopped the event-loop task.
fn failure(outcome: Result<Result<(), SimError>, tokio::task::JoinError>) -> SimError {
    match outcome {
        Ok(Err(error)) => error,
        Ok(Ok(())) => SimError::EventLoopStopped,
        Err(join) => SimError::EventLoopPanicked(join.to_string()),
    }
}

/// Maps simulated time to wall-clock time from the first message on.
struct Pace {
    /// Simulated seconds per wall second; `None`: no waiting.
    speed: Option<f64>,
    origin: Option<(Instant, DateTime<Utc>)>,
}

impl Pace {
    fn new(acceleration: f64) -> Pace {
        let speed = (acceleration > 0.0 && acceleration.is_finite()).then_some(acceleration);
        Pace {
            speed,
            origin: None,
        }
    }

    async fn wait_for(&mut self, sim_time: DateTime<Utc>) {
        let Some(speed) = self.speed else { return };
        let (wall_origin, sim_origin) = *self
            .origin
            .get_or_insert_with(|| (Instant::now(), sim_time));
        let ahead_s = (sim_time - sim_origin).as_seconds_f64() / speed;
        if ahead_s > 0.0 {
            match Duration::try_from_secs_f64(ahead_s)
                .ok()
                .and_then(|ahead| wall_origin.checked_add(ahead))
            {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                // Further than a clock can say: that time never comes.
                None => std::future::pending().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Anomalies, MessageKind};

    fn message(topic: &str) -> SimMessage {
        SimMessage {
            topic: topic.to_owned(),
            payload: b"{}".to_vec(),
            sim_time: Utc::now(),
            kind: MessageKind::Reading,
            anomalies: Anomalies::default(),
        }
    }

    #[tokio::test]
    async fn rejects_bad_settings_and_topics_before_waiting_on_a_broker() {
        // Port 9 (discard) is not an MQTT broker: nothing here may wait for one.
        let target = MqttTarget {
            port: 9,
            ..MqttTarget::default()
        };
        let bad_topic = publish(
            &target,
            [message("ilot/+/x/reading")].into_iter(),
            0.0,
            None,
        );
        assert!(matches!(bad_topic.await, Err(SimError::InvalidTopic(_))));
        let no_id = MqttTarget {
            client_id: String::new(),
            ..target.clone()
        };
        assert!(
            publish(&no_id, std::iter::empty(), 0.0, None)
                .await
                .is_err()
        );
        let no_window = MqttTarget {
            max_inflight: 0,
            ..target.clone()
        };
        assert!(
            publish(&no_window, std::iter::empty(), 0.0, None)
                .await
                .is_err()
        );
        assert!(
            publish(&target, std::iter::empty(), -1.0, None)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn pace_follows_simulated_time() {
        let t0 = Utc::now();
        let mut pace = Pace::new(1200.0);
        let wall = Instant::now();
        pace.wait_for(t0).await;
        pace.wait_for(t0 + chrono::TimeDelta::minutes(5)).await;
        let paced = wall.elapsed();
        assert!(
            paced >= Duration::from_millis(250) && paced < Duration::from_millis(400),
            "{paced:?}"
        );
        pace.wait_for(t0 + chrono::TimeDelta::minutes(4)).await;
        let mut flat_out = Pace::new(f64::INFINITY);
        flat_out.wait_for(t0).await;
        flat_out.wait_for(t0 + chrono::TimeDelta::days(365)).await;
        assert!(
            wall.elapsed() - paced < Duration::from_millis(50),
            "no waiting for the past nor when unpaced"
        );
    }
}
