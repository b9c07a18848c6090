//! `GET /api/openapi.json` (no token): the OpenAPI 3.1 description of every `/api/*` route,
//! hand-written in `assets/openapi.json`. A test keeps it and the route table
//! ([`crate::server::api_routes`]) in step, in both directions.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as shipped.
pub const DOCUMENT: &str = include_str!("../assets/openapi.json");

pub async fn get_openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Access;
    use crate::server::api_routes;
    use std::collections::BTreeSet;

    const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

    fn document() -> serde_json::Value {
        serde_json::from_str(DOCUMENT).expect("assets/openapi.json is JSON")
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1");
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object().unwrap().keys().filter(|k| METHODS.contains(&k.as_str())).map(move |m| (m.clone(), path.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = api_routes().iter().map(|r| (r.method.as_str().to_ascii_lowercase(), r.path.to_owned())).collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(undocumented.is_empty(), "routes missing from assets/openapi.json: {undocumented:?}");
        assert!(unrouted.is_empty(), "documented but not routed: {unrouted:?}");
    }

    #[test]
    fn security_and_references_match_the_routes() {
        let doc = document();
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["reader"]["scheme"], "bearer");
        assert_eq!(schemes["admin"]["scheme"], "bearer");
        for r in api_routes() {
            let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
            let security: Vec<String> = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{} {}: no security", r.method, r.path))
                .iter()
                .flat_map(|s| s.as_object().unwrap().keys().cloned())
                .collect();
            let expected: &[&str] = match r.access {
                Access::Public => &[],
                Access::Reader => &["reader", "admin"],
                Access::Admin => &["admin"],
            };
            assert_eq!(security, expected, "{} {}", r.method, r.path);
            let success = op["responses"].as_object().is_some_and(|codes| codes.keys().any(|code| code.starts_with('2')));
            assert!(success, "{} {}: success response", r.method, r.path);
            for name in r.path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
                let declared = op["parameters"].as_array().into_iter().flatten().any(|p| {
                    let p = resolve(&doc, p);
                    p["in"] == "path" && p["name"] == name
                });
                assert!(declared, "{} {}: path parameter {name} is not declared", r.method, r.path);
            }
        }
        // Every local $ref points somewhere.
        fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        for r in all {
            assert!(!resolve(&doc, &serde_json::json!({ "$ref": r })).is_null(), "dangling $ref {r}");
        }
    }

    fn resolve<'a>(doc: &'a serde_json::Value, v: &'a serde_json::Value) -> &'a serde_json::Value {
        match v["$ref"].as_str() {
            Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or(&serde_json::Value::Null),
            None => v,
        }
    }
}
