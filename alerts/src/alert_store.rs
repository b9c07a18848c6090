//! The durable half of alerting, in one SQLite database (`alerts.sqlite`): each (rule, area)'s
//! lifecycle state, the alerts and their events, the webhook subscriptions, the delivery
//! outbox and the rules an admin added through the API. One evaluation of a rule is one transaction: new states, events and the outbox rows
//! of the subscriptions that want them are written together or not at all (WAL journal,
//! `synchronous = FULL`: committed means on disk), so a crash between "state changed" and
//! "delivery queued" cannot happen, and an event is queued once per subscription (unique
//! (subscription, event id)).
//!
//! Times are stored as Unix milliseconds.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::level::Level;
use crate::lifecycle::{AlertEvent, AreaState, Change};
use crate::rule::Rule;
use crate::signature::WebhookSecret;
use crate::subscription::Subscription;

#[derive(Debug, thiserror::Error)]
pub enum AlertStoreError {
    #[error("alert store {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("alert store folder {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("alert store {path} is held by another ilot process: exactly one process evaluates a deployment's alerts (alerts.enabled)")]
    Held { path: PathBuf },
    #[error("alert store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("alert store: a stored {what} does not read back: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

type Result<T> = std::result::Result<T, AlertStoreError>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS area_state (
    rule TEXT NOT NULL, area TEXT NOT NULL, state TEXT NOT NULL, updated_ms INTEGER NOT NULL,
    PRIMARY KEY (rule, area)
);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, area TEXT NOT NULL, level TEXT NOT NULL,
    active INTEGER NOT NULL, seq INTEGER NOT NULL, onset_ms INTEGER NOT NULL,
    raised_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, cleared_ms INTEGER
);
CREATE TABLE IF NOT EXISTS alert_events (
    event_id TEXT PRIMARY KEY, alert_id TEXT NOT NULL, seq INTEGER NOT NULL, event_type TEXT NOT NULL,
    rule TEXT NOT NULL, area TEXT NOT NULL, level TEXT NOT NULL, previous_level TEXT NOT NULL,
    issued_ms INTEGER NOT NULL, payload TEXT NOT NULL,
    UNIQUE (alert_id, seq)
);
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY, url TEXT NOT NULL, rules TEXT NOT NULL, areas TEXT NOT NULL,
    min_level TEXT NOT NULL, secret TEXT NOT NULL, disabled TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, subscription_id TEXT NOT NULL, event_id TEXT NOT NULL,
    alert_id TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL, finished_ms INTEGER, last_error TEXT,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (subscription_id, status, id);
CREATE TABLE IF NOT EXISTS rule_cursor (rule TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS api_rules (id TEXT PRIMARY KEY, definition TEXT NOT NULL, added_ms INTEGER NOT NULL);
";

/// What one (rule, area) became in an evaluation, and the event it produced, to commit together.
pub struct AreaUpdate {
    pub area: String,
    pub state: AreaState,
    pub event: Option<PublishedEvent>,
}

/// An event with its type (`heat.alert.raised` …) and its JSON payload, as delivered.
pub struct PublishedEvent {
    pub event: AlertEvent,
    pub event_type: String,
    pub payload: String,
}

impl PublishedEvent {
    /// The event's id: `webhook-id` of every delivery of it.
    pub fn id(&self) -> String {
        event_id(&self.event.alert_id, self.event.seq)
    }
}

pub fn event_id(alert_id: &str, seq: u64) -> String {
    format!("{alert_id}.{seq}")
}

/// One queued delivery: an event for a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub outbox_id: i64,
    pub subscription_id: String,
    pub event_id: String,
    pub body: String,
    /// Attempts already made.
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub created_ms: i64,
}

/// A delivery given up on (or stopped by a disabled endpoint), with its last error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadDelivery {
    pub outbox_id: i64,
    pub subscription_id: String,
    pub event_id: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub finished_ms: Option<i64>,
}

/// One alert as the `alerts` table and `GET /api/alerts` show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlertRow {
    pub id: String,
    pub rule: String,
    pub area: String,
    pub level: String,
    pub active: bool,
    pub seq: u64,
    pub onset_ms: i64,
    pub raised_ms: i64,
    pub updated_ms: i64,
    pub cleared_ms: Option<i64>,
}

