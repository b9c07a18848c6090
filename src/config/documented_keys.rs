//! The configuration as documented, checked against the configuration structs: README.md's
//! configuration table has a row for every key of [`Config`] with its default and no row for a
//! key that does not exist; docs/registry.md's example `[registry.networks.<name>]` table shows
//! every per-network setting and no other.

use super::Config;
use ilot_ingest::registry::Network;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every key of `value` below `prefix`, dotted (`intake.qc.history.step_limit_k`), with its
/// value. A map is one key (`mqtt.datastreams`, `registry.networks`: empty by default).
fn flatten(prefix: &str, value: &Value, keys: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            for (name, field) in fields {
                flatten(&if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") }, field, keys);
            }
        }
        _ => {
            keys.insert(prefix.to_owned(), value.clone());
        }
    }
}

/// The cells of a Markdown table row (`\|` inside a cell is not a separator).
fn cells(row: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut chars = row.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => cells.last_mut().unwrap().push(chars.next().unwrap()),
            '|' => cells.push(String::new()),
            _ => cells.last_mut().unwrap().push(c),
        }
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// The keys a row's first cell names: `mqtt.username`, `mqtt.password`; a key without a dot
/// takes the section of the key before it (`intake.qc.min_temperature_c`, `max_temperature_c`).
/// `registry.networks.<name>.*` (a map's entries) is `registry.networks`.
fn row_keys(cell: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for name in cell.split('`').skip(1).step_by(2) {
        let section = keys.last().and_then(|previous| previous.rsplit_once('.')).map(|(section, _)| section);
        let key = match section {
            Some(section) if !name.contains('.') => format!("{section}.{name}"),
            _ => name.to_owned(),
        };
        keys.push(key.split(".<").next().unwrap_or_default().to_owned());
    }
    keys
}

/// Whether a documented default (`30`, `true (off with …)`, `` `./data` ``, `−40`, `—` …) says
/// `value`. An absent value (`None`) may be described in words: "—", "system roots", "the client id".
fn says(documented: &str, value: &Value) -> bool {
    let word = documented.split_whitespace().next().unwrap_or_default().trim_matches('`').replace('−', "-");
    let code = documented.split('`').nth(1).unwrap_or_default();
    match value {
        Value::Null => true,
        Value::Bool(b) => word == b.to_string(),
        Value::Number(n) => word.parse::<f64>().ok() == n.as_f64(),
        Value::String(s) => code == s || code == format!("\"{s}\""),
        Value::Array(_) | Value::Object(_) => serde_json::from_str::<Value>(code).ok().as_ref() == Some(value),
    }
}

#[test]
fn the_readme_configuration_table_lists_every_key_with_its_default() {
    let mut keys = BTreeMap::new();
    flatten("", &serde_json::to_value(Config::default()).unwrap(), &mut keys);
    let readme = include_str!("../../README.md");
    let table = readme.lines().enumerate().skip_while(|(_, l)| !l.starts_with("| key | default | meaning |")).skip(2);
    let mut problems = Vec::new();
    let mut documented = BTreeSet::new();
    for (i, row) in table.take_while(|(_, l)| l.starts_with('|')) {
        let (line, cells) = (i + 1, cells(row));
        let names = row_keys(&cells[0]);
        // One default for all the row's keys, or one each.
        let defaults: Vec<&str> = if names.len() > 1 { cells[1].split(", ").collect() } else { vec![cells[1].as_str()] };
        if defaults.len() != 1 && defaults.len() != names.len() {
            problems.push(format!("README.md:{line}: {} keys, {} defaults", names.len(), defaults.len()));
        }
        for (n, name) in names.iter().enumerate() {
            let default = defaults[n.min(defaults.len() - 1)];
            match keys.get(name) {
                None => problems.push(format!("README.md:{line}: `{name}` is not a configuration key")),
                // A map's entries (`registry.networks.<name>.*`) are documented, not the map's default.
                Some(_) if cells[0].contains(".<") => {}
                Some(value) if !says(default, value) => {
                    problems.push(format!("README.md:{line}: `{name}`: the default is {value}, documented as {default:?}"))
                }
                Some(_) => {}
            }
            documented.insert(name.clone());
        }
    }
    for (key, value) in &keys {
        if !documented.contains(key) {
            problems.push(format!("`{key}` (default {value}) has no row in README.md's configuration table"));
        }
    }
    assert!(documented.len() > 40, "the configuration table was not found in README.md: {documented:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_registry_docs_example_shows_every_network_setting() {
    let Value::Object(settings) = serde_json::to_value(Network::default()).unwrap() else { panic!("a network's settings are a table") };
    let docs = include_str!("../../docs/registry.md");
    let example = docs.split("```toml").nth(1).and_then(|rest| rest.split("```").next()).expect("a TOML example in docs/registry.md");
    // Keys of the example's `[registry.networks.<name>]` tables, given or commented out, and
    // the sub-tables (`[registry.networks.<name>.qc]`).
    let mut shown = BTreeSet::new();
    let mut in_network = false;
    for line in example.lines().map(|l| l.trim_start_matches(['#', ' '])) {
        if let Some(table) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let network = table.strip_prefix("registry.networks.");
            in_network = network.is_some_and(|n| !n.contains('.'));
            shown.extend(network.and_then(|n| n.split_once('.')).map(|(_, sub)| sub.to_owned()));
        } else if let Some((key, _)) = line.split_once(" = ").filter(|_| in_network) {
            shown.insert(key.trim().to_owned());
        }
    }
    let real: BTreeSet<String> = settings.keys().cloned().collect();
    assert_eq!(shown, real, "docs/registry.md's [registry.networks.<name>] example against the settings of a network");
}
