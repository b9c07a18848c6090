//! The life of one alert, per (rule, area): quiet → pending → raised → updated … → cleared.
//!
//! A pure state machine: [`AreaState::step`] takes what one evaluation of the rule found for
//! the area (its [`Observation`]s, one per period, oldest first) and the time, and returns the
//! events to publish. The caller stores the new state and the events in one transaction
//! (`alert_store`), so a crash can lose neither half.
//!
//! What keeps it from flapping (domain.md §4, "Anti-flapping"):
//! - **raise after a minimum duration**: the criterion must hold for `raise_after_s` (pending);
//!   a criterion that breaks before that raises nothing;
//! - **hysteresis**: a rule reports two levels, the highest whose *raise* criterion holds and
//!   the highest whose *clear* criterion does not hold yet (its value still above the clear
//!   threshold, the raise threshold minus a margin); an alert keeps its level while the second
//!   stays at it;
//! - **minimum time below**: it de-escalates or clears only after the clear criterion has held
//!   for `clear_after_s` without a break;
//! - **escalation at once, inside the same alert**, which then keeps its id: one alert per
//!   episode, with a sequence number that grows with every change;
//! - **clear after absence**: no observation at all for `absent_after_s` (data stopped) clears it;
//! - **one event per alert per evaluation**: several reasons (a level change, a new period, a
//!   late-data correction) go into one update.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::level::Level;

/// What one evaluation of a rule found for one area and one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The period the values are about (a climatological day, a night), oldest first in a
    /// step's input; `None` for rules about "now" (instantaneous heat, sensor health).
    pub period: Option<String>,
    /// The highest level whose raise criterion holds (green: none).
    pub raise_level: Level,
    /// The highest level whose clear criterion does not hold yet; at least `raise_level`.
    pub hold_level: Level,
    /// The rule's main indicator (°C), for the trend and for corrections.
    pub value: Option<f64>,
    /// What the level was computed from: values, thresholds, window, stations, completeness,
    /// QC level (rule-specific JSON, carried into the payload as is).
    pub evidence: serde_json::Value,
    /// The sensors whose change is news while the alert is in force (sensor health: the list a
    /// technician works from); `None` where the listed sensors are evidence only.
    #[serde(default)]
    pub members: Option<Vec<String>>,
}

impl Observation {
    fn hold(&self) -> Level {
        self.hold_level.max(self.raise_level)
    }

    /// What a later evaluation of the same period is compared with: a different level or a
    /// value moved by at least 0.01 °C is a correction.
    fn record(&self) -> PeriodRecord {
        PeriodRecord { raise_level: self.raise_level, value_centi: self.value.map(|v| (v * 100.0).round() as i64) }
    }
}

/// The timing of a rule's alerts, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// How long the criterion must hold before the alert is raised (0: at once).
    pub raise_after_s: i64,
    /// How long the clear criterion must hold, without a break, before the alert de-escalates
    /// or clears.
    pub clear_after_s: i64,
    /// How long without any observation of the area before the alert is cleared ("no data").
    pub absent_after_s: i64,
    /// How long an event is valid for if nothing follows it (CAP `expires`).
    pub valid_for_s: i64,
}

/// Why an alert was updated (several may go into one update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum UpdateReason {
    /// The raise criterion of a higher level holds.
    Escalated,
    /// The clear criterion of the alert's level held for `clear_after_s`.
    DeEscalated,
    /// The indicators of a new period (a new day) are in.
    NewPeriod { period: String },
    /// Late or imported data changed a period already reported: a correction.
    LateData { period: String },
    /// Sensors joined or left the alert's list (sensor health), without it emptying.
    SensorsChanged { added: Vec<String>, removed: Vec<String> },
}

/// Why an alert was cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearReason {
    /// The clear criterion held for `clear_after_s`.
    BelowThreshold,
    /// No observation of the area for `absent_after_s`.
    NoData,
    /// Late data showed that no period of the alert met the criterion: it is withdrawn.
    Retracted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Raised,
    Updated { reasons: Vec<UpdateReason> },
    Cleared { reason: ClearReason },
}

