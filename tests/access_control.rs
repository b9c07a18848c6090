//! One security model for every surface, walked from the router's own route list: every
//! `/api/*` route refuses a request without a token or with a wrong one, every admin route
//! refuses the reader's token, and each accepts its scope. The PostgreSQL endpoint refuses a
//! wrong password and an unknown user, and admits `reader` and `admin`. The SQL rate limit is
//! one quota per client across HTTP and PostgreSQL (a driver's Parse and Execute are one query).
//! CORS is closed.

mod support;

use axum::http::Method;
use ilot_dashboards::auth::Access;
use ilot_dashboards::server::api_routes;
use std::process::Command;
use std::time::Duration;
use support::*;

const READER: &str = "reader-token-1";
const ADMIN: &str = "admin-token-2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_the_postgresql_endpoint_refuse_who_is_not_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let pg = free_port();
    let mut spec = ServiceSpec::new(dir.path(), Broker::Embedded(free_port()), &unique("acl"));
    (spec.http_token, spec.http_admin_token) = (Some(READER.into()), Some(ADMIN.into()));
    spec.extra_toml = format!("[postgres]\nenabled = true\nlisten = \"127.0.0.1:{pg}\"\n");
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;

    let client = reqwest::Client::new();
    let status = |method: Method, path: String, token: Option<&'static str>| {
        let mut request = client.request(method, format!("{}{path}", svc.base())).header("content-type", "application/json").body("{}");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let routes = api_routes();
    assert!(routes.len() > 20, "the route list: {}", routes.len());
    for route in routes {
        // Every `{param}` filled with a value that names nothing.
        let path = route.path.split('/').map(|part| if part.starts_with('{') { "nothing" } else { part }).collect::<Vec<_>>().join("/");
        let (method, what) = (route.method.clone(), format!("{} {}", route.method, route.path));
        let (none, wrong) = (status(method.clone(), path.clone(), None).await, status(method.clone(), path.clone(), Some("wrong")).await);
        let (reader, admin) = (status(method.clone(), path.clone(), Some(READER)).await, status(method.clone(), path.clone(), Some(ADMIN)).await);
        match route.access {
            Access::Public => assert!(![none, reader].contains(&401), "{what}: public, {none}/{reader}"),
            Access::Reader => {
                assert_eq!((none, wrong), (401, 401), "{what}: no token, wrong token");
                assert!(![401, 403].contains(&reader) && ![401, 403].contains(&admin), "{what}: reader {reader}, admin {admin}");
            }
            Access::Admin => {
                assert_eq!((none, wrong, reader), (401, 401, 401), "{what}: no token, wrong token, the reader's token");
                assert!(![401, 403].contains(&admin), "{what}: admin {admin}");
            }
        }
    }

    // CORS closed: no origin is allowed to read the API from a browser.
    let preflight = client
        .request(Method::OPTIONS, format!("{}/api/sql", svc.base()))
        .header("origin", "https://elsewhere.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    let cross = client.get(format!("{}/api/networks", svc.base())).header("origin", "https://elsewhere.example").bearer_auth(READER).send().await.unwrap();
    for response in [&preflight, &cross] {
        assert!(response.headers().get("access-control-allow-origin").is_none(), "{:?}", response.headers());
    }

    let psql = |user: &str, password: &str| {
        Command::new("psql")
            .args([&format!("host=127.0.0.1 port={pg} dbname=ilot user={user} sslmode=disable"), "-w", "-c", "SELECT 1 AS one"])
            .env("PGPASSWORD", password)
            .output()
            .unwrap()
    };
    for (user, password) in [("reader", "wrong"), ("admin", READER), ("nobody", ADMIN)] {
        let out = psql(user, password);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(&format!("password authentication failed for user \"{user}\"")), "{user}: {err}");
    }
    for (user, password) in [("reader", READER), ("admin", ADMIN)] {
        let out = psql(user, password);
        assert!(out.status.success(), "{user}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_has_one_sql_quota_across_http_and_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let pg = free_port();
    let mut spec = ServiceSpec::new(dir.path(), Broker::Embedded(free_port()), &unique("rate"));
    spec.extra_toml = format!("[postgres]\nenabled = true\nlisten = \"127.0.0.1:{pg}\"\n\n[query]\nper_client_per_minute = 3\n");
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let post = || client.post(format!("{}/api/sql", svc.base())).body("SELECT 1").send();
    assert_eq!(post().await.unwrap().status().as_u16(), 200);
    // A driver's parameterised query: Parse then Execute, one query.
    let driver = format!(
        "import psycopg\nwith psycopg.connect(host='127.0.0.1', port={pg}, dbname='ilot', user='reader', sslmode='disable') as c:\n    \
         print(c.execute('SELECT %s::int AS n', (7,)).fetchone()[0])"
    );
    let out = Command::new("python3").args(["-c", &driver]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7", "the second query, over PostgreSQL's extended protocol: {}", String::from_utf8_lossy(&out.stderr));
    let psql = || {
        Command::new("psql").args([&format!("host=127.0.0.1 port={pg} dbname=ilot user=reader sslmode=disable"), "-w", "-c", "SELECT 1"]).output().unwrap()
    };
    assert!(psql().status.success(), "the third query, over PostgreSQL");
    let refused = post().await.unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(refused.text().await.unwrap().contains("query.per_client_per_minute"));
    let out = psql();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("too many queries from this client"), "{err}");
}
