//! Delivery against a real HTTP receiver on loopback, its signatures checked by the
//! `standardwebhooks` crate (an independent implementation).

use super::*;
use crate::alert_store::{AreaUpdate, PublishedEvent};
use crate::level::Level;
use crate::lifecycle::{AlertEvent, AreaState, Change, Observation, Trend};
use crate::signature::WebhookSecret;
use axum::http::{HeaderMap, StatusCode};
use std::sync::Mutex;

/// What the receiver answers next (then 200 once the script is spent), and what it received.
#[derive(Default)]
struct Receiver {
    script: Mutex<Vec<(StatusCode, Vec<(&'static str, String)>)>>,
    received: Mutex<Vec<(HeaderMap, String)>>,
}

async fn start_receiver(receiver: Arc<Receiver>) -> String {
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|axum::extract::State(r): axum::extract::State<Arc<Receiver>>, headers: HeaderMap, body: String| async move {
                r.received.lock().unwrap().push((headers, body));
                let (status, extra) = { r.script.lock().unwrap().pop() }.unwrap_or((StatusCode::OK, vec![]));
                let mut response = axum::response::Response::builder().status(status);
                for (name, value) in extra {
                    response = response.header(name, value);
                }
                response.body(axum::body::Body::empty()).unwrap()
            }),
        )
        // Followed, a redirect would end here, and the outcome would say 418, not "redirect".
        .route("/elsewhere", axum::routing::post(|| async { StatusCode::IM_A_TEAPOT }))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hook")
}