/// One event as the `alert_events` table shows it, with its delivered payload (JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventRow {
    pub event_id: String,
    pub alert_id: String,
    pub seq: u64,
    pub event_type: String,
    pub rule: String,
    pub area: String,
    pub level: String,
    pub previous_level: String,
    pub issued_ms: i64,
    pub payload: String,
}

/// The outbox's backlog: pending deliveries and the age of the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxDepth {
    pub pending: u64,
    pub oldest_created_ms: Option<i64>,
}

pub struct AlertStore {
    conn: Mutex<Connection>,
}

fn corrupt(what: &'static str) -> impl Fn(String) -> AlertStoreError {
    move |detail| AlertStoreError::Corrupt { what, detail }
}

impl AlertStore {
    /// Open (or create) the database at `path`, and hold it: SQLite's exclusive locking mode
    /// keeps every other process out until this one ends (`kill -9` included), so two
    /// evaluators can never share a store.
    pub fn open(path: &Path) -> Result<Self> {
        let open = |source| AlertStoreError::Open { path: path.to_owned(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| AlertStoreError::Folder { path: parent.to_owned(), source })?;
        }
        let conn = Connection::open(path).map_err(open)?;
        // Exclusive before WAL: SQLite then never uses shared memory, and the lock taken by the
        // first write below is kept for the connection's life.
        conn.execute_batch("PRAGMA locking_mode = EXCLUSIVE;").map_err(open)?;
        match conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; BEGIN EXCLUSIVE; COMMIT;") {
            Err(rusqlite::Error::SqliteFailure(e, _)) if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                return Err(AlertStoreError::Held { path: path.to_owned() });
            }
            other => other.map_err(open)?,
        }
        conn.execute_batch(SCHEMA).map_err(open)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn with<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut conn)
    }

    /// Every area's state of `rule` (areas never seen are quiet).
    pub fn area_states(&self, rule: &str) -> Result<BTreeMap<String, AreaState>> {
        self.with(|conn| {
            let mut statement = conn.prepare_cached("SELECT area, state FROM area_state WHERE rule = ?1")?;
            let rows = statement.query_map([rule], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
            let mut states = BTreeMap::new();
            for row in rows {
                let (area, json) = row?;
                let state = serde_json::from_str(&json).map_err(|e| corrupt("area state")(format!("{rule}/{area}: {e}")))?;
                states.insert(area, state);
            }
            Ok(states)
        })
    }

    /// The evaluation time of `rule`'s last committed evaluation.
    pub fn rule_cursor(&self, rule: &str) -> Result<Option<DateTime<Utc>>> {
        self.with(|conn| {
            let at: Option<i64> = conn.query_row("SELECT at_ms FROM rule_cursor WHERE rule = ?1", [rule], |row| row.get(0)).optional()?;
            Ok(at.and_then(DateTime::from_timestamp_millis))
        })
    }

    /// Commit one evaluation of `rule`: the areas' new states, their events, for each event an
    /// outbox row per subscription that wants it, and the rule's cursor (the evaluation time)
    /// when given. Returns the number of deliveries queued.
    pub fn commit(&self, rule: &str, updates: &[AreaUpdate], cursor: Option<DateTime<Utc>>) -> Result<usize> {
        let now_ms = Utc::now().timestamp_millis();
        self.with(|conn| {
            let subscriptions = read_subscriptions(conn)?;
            let tx = conn.transaction()?;
            if let Some(at) = cursor {
                tx.execute(
                    "INSERT INTO rule_cursor (rule, at_ms) VALUES (?1, ?2) ON CONFLICT (rule) DO UPDATE SET at_ms = excluded.at_ms",
                    params![rule, at.timestamp_millis()],
                )?;
            }
            let mut queued = 0;
            for update in updates {
                let state = serde_json::to_string(&update.state).expect("a state serialises");
                if update.state == AreaState::Quiet {
                    tx.execute("DELETE FROM area_state WHERE rule = ?1 AND area = ?2", params![rule, update.area])?;
                } else {
                    tx.execute(
                        "INSERT INTO area_state (rule, area, state, updated_ms) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (rule, area) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
                        params![rule, update.area, state, now_ms],
                    )?;
                }
                if let Some(published) = &update.event {
                    record_event(&tx, rule, &update.area, published)?;
                    queued += queue_deliveries(&tx, &subscriptions, rule, &update.area, published, now_ms)?;
                }
            }
            tx.commit()?;
            Ok(queued)
        })
    }

    /// The rules an admin added through the API, oldest first.
    pub fn api_rules(&self) -> Result<Vec<Rule>> {
        self.with(|conn| {
            let mut statement = conn.prepare_cached("SELECT id, definition FROM api_rules ORDER BY added_ms, id")?;
            let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
            let mut rules = Vec::new();
            for row in rows {
                let (id, json) = row?;
                rules.push(serde_json::from_str(&json).map_err(|e| corrupt("rule")(format!("{id}: {e}")))?);
            }
            Ok(rules)
        })
    }

    /// Keep a rule added through the API; false when one with its id is stored already.
    pub fn add_api_rule(&self, rule: &Rule) -> Result<bool> {
        let definition = serde_json::to_string(rule).expect("a rule serialises");
        self.with(|conn| {
            let added = conn.execute(
                "INSERT INTO api_rules (id, definition, added_ms) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
                params![rule.common.id, definition, Utc::now().timestamp_millis()],
            )?;
            Ok(added > 0)
        })
    }

    /// Remove a rule added through the API, with its areas' states and cursor; false when
    /// there is none.
    pub fn remove_api_rule(&self, id: &str) -> Result<bool> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let removed = tx.execute("DELETE FROM api_rules WHERE id = ?1", [id])? > 0;
            if removed {
                tx.execute("DELETE FROM area_state WHERE rule = ?1", [id])?;
                tx.execute("DELETE FROM rule_cursor WHERE rule = ?1", [id])?;
            }
            tx.commit()?;
            Ok(removed)
        })
    }

    /// Add or replace a subscription (its queued deliveries stay). One that was disabled (its
    /// endpoint answered 410 Gone) stays disabled while its URL is the same.
    pub fn put_subscription(&self, subscription: &Subscription) -> Result<()> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO subscriptions (id, url, rules, areas, min_level, secret, disabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET url = excluded.url, rules = excluded.rules, areas = excluded.areas,
                   min_level = excluded.min_level, secret = excluded.secret,
                   disabled = CASE WHEN subscriptions.url = excluded.url THEN subscriptions.disabled ELSE excluded.disabled END",
                params![
                    subscription.id,
                    subscription.url.as_str(),
                    serde_json::to_string(&subscription.rules).expect("strings serialise"),
                    serde_json::to_string(&subscription.areas).expect("strings serialise"),
                    subscription.min_level.as_str(),
                    subscription.secret.expose(),
                    subscription.disabled,
                ],
            )?;
            Ok(())
        })
    }

    /// Remove a subscription and its pending deliveries; false when there was none.
    pub fn delete_subscription(&self, id: &str) -> Result<bool> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM outbox WHERE subscription_id = ?1 AND status = 'pending'", [id])?;
            let removed = tx.execute("DELETE FROM subscriptions WHERE id = ?1", [id])? > 0;
            tx.commit()?;
            Ok(removed)
        })
    }

    pub fn subscriptions(&self) -> Result<Vec<Subscription>> {
        self.with(|conn| read_subscriptions(conn))
    }

    /// Stop deliveries to a subscription (its endpoint answered 410 Gone); what is pending stays
    /// pending, delivered again once an admin enables it.
    pub fn disable_subscription(&self, id: &str, reason: &str) -> Result<()> {
        self.with(|conn| {
            conn.execute("UPDATE subscriptions SET disabled = ?2 WHERE id = ?1", params![id, reason])?;
            Ok(())
        })
    }

    /// Deliver to a disabled subscription again (an admin's decision); false when there is none.
    pub fn enable_subscription(&self, id: &str) -> Result<bool> {
        self.with(|conn| Ok(conn.execute("UPDATE subscriptions SET disabled = NULL WHERE id = ?1", [id])? > 0))
    }

    /// The oldest pending delivery of a subscription: deliveries to one endpoint go in order.
    pub fn next_delivery(&self, subscription_id: &str) -> Result<Option<Delivery>> {
        self.with(|conn| {
            conn.query_row(
                "SELECT o.id, o.subscription_id, o.event_id, e.payload, o.attempts, o.next_attempt_ms, o.created_ms
                 FROM outbox o JOIN alert_events e ON e.event_id = o.event_id
                 WHERE o.subscription_id = ?1 AND o.status = 'pending' ORDER BY o.id LIMIT 1",
                [subscription_id],
                |row| {
                    Ok(Delivery {
                        outbox_id: row.get(0)?,
                        subscription_id: row.get(1)?,
                        event_id: row.get(2)?,
                        body: row.get(3)?,
                        attempts: row.get(4)?,
                        next_attempt_ms: row.get(5)?,
                        created_ms: row.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(Into::into)
        })
    }

    /// The endpoint answered 2xx.
    pub fn delivered(&self, outbox_id: i64, now: DateTime<Utc>) -> Result<()> {
        self.finish(outbox_id, "delivered", None, now)
    }

    /// An attempt failed: try again at `retry_at`, or, when `None`, give up (dead letter).
    pub fn failed(&self, outbox_id: i64, error: &str, retry_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<()> {
        match retry_at {
            Some(at) => self.with(|conn| {
                conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?2, last_error = ?3 WHERE id = ?1",
                    params![outbox_id, at.timestamp_millis(), error],
                )?;
                Ok(())
            }),
            None => self.finish(outbox_id, "dead", Some(error), now),
        }
    }

    fn finish(&self, outbox_id: i64, status: &str, error: Option<&str>, now: DateTime<Utc>) -> Result<()> {
        self.with(|conn| {
            conn.execute(
                "UPDATE outbox SET status = ?2, attempts = attempts + 1, finished_ms = ?3, last_error = coalesce(?4, last_error) WHERE id = ?1",
                params![outbox_id, status, now.timestamp_millis(), error],
            )?;
            Ok(())
        })
    }

    /// The deliveries given up on, newest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadDelivery>> {
        self.with(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT id, subscription_id, event_id, attempts, last_error, finished_ms FROM outbox WHERE status = 'dead' ORDER BY id DESC",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(DeadDelivery {
                    outbox_id: row.get(0)?,
                    subscription_id: row.get(1)?,
                    event_id: row.get(2)?,
                    attempts: row.get(3)?,
                    last_error: row.get(4)?,
                    finished_ms: row.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Queue a dead letter again (same event id: receivers that already have it drop it);
    /// false when `outbox_id` is not a dead letter.
    pub fn replay(&self, outbox_id: i64, now: DateTime<Utc>) -> Result<bool> {
        self.with(|conn| {
            let changed = conn.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_ms = ?2, finished_ms = NULL WHERE id = ?1 AND status = 'dead'",
                params![outbox_id, now.timestamp_millis()],
            )?;
            Ok(changed > 0)
        })
    }

    /// Pending deliveries and the creation time of the oldest.
    pub fn outbox_depth(&self) -> Result<OutboxDepth> {
        self.with(|conn| {
            let (pending, oldest) = conn.query_row("SELECT count(*), min(created_ms) FROM outbox WHERE status = 'pending'", [], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, Option<i64>>(1)?))
            })?;
            Ok(OutboxDepth { pending: pending as u64, oldest_created_ms: oldest })
        })
    }
}

