//! Topic templates: which MQTT topics the service subscribes to, and which network, sensor or
//! SensorThings Datastream a concrete topic names.
//!
//! A template is an MQTT topic whose levels may hold one placeholder each, `{network}`,
//! `{sensor}` or `{datastream}`, as the whole level or with a literal prefix and/or suffix:
//! `ilot/{network}/{sensor}/reading`, `v1.1/Datastreams({datastream})/Observations`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A parsed topic template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate {
    template: String,
    levels: Vec<Level>,
}

/// What a concrete topic names, by the template it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMatch {
    pub network: Option<String>,
    pub sensor: Option<String>,
    pub datastream: Option<String>,
}

/// Why a topic template is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicTemplateError {
    #[error("topic template level {level} is empty (no leading, trailing or double `/`)")]
    EmptyLevel { level: usize },
    #[error("topic template contains the MQTT wildcard `{wildcard}`; write a placeholder instead")]
    Wildcard { wildcard: char },
    #[error("unknown placeholder `{{{name}}}` in topic template (known: {{network}}, {{sensor}}, {{datastream}})")]
    UnknownPlaceholder { name: String },
    #[error("placeholder `{{{name}}}` appears more than once in topic template")]
    DuplicatePlaceholder { name: &'static str },
    #[error("topic template level {level:?} holds more than one placeholder")]
    SeveralPlaceholdersInLevel { level: String },
    #[error("topic template level {level:?} has an unmatched `{{` or `}}`")]
    UnbalancedBrace { level: String },
    #[error("topic template names neither {{sensor}} nor {{datastream}}")]
    NoSensorOrDatastream,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    Literal(String),
    Placeholder { prefix: String, field: Field, suffix: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Network,
    Sensor,
    Datastream,
}

impl Field {
    const ALL: [Field; 3] = [Field::Network, Field::Sensor, Field::Datastream];

    fn name(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Sensor => "sensor",
            Self::Datastream => "datastream",
        }
    }
}

impl TopicTemplate {
    /// Placeholders, each a whole MQTT level or inside one level with literal prefix/suffix:
    /// `{network}`, `{sensor}`, `{datastream}`. Examples: "ilot/{network}/{sensor}/reading",
    /// "v1.1/Datastreams({datastream})/Observations". Errors on unknown placeholder, duplicate
    /// placeholder, several placeholders in one level, unbalanced braces, MQTT wildcards in the
    /// template, empty levels, neither {sensor} nor {datastream} present.
    pub fn parse(template: &str) -> Result<Self, TopicTemplateError> {
        if let Some(wildcard) = template.chars().find(|c| matches!(c, '+' | '#')) {
            return Err(TopicTemplateError::Wildcard { wildcard });
        }
        let levels = template
            .split('/')
            .enumerate()
            .map(|(index, level)| match level {
                "" => Err(TopicTemplateError::EmptyLevel { level: index }),
                level => parse_level(level),
            })
            .collect::<Result<Vec<_>, _>>()?;
        for field in Field::ALL {
            let count = levels.iter().filter(|level| level.field() == Some(field)).count();
            if count > 1 {
                return Err(TopicTemplateError::DuplicatePlaceholder { name: field.name() });
            }
        }
        if !levels.iter().any(|level| matches!(level.field(), Some(Field::Sensor | Field::Datastream))) {
            return Err(TopicTemplateError::NoSensorOrDatastream);
        }
        Ok(Self { template: template.to_owned(), levels })
    }

    /// The MQTT subscription filter: each level holding a placeholder becomes `+`
    /// ("ilot/+/+/reading", "v1.1/+/Observations").
    pub fn subscription_filter(&self) -> String {
        let levels: Vec<&str> = self
            .levels
            .iter()
            .map(|level| match level {
                Level::Literal(text) => text.as_str(),
                Level::Placeholder { .. } => "+",
            })
            .collect();
        levels.join("/")
    }

    /// Match a concrete topic; None when it does not fit (another number of levels, another
    /// literal, a missing prefix or suffix, or an empty placeholder value).
    pub fn match_topic(&self, topic: &str) -> Option<TopicMatch> {
        let mut found = TopicMatch { network: None, sensor: None, datastream: None };
        let mut actual_levels = topic.split('/');
        for level in &self.levels {
            let actual = actual_levels.next()?;
            match level {
                Level::Literal(text) => {
                    if text != actual {
                        return None;
                    }
                }
                Level::Placeholder { prefix, field, suffix } => {
                    let value = actual.strip_prefix(prefix.as_str())?.strip_suffix(suffix.as_str())?;
                    if value.is_empty() {
                        return None;
                    }
                    let slot = match field {
                        Field::Network => &mut found.network,
                        Field::Sensor => &mut found.sensor,
                        Field::Datastream => &mut found.datastream,
                    };
                    *slot = Some(value.to_owned());
                }
            }
        }
        actual_levels.next().is_none().then_some(found)
    }
}

impl Level {
    fn field(&self) -> Option<Field> {
        match self {
            Self::Literal(_) => None,
            Self::Placeholder { field, .. } => Some(*field),
        }
    }
}