fn loopback_config(schedule: Vec<u64>) -> DeliveryConfig {
    DeliveryConfig {
        timeout_s: 5,
        retry_schedule_s: RetrySchedule(schedule),
        allow_http: true,
        allowed_networks: vec!["127.0.0.0/8".parse().unwrap()],
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<AlertStore>,
    secret: String,
    subscription: Subscription,
}

fn fixture(url: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(AlertStore::open(&dir.path().join("alerts.sqlite")).unwrap());
    let secret = WebhookSecret::generate();
    let subscription = Subscription {
        id: "sub_test".into(),
        url: url.parse().unwrap(),
        rules: vec![],
        areas: vec![],
        min_level: Level::Yellow,
        secret: secret.clone(),
        disabled: None,
    };
    store.put_subscription(&subscription).unwrap();
    Fixture { _dir: dir, store, secret: secret.expose(), subscription }
}

/// Queue events 1..=n of one alert.
fn queue(store: &AlertStore, n: u64) {
    for seq in 1..=n {
        let observation = Observation { period: None, raise_level: Level::Yellow, hold_level: Level::Yellow, value: None, evidence: serde_json::Value::Null, members: None };
        let now = Utc::now();
        let change = if seq == 1 { Change::Raised } else { Change::Updated { reasons: vec![] } };
        let event = AlertEvent {
            alert_id: "alr_1".into(),
            seq,
            change,
            level: Level::Yellow,
            previous_level: Level::Green,
            onset: now,
            issued: now,
            expires: now,
            trend: Trend::Sustained,
            observation,
        };
        let payload = format!(r#"{{"type":"heat.alert.test","data":{{"sequence":{seq}}}}}"#);
        let published = PublishedEvent { event, event_type: "heat.alert.test".into(), payload };
        // The store keeps whatever state it is given; quiet keeps this test about the outbox.
        store.commit("heat", &[AreaUpdate { area: "a".into(), state: AreaState::Quiet, event: Some(published) }], Some(now)).unwrap();
    }
}

fn verify(secret: &str, headers: &HeaderMap, body: &str) -> Result<(), standardwebhooks::WebhookError> {
    standardwebhooks::Webhook::new(secret).unwrap().verify(body.as_bytes(), headers)
}

#[tokio::test]
async fn every_delivery_verifies_with_standardwebhooks_and_a_tampered_one_does_not() {
    let receiver = Arc::new(Receiver::default());
    let url = start_receiver(receiver.clone()).await;
    let f = fixture(&url);
    queue(&f.store, 1);
    let deliverer = Deliverer::new(f.store.clone(), loopback_config(vec![1]), watch::channel(()).1).unwrap();
    let delivery = f.store.next_delivery("sub_test").unwrap().unwrap();
    assert_eq!(deliverer.attempt(&f.subscription, &delivery, Utc::now()).await, Outcome::Delivered);
    let (headers, body) = receiver.received.lock().unwrap()[0].clone();
    assert_eq!(headers["webhook-id"], "alr_1.1");
    assert_eq!(headers["content-type"], "application/json");
    verify(&f.secret, &headers, &body).expect("the standardwebhooks crate accepts the signature");
    assert!(verify(&f.secret, &headers, &body.replace("1", "2")).is_err(), "a tampered body is refused");
    // A stale timestamp (signed ten minutes ago) is refused by the receiver's library.
    let stale = deliverer.attempt(&f.subscription, &delivery, Utc::now() - chrono::Duration::minutes(10)).await;
    assert_eq!(stale, Outcome::Delivered, "the endpoint answered 200");
    let (headers, body) = receiver.received.lock().unwrap()[1].clone();
    assert!(verify(&f.secret, &headers, &body).is_err());
}

#[tokio::test]
async fn failures_retry_with_the_same_id_honour_retry_after_and_end_as_dead_letters() {
    let receiver = Arc::new(Receiver::default());
    let url = start_receiver(receiver.clone()).await;
    let f = fixture(&url);
    queue(&f.store, 1);
    let deliverer = Deliverer::new(f.store.clone(), loopback_config(vec![1, 1]), watch::channel(()).1).unwrap();
    // 503 asking for 2 minutes: the retry waits for them, not for the schedule's second.
    receiver.script.lock().unwrap().push((StatusCode::SERVICE_UNAVAILABLE, vec![("retry-after", "120".into())]));
    let delivery = f.store.next_delivery("sub_test").unwrap().unwrap();
    let now = Utc::now();
    let outcome = deliverer.attempt(&f.subscription, &delivery, now).await;
    assert_eq!(outcome, Outcome::Failed { error: "HTTP 503 Service Unavailable".into(), retry_after_s: Some(120) });
    assert!(deliverer.record(&f.subscription, &delivery, outcome, now).await.unwrap());
    let again = f.store.next_delivery("sub_test").unwrap().unwrap();
    assert_eq!(again.attempts, 1);
    assert!(again.next_attempt_ms >= (now + chrono::Duration::seconds(120)).timestamp_millis());
    // A redirect is a failure, never followed.
    receiver.script.lock().unwrap().push((StatusCode::FOUND, vec![("location", url.replace("/hook", "/elsewhere"))]));
    let outcome = deliverer.attempt(&f.subscription, &again, now).await;
    assert!(matches!(&outcome, Outcome::Failed { error, .. } if error.contains("redirects are not followed")), "{outcome:?}");
    deliverer.record(&f.subscription, &again, outcome, now).await.unwrap();
    // The schedule spent: a dead letter, with the endpoint's last answer.
    receiver.script.lock().unwrap().push((StatusCode::INTERNAL_SERVER_ERROR, vec![]));
    let last = f.store.next_delivery("sub_test").unwrap().unwrap();
    let outcome = deliverer.attempt(&f.subscription, &last, now).await;
    deliverer.record(&f.subscription, &last, outcome, now).await.unwrap();
    assert!(f.store.next_delivery("sub_test").unwrap().is_none());
    let dead = f.store.dead_letters().unwrap();
    assert_eq!((dead[0].attempts, dead[0].last_error.as_deref()), (3, Some("HTTP 500 Internal Server Error")));
    let ids: Vec<String> = receiver.received.lock().unwrap().iter().map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned()).collect();
    assert_eq!(ids, ["alr_1.1"; 3], "the same webhook-id at every attempt");
}

#[tokio::test]
async fn a_410_disables_the_subscription_and_a_private_address_is_refused_at_connection() {
    let receiver = Arc::new(Receiver::default());
    let url = start_receiver(receiver.clone()).await;
    let f = fixture(&url);
    queue(&f.store, 1);
    let deliverer = Deliverer::new(f.store.clone(), loopback_config(vec![1]), watch::channel(()).1).unwrap();
    receiver.script.lock().unwrap().push((StatusCode::GONE, vec![]));
    let delivery = f.store.next_delivery("sub_test").unwrap().unwrap();
    let outcome = deliverer.attempt(&f.subscription, &delivery, Utc::now()).await;
    assert_eq!(outcome, Outcome::Gone);
    assert!(!deliverer.record(&f.subscription, &delivery, outcome, Utc::now()).await.unwrap());
    assert!(f.store.subscriptions().unwrap()[0].disabled.as_deref().unwrap().contains("410"));
    // A name that resolves to loopback, with loopback not allowed: refused before connecting.
    let strict = Deliverer::new(f.store.clone(), DeliveryConfig { allowed_networks: vec![], ..loopback_config(vec![1]) }, watch::channel(()).1).unwrap();
    let mut by_name = f.subscription.clone();
    by_name.url = url.replace("127.0.0.1", "localhost").parse().unwrap();
    let outcome = strict.attempt(&by_name, &delivery, Utc::now()).await;
    assert!(matches!(&outcome, Outcome::Failed { error, .. } if error.contains("loopback address")), "{outcome:?}");
    assert_eq!(receiver.received.lock().unwrap().len(), 1, "nothing reached the receiver");
}

#[tokio::test]
async fn the_worker_delivers_in_order_through_an_outage() {
    let receiver = Arc::new(Receiver::default());
    let url = start_receiver(receiver.clone()).await;
    let f = fixture(&url);
    // The endpoint fails its first three answers.
    receiver.script.lock().unwrap().extend([(StatusCode::BAD_GATEWAY, vec![]), (StatusCode::BAD_GATEWAY, vec![]), (StatusCode::BAD_GATEWAY, vec![])]);
    queue(&f.store, 5);
    let (wake_tx, wake_rx) = watch::channel(());
    let deliverer = Arc::new(Deliverer::new(f.store.clone(), loopback_config(vec![0, 0, 0, 0]), wake_rx).unwrap());
    let (stop_tx, stop_rx) = watch::channel(false);
    let running = tokio::spawn(deliverer.run(stop_rx));
    wake_tx.send_replace(());
    for _ in 0..100 {
        if f.store.outbox_depth().unwrap().pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_tx.send_replace(true);
    running.await.unwrap();
    let ids: Vec<String> = receiver.received.lock().unwrap().iter().map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned()).collect();
    assert_eq!(ids, ["alr_1.1", "alr_1.1", "alr_1.1", "alr_1.1", "alr_1.2", "alr_1.3", "alr_1.4", "alr_1.5"]);
}