/// Whether the main indicator rises, holds or falls since the previous event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Rising,
    Sustained,
    Falling,
}

impl Trend {
    /// Moves under 0.2 °C are noise: sustained.
    fn between(previous: Option<f64>, now: Option<f64>) -> Self {
        match (previous, now) {
            (Some(p), Some(n)) if n - p >= 0.2 => Trend::Rising,
            (Some(p), Some(n)) if p - n >= 0.2 => Trend::Falling,
            _ => Trend::Sustained,
        }
    }
}

/// One change of one alert, to store and to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub alert_id: String,
    /// 1 for the raise, +1 for every later event of the alert.
    pub seq: u64,
    pub change: Change,
    /// The level after the event (green for a clear).
    pub level: Level,
    /// The level before the event (green for a raise).
    pub previous_level: Level,
    /// When the criterion was first met (the start of the pending time).
    pub onset: DateTime<Utc>,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub trend: Trend,
    /// The latest observation (for a clear after absence: the last one seen).
    pub observation: Observation,
}

/// What was last reported for one period of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct PeriodRecord {
    raise_level: Level,
    value_centi: Option<i64>,
}

/// The periods an alert remembers for corrections: two weeks of days.
const PERIODS_KEPT: usize = 14;

/// A raised alert, between its raise and its clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    pub id: String,
    pub seq: u64,
    pub level: Level,
    pub onset: DateTime<Utc>,
    /// The last time the area was observed at all.
    pub last_seen: DateTime<Utc>,
    /// Since when the clear criterion of `level` has held, and the highest level still held
    /// over that time (what a de-escalation goes to).
    below: Option<(DateTime<Utc>, Level)>,
    /// The last observation, and the value last published (for the trend).
    last: Observation,
    published_value: Option<f64>,
    /// The members as last published.
    #[serde(default)]
    published_members: Option<Vec<String>>,
    periods: BTreeMap<String, PeriodRecord>,
}

/// The lifecycle state of one (rule, area).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AreaState {
    /// Nothing holds.
    #[default]
    Quiet,
    /// The raise criterion holds since `since`, not yet for `raise_after_s`.
    Pending { since: DateTime<Utc> },
    Active(ActiveAlert),
}

impl AreaState {
    /// The alert in force, if any.
    pub fn active(&self) -> Option<&ActiveAlert> {
        match self {
            AreaState::Active(a) => Some(a),
            _ => None,
        }
    }

    /// Advance with one evaluation's observations of the area (one per period, oldest first;
    /// empty when the area has no data) at `now`. `new_id` names an alert when one is raised.
    pub fn step(&mut self, observations: &[Observation], now: DateTime<Utc>, timing: &Timing, new_id: impl FnOnce() -> String) -> Option<AlertEvent> {
        match std::mem::take(self) {
            AreaState::Active(mut alert) => {
                let event = alert.advance(observations, now, timing);
                if !matches!(event.as_ref().map(|e| &e.change), Some(Change::Cleared { .. })) {
                    *self = AreaState::Active(alert);
                }
                event
            }
            previous => {
                // Nothing holds (or no data): quiet again, a pending criterion forgotten.
                let current = observations.last().filter(|c| c.raise_level.is_alert())?;
                let since = match previous {
                    AreaState::Pending { since } => since,
                    _ => now,
                };
                if now - since < Duration::seconds(timing.raise_after_s) {
                    *self = AreaState::Pending { since };
                    return None;
                }
                let mut alert = ActiveAlert {
                    id: new_id(),
                    seq: 0,
                    level: current.raise_level,
                    onset: since,
                    last_seen: now,
                    below: None,
                    published_value: current.value,
                    published_members: None,
                    last: current.clone(),
                    periods: BTreeMap::new(),
                };
                alert.remember(observations);
                let event = alert.event(Change::Raised, Level::Green, Trend::Sustained, now, timing);
                *self = AreaState::Active(alert);
                Some(event)
            }
        }
    }
}

