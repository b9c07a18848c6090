//! Alert levels, in the order of the French heat-health vigilance: green (nothing), yellow,
//! orange, red. ilot computes a *local* level from its own observations; the official
//! Météo-France vigilance is a forecaster's decision and is never presented as this.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A level, ordered: `Green < Yellow < Orange < Red`. Green means "no alert".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Green,
    Yellow,
    Orange,
    Red,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Green, Level::Yellow, Level::Orange, Level::Red];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Green => "green",
            Level::Yellow => "yellow",
            Level::Orange => "orange",
            Level::Red => "red",
        }
    }

    /// True for the levels that make an alert (yellow and above).
    pub fn is_alert(self) -> bool {
        self > Level::Green
    }

    /// MeteoAlarm's `awareness_level` parameter value (CAP), e.g. `3; orange; Severe`.
    pub fn awareness_level(self) -> &'static str {
        match self {
            Level::Green => "1; green; Minor",
            Level::Yellow => "2; yellow; Moderate",
            Level::Orange => "3; orange; Severe",
            Level::Red => "4; red; Extreme",
        }
    }

    /// The CAP 1.2 `<severity>` that goes with the level.
    pub fn cap_severity(self) -> &'static str {
        match self {
            Level::Green => "Minor",
            Level::Yellow => "Moderate",
            Level::Orange => "Severe",
            Level::Red => "Extreme",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level name that is not one of green, yellow, orange, red.
#[derive(Debug, thiserror::Error)]
#[error("unknown alert level {0:?}: expected green, yellow, orange or red")]
pub struct UnknownLevel(pub String);

impl FromStr for Level {
    type Err = UnknownLevel;

    /// Case-insensitive; `none` and the empty string are green (a rule's "nothing").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "green" | "none" | "" => Ok(Level::Green),
            "yellow" => Ok(Level::Yellow),
            "orange" => Ok(Level::Orange),
            "red" => Ok(Level::Red),
            _ => Err(UnknownLevel(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_parse_back() {
        assert!(Level::Green < Level::Yellow && Level::Yellow < Level::Orange && Level::Orange < Level::Red);
        for level in Level::ALL {
            assert_eq!(level.as_str().parse::<Level>().unwrap(), level);
        }
        assert_eq!("None".parse::<Level>().unwrap(), Level::Green);
        assert!("amber".parse::<Level>().is_err());
        assert_eq!(serde_json::to_string(&Level::Orange).unwrap(), "\"orange\"");
    }
}