impl AlertStore {
    /// Every alert, newest first (`active_only`: those in force).
    pub fn alerts(&self, active_only: bool) -> Result<Vec<AlertRow>> {
        self.with(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT id, rule, area, level, active, seq, onset_ms, raised_ms, updated_ms, cleared_ms FROM alerts
                 WHERE active = 1 OR ?1 = 0 ORDER BY raised_ms DESC, id",
            )?;
            let rows = statement.query_map([active_only], |row| {
                Ok(AlertRow {
                    id: row.get(0)?,
                    rule: row.get(1)?,
                    area: row.get(2)?,
                    level: row.get(3)?,
                    active: row.get(4)?,
                    seq: row.get::<_, i64>(5)? as u64,
                    onset_ms: row.get(6)?,
                    raised_ms: row.get(7)?,
                    updated_ms: row.get(8)?,
                    cleared_ms: row.get(9)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The events of one alert (or of every alert), oldest first.
    pub fn events(&self, alert_id: Option<&str>) -> Result<Vec<EventRow>> {
        self.with(|conn| {
            let mut statement = conn.prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM alert_events WHERE ?1 IS NULL OR alert_id = ?1 ORDER BY issued_ms, alert_id, seq"))?;
            let rows = statement.query_map([alert_id], event_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The latest event of an alert (one indexed lookup, not a scan of the history).
    pub fn latest_event(&self, alert_id: &str) -> Result<Option<EventRow>> {
        self.with(|conn| {
            let mut statement = conn.prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM alert_events WHERE alert_id = ?1 ORDER BY seq DESC LIMIT 1"))?;
            Ok(statement.query_row([alert_id], event_row).optional()?)
        })
    }
}

const EVENT_COLUMNS: &str = "event_id, alert_id, seq, event_type, rule, area, level, previous_level, issued_ms, payload";

fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        event_id: row.get(0)?,
        alert_id: row.get(1)?,
        seq: row.get::<_, i64>(2)? as u64,
        event_type: row.get(3)?,
        rule: row.get(4)?,
        area: row.get(5)?,
        level: row.get(6)?,
        previous_level: row.get(7)?,
        issued_ms: row.get(8)?,
        payload: row.get(9)?,
    })
}

fn read_subscriptions(conn: &Connection) -> Result<Vec<Subscription>> {
    let mut statement = conn.prepare_cached("SELECT id, url, rules, areas, min_level, secret, disabled FROM subscriptions ORDER BY id")?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut subscriptions = Vec::new();
    for row in rows {
        let (id, url, rules, areas, min_level, secret, disabled) = row?;
        let bad = corrupt("subscription");
        subscriptions.push(Subscription {
            url: url.parse().map_err(|e| bad(format!("{id}: url: {e}")))?,
            rules: serde_json::from_str(&rules).map_err(|e| bad(format!("{id}: rules: {e}")))?,
            areas: serde_json::from_str(&areas).map_err(|e| bad(format!("{id}: areas: {e}")))?,
            min_level: min_level.parse().map_err(|e| bad(format!("{id}: {e}")))?,
            secret: WebhookSecret::parse(&secret).map_err(|e| bad(format!("{id}: secret: {e}")))?,
            disabled,
            id,
        });
    }
    Ok(subscriptions)
}

fn record_event(tx: &Transaction<'_>, rule: &str, area: &str, published: &PublishedEvent) -> Result<()> {
    let event = &published.event;
    let (issued_ms, onset_ms) = (event.issued.timestamp_millis(), event.onset.timestamp_millis());
    tx.execute(
        "INSERT INTO alert_events (event_id, alert_id, seq, event_type, rule, area, level, previous_level, issued_ms, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            published.id(),
            event.alert_id,
            event.seq as i64,
            published.event_type,
            rule,
            area,
            event.level.as_str(),
            event.previous_level.as_str(),
            issued_ms,
            published.payload,
        ],
    )?;
    match event.change {
        Change::Raised => tx.execute(
            "INSERT INTO alerts (id, rule, area, level, active, seq, onset_ms, raised_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?7)",
            params![event.alert_id, rule, area, event.level.as_str(), event.seq as i64, onset_ms, issued_ms],
        )?,
        Change::Updated { .. } => tx.execute(
            "UPDATE alerts SET level = ?2, seq = ?3, updated_ms = ?4 WHERE id = ?1",
            params![event.alert_id, event.level.as_str(), event.seq as i64, issued_ms],
        )?,
        Change::Cleared { .. } => tx.execute(
            "UPDATE alerts SET level = ?2, seq = ?3, updated_ms = ?4, active = 0, cleared_ms = ?4 WHERE id = ?1",
            params![event.alert_id, event.level.as_str(), event.seq as i64, issued_ms],
        )?,
    };
    Ok(())
}

/// Queue `published` for each active subscription that wants it, or that already received an
/// event of the same alert (it must hear how the alert ends).
fn queue_deliveries(tx: &Transaction<'_>, subscriptions: &[Subscription], rule: &str, area: &str, published: &PublishedEvent, now_ms: i64) -> Result<usize> {
    let event = &published.event;
    let mut queued = 0;
    for subscription in subscriptions.iter().filter(|s| s.disabled.is_none()) {
        let wants = subscription.wants(rule, area, event.level.max(event.previous_level));
        let follows = || -> Result<bool> {
            Ok(tx
                .query_row("SELECT 1 FROM outbox WHERE subscription_id = ?1 AND alert_id = ?2 LIMIT 1", params![subscription.id, event.alert_id], |_| Ok(()))
                .optional()?
                .is_some())
        };
        if wants || (subscription.wants(rule, area, Level::Red) && follows()?) {
            queued += tx.execute(
                "INSERT OR IGNORE INTO outbox (subscription_id, event_id, alert_id, status, created_ms, next_attempt_ms) VALUES (?1, ?2, ?3, 'pending', ?4, ?4)",
                params![subscription.id, published.id(), event.alert_id, now_ms],
            )?;
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests;
