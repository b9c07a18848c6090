//! The docs' SQL examples run, so that they cannot drift from the code: every statement of
//! docs/sql.md's ```sql blocks, and every `ilot sql "…"` command and `/api/sql` curl body of
//! README.md's code blocks, taken from the Markdown as written, runs through `ilot sql` on the
//! store of a demo (`ilot demo --days-back 4 --acceleration 0 --seed 1`: 4 days, so that
//! `ibm`'s 3-day windows have a day whatever the hour) and returns rows; a value an example
//! states after it (`SELECT dew_point(30.0, 55.0);   -- 19.97 (°C)`) is the value it returns.
//!
//! A ```sql block's info string may say why its examples are not run as such: `duckdb` (another
//! engine's SQL, not run) or `no-demo-rows` (about data a demo has none of, a crowdsourced
//! network's CrowdQC+ results: it must run, and may return no rows).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

/// One SQL statement of the docs.
struct Example {
    /// `docs/sql.md:283`: where its first line is.
    place: String,
    sql: String,
    /// What a comment after it on its last line says it returns (`37.07`, `2025-12-31`).
    stated: Option<String>,
    /// It may return no rows on the demo's data.
    may_be_empty: bool,
}

/// The fenced code blocks of a Markdown text: (info string, line number of the block's first
/// line, its lines).
fn code_blocks(markdown: &str) -> Vec<(String, usize, Vec<&str>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, usize, Vec<&str>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (line.trim_start().strip_prefix("```"), open.take()) {
            (Some(_), Some(block)) => blocks.push(block),
            (Some(info), None) => open = Some((info.trim().to_owned(), i + 2, Vec::new())),
            (None, Some(mut block)) => {
                block.2.push(line);
                open = Some(block);
            }
            (None, None) => {}
        }
    }
    blocks
}

/// The statements of a ```sql block starting at line `first_line` of `file`, separated by `;`
/// (outside quotes), without their comments.
fn statements(file: &str, first_line: usize, lines: &[&str], may_be_empty: bool) -> Vec<Example> {
    let mut examples = Vec::new();
    let (mut sql, mut start, mut quoted) = (String::new(), None, false);
    for (i, line) in lines.iter().enumerate() {
        let mut ended_here = false;
        for (j, c) in line.char_indices() {
            match c {
                '\'' => quoted = !quoted,
                '-' if !quoted && line[j..].starts_with("--") => {
                    if ended_here {
                        let example: &mut Example = examples.last_mut().unwrap();
                        example.stated = line[j + 2..].split_whitespace().next().map(str::to_owned);
                    }
                    break;
                }
                ';' if !quoted => {
                    if let Some(line) = start.take() {
                        let sql = std::mem::take(&mut sql).trim().to_owned();
                        examples.push(Example { place: format!("{file}:{line}"), sql, stated: None, may_be_empty });
                        ended_here = true;
                    }
                    continue;
                }
                _ => {}
            }
            if !c.is_whitespace() {
                start.get_or_insert(first_line + i);
            }
            if start.is_some() {
                sql.push(c);
            }
        }
        if start.is_some() {
            sql.push('\n');
        }
    }
    if let Some(line) = start {
        examples.push(Example { place: format!("{file}:{line}"), sql: sql.trim().to_owned(), stated: None, may_be_empty });
    }
    examples
}

/// Every statement of docs/sql.md's ```sql blocks.
fn sql_reference_examples() -> Vec<Example> {
    let markdown = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/sql.md")).unwrap();
    let mut examples = Vec::new();
    for (info, first_line, lines) in code_blocks(&markdown) {
        let mut words = info.split_whitespace();
        if words.next() != Some("sql") {
            continue;
        }
        match words.next() {
            None => examples.extend(statements("docs/sql.md", first_line, &lines, false)),
            Some("no-demo-rows") => examples.extend(statements("docs/sql.md", first_line, &lines, true)),
            Some("duckdb") => {}
            Some(other) => panic!("docs/sql.md:{}: unknown marker {other:?} on a ```sql block", first_line - 1),
        }
    }
    examples
}

