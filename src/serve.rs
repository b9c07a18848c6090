//! `ilot serve`: wire the intake, the WAL committer, the store, the persister, the compactor,
//! the query engine, the HTTP API and the PostgreSQL endpoint together, and stop them in the order that loses nothing:
//! stop reading from the broker → commit and ack what was read → persist → close the WAL.

use anyhow::Context;
use ilot_dashboards::postgres::PostgresListener;
use ilot_dashboards::{HttpState, serve as serve_http};
use ilot_ingest::compactor::run_compactor;
use ilot_ingest::health::IntakeHealth;
use ilot_ingest::intake::{AckToken, Intake, Router, connection};
use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::peers::run_peer_refresh;
use ilot_ingest::qc::SensorHistory;
use ilot_ingest::persister::{persist_cycle, run_persister};
use ilot_ingest::store::Store;
use ilot_ingest::wal::{Committer, FileWal, WriterLock};
use ilot_query::QueryEngine;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::storage;

/// Extra work the demo runs beside the service.
pub struct Extras {
    pub simulate: Option<(ilot_firmware_sim::SimConfig, crate::demo::DemoOutput)>,
}

/// Run the service; the configuration is validated first, before anything is touched.
pub async fn run(mut config: Config, extras: Extras) -> anyhow::Result<()> {
    config.validate().context("configuration")?;
    let prometheus = crate::telemetry::init_metrics()?;
    // One process per writer, checked first: a second process on the same data directory
    // (another demo, say) is told so before it meets the first one's ports or broker. A first
    // start creates the lock once every check has passed.
    let writer = storage::writer_id(&config.storage, &config.mqtt.client_id)?;
    let wal_dir = storage::wal_dir(&config.storage, &writer);
    let writer_lock = WriterLock::acquire_existing(&wal_dir)?;
    // The HTTP port next: one that cannot be bound fails the start before any other work.
    let http_listener = ilot_dashboards::bind(&config.http).await?;
    let http_addr = http_listener.local_addr().context("the HTTP listener's address")?;
    let scheme = http_listener.scheme();
    let credentials = ilot_dashboards::auth::credentials(&config.http);
    let postgres_listener = match config.postgres.enabled {
        true => Some(PostgresListener::bind(&config.postgres, &credentials).await?),
        false => None,
    };
    if config.embedded_broker.enabled {
        start_embedded_broker(&config)?;
        // It publishes no `$SYS` statistics and closes the connection of a client asking for them.
        config.mqtt.broker_stats = false;
        // The embedded broker speaks MQTT 5 on the port after its MQTT 3.1.1 one.
        let mut listen = config.embedded_broker.listen;
        if config.mqtt.protocol == ilot_ingest::config::MqttProtocol::V5 {
            listen.set_port(listen.port() + 1);
        }
        config.mqtt.url = format!("mqtt://{listen}");
    }
    let _writer_lock = match writer_lock {
        Some(lock) => lock,
        None => WriterLock::acquire(&wal_dir)?,
    };
    let object_store = storage::object_store(&config.storage)?;
    let store = Store::open(object_store, writer.clone(), false).await.context("opening the store")?;
    if config.storage.url.is_none() {
        store.fsync_local_writes(config.storage.data_dir.clone());
    }
    store.remove_orphans().await.context("removing files left by an interrupted persist")?;
    let registry = RegistryHandle::open(store.object_store(), &config.registry).await.context("loading the sensor registry")?;
    registry.save().await.context("saving the sensor registry in force")?;

    let (wal, replay) = FileWal::open(&wal_dir).with_context(|| format!("opening the WAL in {}", wal_dir.display()))?;
    let (replayed, wal_damage) = (replay.entries, replay.damage);
    // Segments already in Parquet (a crash between the manifest save and their deletion) are
    // skipped: replaying them would store their conflicts and dead letters twice.
    let persisted = store.wal_persisted_upto().await;
    let replayed: Vec<_> = replayed.into_iter().filter(|r| r.segment > persisted).collect();
    let replay_count = replayed.len();
    let replay_store = store.clone();
    tokio::task::spawn_blocking(move || {
        for r in replayed {
            replay_store.apply(r.segment, vec![r.entry]);
        }
    })
    .await?;
    tracing::info!(entries = replay_count, damaged_regions = wal_damage.len(), buffered_rows = store.buffered_rows(), "WAL replayed");

    let health = Arc::new(IntakeHealth::default());
    // Damaged regions (their segments are quarantined, not deleted): a warning until restart.
    health.set_wal_damage(wal_damage.iter().map(ToString::to_string).collect());
    let (release_tx, release_rx) = mpsc::unbounded_channel::<Vec<AckToken>>();
    let apply_store = store.clone();
    let (committer, committer_thread) = Committer::spawn(
        wal,
        config.intake.queue_capacity,
        health.clone(),
        move |segment, entries| apply_store.apply(segment, entries),
        move |tokens| {
            let _ = release_tx.send(tokens);
        },
    );

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let router = Arc::new(Router::new(&config.mqtt, &config.intake, registry.clone())?);
    // The step and persistence checks go on from the readings stored before this start: the
    // longest persistence window twice over (six hourly readings span five hours) plus an hour.
    let mut history = SensorHistory::new();
    let registry_now = registry.snapshot();
    let longest_window_s = registry_now
        .network_names()
        .iter()
        .map(|n| registry_now.qc_limits(n, &config.intake.qc).history.stuck_window_s)
        .chain([config.intake.qc.history.stuck_window_s])
        .max()
        .unwrap_or_default();
    let window_ms = (2 * i64::from(longest_window_s) + 3600) * 1000;
    // A help, not a condition: without it the checks start from an empty history.
    let recent = store.recent_readings(window_ms, chrono::Utc::now().timestamp_millis()).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not read the last readings: the QC history starts empty");
        Vec::new()
    });
    let seeded_from = recent.len();
    history.seed(recent, |network| router.history_limits(network));
    tracing::info!(sensors = history.sensor_count(), readings = seeded_from, "QC history seeded from stored readings");
    let intake = Intake::start(
        &config.mqtt,
        config.intake.queue_capacity,
        router,
        history,
        committer.clone(),
        release_rx,
        health.clone(),
        shutdown_rx.clone(),
    )?;

    let persist_every = Duration::from_secs(config.storage.persist_interval_s);
    let persister = tokio::spawn(run_persister(
        store.clone(),
        committer.clone(),
        persist_every,
        config.storage.max_buffered_rows,
        shutdown_rx.clone(),
    ));
    let compactor = tokio::spawn(run_compactor(
        store.clone(),
        Duration::from_secs(config.storage.compaction_interval_s),
        Duration::from_secs(config.storage.compaction_delay_s),
        Duration::from_secs(config.storage.retired_file_grace_s),
        shutdown_rx.clone(),
    ));

    let peers = (config.storage.peer_refresh_s > 0).then(|| {
        tokio::spawn(run_peer_refresh(store.clone(), Duration::from_secs(config.storage.peer_refresh_s), shutdown_rx.clone()))
    });

    // Automatic query threads in the service: every core but one, which the intake (and a
    // local broker) keep; `ilot sql` alone uses them all.
    let query_limits = ilot_query::QueryLimits { threads: config.query.query_threads(1), ..config.query.clone() };
    let engine = Arc::new(QueryEngine::new(store.clone(), registry.clone(), query_limits).await?);
    let summaries = tokio::spawn(ilot_query::period_summary::run_keeper(
        engine.clone(),
        Duration::from_secs(config.storage.compaction_interval_s),
        shutdown_rx.clone(),
    ));
    let crowdqc = tokio::spawn(ilot_query::crowdqc::job::run_scheduled(
        engine.clone(),
        registry.clone(),
        store.object_store(),
        config.crowdqc.clone(),
        shutdown_rx.clone(),
    ));
    let mut http_config = config.http.clone();
    http_config.disconnect_grace_ms = (config.intake.disconnect_grace_s * 1000) as i64;
    http_config.max_silence_ms = (config.intake.max_silence_s > 0).then_some((config.intake.max_silence_s * 1000) as i64);
    let (alerting, alert_tasks) = match crate::alerting::start(&config, &engine, &store, shutdown_rx.clone())? {
        Some((alerting, tasks)) => (Some(alerting), tasks),
        None => (None, Vec::new()),
    };
    let sql_rate = Arc::new(ilot_dashboards::rate_limit::SqlRateLimit::new(config.query.per_client_per_minute));
    let postgres = match postgres_listener {
        Some(listener) => {
            let addr = listener.local_addr().context("the PostgreSQL listener's address")?;
            let tls = if listener.is_tls() { "TLS required" } else { "no TLS" };
            let login = if credentials.is_empty() { "any user, no password: loopback demo" } else { "users reader (http.token) and admin (http.admin_token)" };
            let mut shutdown = shutdown_rx.clone();
            let task = tokio::spawn(ilot_dashboards::postgres::serve(listener, engine.clone(), sql_rate.clone(), credentials.clone(), async move {
                let _ = shutdown.changed().await;
            }));
            Some((format!("postgresql://{addr}/ilot  ({login}; {tls})"), task))
        }
        None => None,
    };
    let http_state = Arc::new(HttpState { config: http_config, store: store.clone(), engine, registry: registry.clone(), health, prometheus, alerting, sql_rate, map: Default::default() });
    let mut http_shutdown = shutdown_rx.clone();
    let http = tokio::spawn(serve_http(http_listener, http_state, async move { let _ = http_shutdown.changed().await; }));

    println!("ilot is running");
    println!("  MQTT intake      {}  topics {:?}", config.mqtt.url, config.mqtt.topics);
    println!("  Dashboard        {scheme}://{http_addr}/  (map, sensors, networks, alerts; intake status at /status)");
    println!("  HTTP API         {scheme}://{http_addr}/  (under /api/: POST /api/sql, OpenAPI at /api/openapi.json; /healthz, /metrics)");
    if let Some((url, _)) = &postgres {
        println!("  PostgreSQL       {url}");
    }
    if credentials.is_empty() {
        println!("  no authentication: no http.token is set, which only loopback addresses allow (the demo)");
    }
    println!("  data             {}", config.storage.url.clone().unwrap_or_else(|| config.storage.data_dir.display().to_string()));
    println!("  try              ilot sql \"SELECT network, count(*) FROM readings GROUP BY network\"");

    let warnings_store = store.clone();
    let warning_summaries = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            warnings_store.summarise_warnings(false);
        }
    });

    let simulator = extras.simulate.map(|(sim, out)| {
        let (host, port, _) = connection::parse_url(&config.mqtt.url).expect("validated above");
        tokio::spawn(crate::demo::publish_forever(sim, host, port, out.listening_on(http_addr)))
    });

    wait_for_signal().await;
    tracing::info!("shutting down: stop intake, commit, ack, persist");
    if let Some(s) = simulator {
        s.abort();
    }
    let _ = shutdown_tx.send(true);
    let acker = intake.stop_reading().await;
    let _ = persister.await;
    let _ = compactor.await;
    crowdqc.abort();
    summaries.abort();
    for task in alert_tasks {
        let _ = task.await;
    }
    warning_summaries.abort();
    if let Some(p) = peers {
        let _ = p.await;
    }
    store.summarise_warnings(true);
    match persist_cycle(&store, &committer).await {
        Ok(o) => tracing::info!(files = o.files, rows = o.rows, "final persist done"),
        Err(e) => tracing::error!(error = %e, "final persist failed; the WAL keeps the rows for the next start"),
    }
    drop(committer);
    let _ = tokio::task::spawn_blocking(move || committer_thread.join()).await;
    let _ = acker.await;
    let _ = http.await;
    if let Some((_, task)) = postgres {
        let _ = task.await;
    }
    Ok(())
}

#[cfg(feature = "embedded-broker")]
fn start_embedded_broker(config: &Config) -> anyhow::Result<()> {
    ilot_ingest::broker::start_embedded(config.embedded_broker.listen, config.intake.max_payload_bytes)?;
    tracing::info!(listen = %config.embedded_broker.listen, "embedded MQTT broker started (demo/tests only)");
    Ok(())
}

#[cfg(not(feature = "embedded-broker"))]
fn start_embedded_broker(_config: &Config) -> anyhow::Result<()> {
    anyhow::bail!("this build has no embedded broker (cargo feature `embedded-broker`)")
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