impl ActiveAlert {
    fn advance(&mut self, observations: &[Observation], now: DateTime<Utc>, timing: &Timing) -> Option<AlertEvent> {
        let Some(current) = observations.last() else {
            let absent = now - self.last_seen >= Duration::seconds(timing.absent_after_s);
            return absent.then(|| self.clear(ClearReason::NoData, now, timing));
        };
        self.last_seen = now;
        self.last = current.clone();
        let mut reasons = Vec::new();
        let mut retracted_a_raise = false;
        for o in observations {
            let Some(period) = &o.period else { continue };
            if let Some(before) = self.periods.get(period)
                && *before != o.record()
            {
                retracted_a_raise |= before.raise_level.is_alert() && !o.raise_level.is_alert();
                reasons.push(UpdateReason::LateData { period: period.clone() });
            }
        }
        if let Some(period) = &current.period
            && !self.periods.contains_key(period)
        {
            reasons.push(UpdateReason::NewPeriod { period: period.clone() });
        }
        if let Some(members) = current.members.as_ref().filter(|m| !m.is_empty())
            && self.published_members.as_ref() != Some(members)
        {
            let before = self.published_members.clone().unwrap_or_default();
            let added = members.iter().filter(|m| !before.contains(m)).cloned().collect();
            let removed = before.iter().filter(|m| !members.contains(m)).cloned().collect();
            reasons.push(UpdateReason::SensorsChanged { added, removed });
        }
        self.remember(observations);
        // Late data withdrew what raised it, and nothing holds now: the alert should not have been.
        if retracted_a_raise && current.hold() == Level::Green && !self.periods.values().any(|r| r.raise_level.is_alert()) {
            return Some(self.clear(ClearReason::Retracted, now, timing));
        }
        let previous_level = self.level;
        let hold = current.hold();
        if current.raise_level > self.level {
            self.level = current.raise_level;
            self.below = None;
            reasons.insert(0, UpdateReason::Escalated);
        } else if hold >= self.level {
            self.below = None;
        } else {
            let (since, highest) = self.below.get_or_insert((now, hold));
            *highest = (*highest).max(hold);
            if now - *since >= Duration::seconds(timing.clear_after_s) {
                let to = *highest;
                if to == Level::Green {
                    return Some(self.clear(ClearReason::BelowThreshold, now, timing));
                }
                self.level = to;
                self.below = None;
                reasons.insert(0, UpdateReason::DeEscalated);
            }
        }
        if reasons.is_empty() {
            return None;
        }
        let trend = Trend::between(self.published_value, current.value);
        self.published_value = current.value;
        Some(self.event(Change::Updated { reasons }, previous_level, trend, now, timing))
    }

    fn clear(&mut self, reason: ClearReason, now: DateTime<Utc>, timing: &Timing) -> AlertEvent {
        let previous_level = self.level;
        self.level = Level::Green;
        let trend = Trend::between(self.published_value, self.last.value);
        self.event(Change::Cleared { reason }, previous_level, trend, now, timing)
    }

    fn event(&mut self, change: Change, previous_level: Level, trend: Trend, now: DateTime<Utc>, timing: &Timing) -> AlertEvent {
        self.seq += 1;
        self.published_members = self.last.members.clone();
        AlertEvent {
            alert_id: self.id.clone(),
            seq: self.seq,
            change,
            level: self.level,
            previous_level,
            onset: self.onset,
            issued: now,
            expires: now + Duration::seconds(timing.valid_for_s),
            trend,
            observation: self.last.clone(),
        }
    }

    /// Record what is reported for each period, keeping the newest [`PERIODS_KEPT`].
    fn remember(&mut self, observations: &[Observation]) {
        for o in observations {
            if let Some(period) = &o.period {
                self.periods.insert(period.clone(), o.record());
            }
        }
        while self.periods.len() > PERIODS_KEPT {
            self.periods.pop_first();
        }
    }
}

#[cfg(test)]
mod tests;