/// The first double-quoted text after `marker` in `command` (`ilot sql --format csv "…"`).
fn quoted_after<'a>(command: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &command[command.find(marker)? + marker.len()..];
    let rest = &rest[rest.find('"')? + 1..];
    rest.find('"').map(|end| &rest[..end])
}

/// The queries of README.md's code blocks: `ilot sql "…"` (or `cargo run … -- sql "…"`) and
/// the body of a `curl … --data "…" …/api/sql` command.
fn readme_examples() -> Vec<Example> {
    let markdown = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut examples = Vec::new();
    for (_, first_line, lines) in code_blocks(&markdown) {
        // Commands continued over several lines (`\` at the end) are one command.
        let mut command = String::new();
        let mut start = first_line;
        for (i, line) in lines.iter().enumerate() {
            if command.is_empty() {
                start = first_line + i;
            }
            let line = line.trim();
            match line.strip_suffix('\\') {
                Some(continued) => {
                    command.push_str(continued);
                    command.push(' ');
                    continue;
                }
                None => command.push_str(line),
            }
            let command = std::mem::take(&mut command);
            let sql = if command.starts_with("curl ") && command.contains("/api/sql") {
                quoted_after(&command, "--data")
            } else {
                quoted_after(&command, "ilot sql").or_else(|| quoted_after(&command, "-- sql"))
            };
            if let Some(sql) = sql {
                examples.push(Example { place: format!("README.md:{start}"), sql: sql.to_owned(), stated: None, may_be_empty: false });
            }
        }
    }
    examples
}

/// Why `example` does not hold on the store of `config`, if it does not.
fn check(config: &Path, example: &Example) -> Result<(), String> {
    let rows = try_cli_sql(config, &example.sql)?;
    if rows.is_empty() && !example.may_be_empty {
        return Err("no rows on the demo's data".into());
    }
    if let Some(stated) = &example.stated {
        let values: Vec<&serde_json::Value> = rows.iter().flat_map(|r| r.as_object().unwrap().values()).collect();
        let got = match values[..] {
            // A number as precise as the docs state it.
            [serde_json::Value::Number(n)] => {
                let decimals = stated.split_once('.').map_or(0, |(_, d)| d.len());
                format!("{:.decimals$}", n.as_f64().unwrap())
            }
            [serde_json::Value::String(s)] => s.chars().take(stated.len()).collect(),
            _ => format!("{rows:?}"),
        };
        if &got != stated {
            return Err(format!("returns {got}, the docs say {stated}"));
        }
    }
    Ok(())
}

/// The demo's catch-up, stored: the number of readings it says it published are in `readings`.
async fn caught_up(demo: &Service) {
    let line = demo.wait_line("demo: caught up", Duration::from_secs(120));
    let published: i64 = line.split_whitespace().nth(3).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no count in {line:?}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = demo.count("SELECT count(*) FROM readings").await;
        if stored >= published {
            return;
        }
        assert!(Instant::now() < deadline, "{stored} readings stored of the {published} the demo published");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sql_example_of_the_docs_runs_on_the_demo_data() {
    let (reference, readme) = (sql_reference_examples(), readme_examples());
    assert!(reference.len() >= 25 && readme.len() >= 3, "examples not found: {} in docs/sql.md, {} in README.md", reference.len(), readme.len());

    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path(), 0, free_port());
    let args = ["--sensors", "30", "--days-back", "4", "--acceleration", "0", "--seed", "1"];
    let mut demo = Service::demo(&config, &args, &dir.path().join("demo.log")).unwrap();
    caught_up(&demo).await;
    demo.stop();

    let failures: Vec<String> = reference
        .iter()
        .chain(&readme)
        .filter_map(|e| check(&config, e).err().map(|error| format!("{}: {}\n  {}", e.place, e.sql.replace('\n', "\n  "), error.trim())))
        .collect();
    assert!(failures.is_empty(), "{} of {} examples fail on the demo's data:\n\n{}", failures.len(), reference.len() + readme.len(), failures.join("\n\n"));
}