/// One non-empty level: a literal, or `prefix{name}suffix`.
fn parse_level(level: &str) -> Result<Level, TopicTemplateError> {
    let unbalanced = || TopicTemplateError::UnbalancedBrace { level: level.to_owned() };
    let Some((prefix, rest)) = level.split_once('{') else {
        return if level.contains('}') { Err(unbalanced()) } else { Ok(Level::Literal(level.to_owned())) };
    };
    let (name, suffix) = rest.split_once('}').ok_or_else(unbalanced)?;
    if suffix.contains('{') {
        return Err(TopicTemplateError::SeveralPlaceholdersInLevel { level: level.to_owned() });
    }
    if prefix.contains('}') || name.contains('{') || suffix.contains('}') {
        return Err(unbalanced());
    }
    let field = Field::ALL
        .into_iter()
        .find(|field| field.name() == name)
        .ok_or_else(|| TopicTemplateError::UnknownPlaceholder { name: name.to_owned() })?;
    Ok(Level::Placeholder { prefix: prefix.to_owned(), field, suffix: suffix.to_owned() })
}

impl FromStr for TopicTemplate {
    type Err = TopicTemplateError;

    fn from_str(template: &str) -> Result<Self, Self::Err> {
        Self::parse(template)
    }
}

/// The template as written.
impl fmt::Display for TopicTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> TopicTemplate {
        TopicTemplate::parse(text).expect(text)
    }

    fn names(network: Option<&str>, sensor: Option<&str>, datastream: Option<&str>) -> Option<TopicMatch> {
        let owned = |value: Option<&str>| value.map(str::to_owned);
        Some(TopicMatch { network: owned(network), sensor: owned(sensor), datastream: owned(datastream) })
    }

    #[test]
    fn subscription_filters_replace_placeholder_levels_with_plus() {
        assert_eq!(template("ilot/{network}/{sensor}/reading").subscription_filter(), "ilot/+/+/reading");
        assert_eq!(
            template("v1.1/Datastreams({datastream})/Observations").subscription_filter(),
            "v1.1/+/Observations"
        );
        assert_eq!(template("tls/sensors/{sensor}").subscription_filter(), "tls/sensors/+");
    }

    #[test]
    fn whole_level_placeholders_capture_the_level() {
        let t = template("ilot/{network}/{sensor}/reading");
        assert_eq!(t.match_topic("ilot/tls/tls-042/reading"), names(Some("tls"), Some("tls-042"), None));
        for other in [
            "ilot/tls/tls-042",
            "ilot/tls/tls-042/reading/x",
            "ilot/tls//reading",
            "ilot/tls/tls-042/status",
            "x/tls/a/reading",
            "",
        ] {
            assert_eq!(t.match_topic(other), None, "{other}");
        }
    }

    #[test]
    fn placeholders_inside_a_level_strip_prefix_and_suffix() {
        let t = template("v1.1/Datastreams({datastream})/Observations");
        assert_eq!(t.match_topic("v1.1/Datastreams(17)/Observations"), names(None, None, Some("17")));
        assert_eq!(t.match_topic("v1.1/Datastreams('ab')/Observations"), names(None, None, Some("'ab'")));
        for other in
            ["v1.1/Datastreams()/Observations", "v1.1/Things(17)/Observations", "v1.1/Datastreams(17/Observations"]
        {
            assert_eq!(t.match_topic(other), None, "{other}");
        }
        let overlapping = template("s/a{sensor}a");
        assert_eq!(overlapping.match_topic("s/aa"), None);
        assert_eq!(overlapping.match_topic("s/aba"), names(None, Some("b"), None));
    }

    #[test]
    fn display_and_from_str_round_trip() {
        let text = "city/{network}/node-{sensor}";
        let parsed: TopicTemplate = text.parse().expect("valid");
        assert_eq!(parsed.to_string(), text);
        assert_eq!(parsed.match_topic("city/rns/node-7"), names(Some("rns"), Some("7"), None));
    }

    #[test]
    fn invalid_templates_are_refused_with_a_typed_error() {
        use TopicTemplateError as E;
        let unbalanced = |level: &str| E::UnbalancedBrace { level: level.to_owned() };
        for (text, error) in [
            ("ilot/{netwrok}/{sensor}", E::UnknownPlaceholder { name: "netwrok".to_owned() }),
            ("ilot/{}/{sensor}", E::UnknownPlaceholder { name: String::new() }),
            ("ilot/{sensor}/{sensor}", E::DuplicatePlaceholder { name: "sensor" }),
            ("ilot/+/{sensor}", E::Wildcard { wildcard: '+' }),
            ("ilot/{sensor}/#", E::Wildcard { wildcard: '#' }),
            ("ilot//{sensor}", E::EmptyLevel { level: 1 }),
            ("/ilot/{sensor}", E::EmptyLevel { level: 0 }),
            ("ilot/{sensor}/", E::EmptyLevel { level: 2 }),
            ("", E::EmptyLevel { level: 0 }),
            ("ilot/{network}/reading", E::NoSensorOrDatastream),
            ("ilot/{network}-{sensor}", E::SeveralPlaceholdersInLevel { level: "{network}-{sensor}".to_owned() }),
            ("ilot/{sensor", unbalanced("{sensor")),
            ("ilot/sensor}", unbalanced("sensor}")),
            ("ilot/{{sensor}}", unbalanced("{{sensor}}")),
            ("ilot/}{sensor}", unbalanced("}{sensor}")),
        ] {
            assert_eq!(TopicTemplate::parse(text), Err(error), "{text}");
        }
        assert_eq!(
            TopicTemplate::parse("a/{site}/{sensor}").map_err(|e| e.to_string()),
            Err("unknown placeholder `{site}` in topic template (known: {network}, {sensor}, {datastream})".to_owned())
        );
    }
}
