//! The web dashboard's files and settings: the pages (`/` the dashboard, `/public` the citizen
//! view when switched on, `/status` the intake status page), their scripts and styles and the
//! vendored Leaflet under `/assets/`, all compiled into the binary from `dashboards/web/` (no
//! CDN, no build step: the page works offline), and `/ui/config.json` (tiles, refresh
//! interval, whether the citizen view is on). The pages read the reader API with the token the
//! visitor types in; the files themselves hold no data and need none.
//!
//! Every page is sent with a Content-Security-Policy that allows scripts, styles and requests
//! to this server only, and images from the configured tile server.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ilot_ingest::config::ConfigError;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, OnceLock};

use crate::HttpState;

/// `[http.dashboard]`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Base-map tiles, `{z}/{x}/{y}` URL template (OpenStreetMap, IGN Géoplateforme WMTS…). None
    /// (the default): a plain map with no request leaving the page's server.
    pub tiles_url: Option<String>,
    /// Attribution the tile provider requires (shown on the map); required with `tiles_url`.
    pub tiles_attribution: Option<String>,
    pub tiles_max_zoom: u8,
    /// Serve the citizen view (`/public`, `/api/public/map`) without a token.
    pub public_view: bool,
    /// The citizen view's cells: squares of this many metres.
    pub public_cell_m: u32,
    /// Cells with fewer sensors are left out of the citizen view (one sensor's cell would
    /// publish that sensor).
    pub public_min_sensors: u32,
    /// How often an open dashboard refreshes its data, in seconds.
    pub refresh_s: u32,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self { tiles_url: None, tiles_attribution: None, tiles_max_zoom: 19, public_view: false, public_cell_m: 1000, public_min_sensors: 3, refresh_s: 30 }
    }
}

impl DashboardConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.tiles_url {
            let origin = tile_origin(url).ok_or_else(|| ConfigError::new("http.dashboard.tiles_url", format!("{url:?} is not an https:// URL")))?;
            let visible = url.chars().all(|c| c.is_ascii_graphic());
            if !visible || ["{z}", "{x}", "{y}"].iter().any(|p| !url.contains(p)) || origin.contains(['{', '\'', '"', ';', ',']) {
                return Err(ConfigError::new("http.dashboard.tiles_url", format!("{url:?}: a tile URL template with {{z}}, {{x}} and {{y}} in its path")));
            }
            if self.tiles_attribution.as_deref().is_none_or(|a| a.trim().is_empty()) {
                return Err(ConfigError::new("http.dashboard.tiles_attribution", "required with tiles_url: tile providers require their attribution on the map"));
            }
        }
        if !(1..=24).contains(&self.tiles_max_zoom) {
            return Err(ConfigError::new("http.dashboard.tiles_max_zoom", "between 1 and 24"));
        }
        if !(200..=20_000).contains(&self.public_cell_m) {
            return Err(ConfigError::new("http.dashboard.public_cell_m", "between 200 and 20000 metres"));
        }
        if self.public_min_sensors < 2 {
            return Err(ConfigError::new("http.dashboard.public_min_sensors", "at least 2: a cell of one sensor publishes that sensor"));
        }
        if !(2..=3600).contains(&self.refresh_s) {
            return Err(ConfigError::new("http.dashboard.refresh_s", "between 2 and 3600 seconds"));
        }
        Ok(())
    }
}

/// `https://host[:port]` of a tile URL template (what the page's policy lets images come from).
fn tile_origin(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (end > 0).then(|| &url[..8 + end])
}

/// A body kept encoded both ways: plain, and gzip for clients that accept it.
pub struct Encoded {
    plain: bytes::Bytes,
    gzip: bytes::Bytes,
}

impl Encoded {
    pub fn new(plain: Vec<u8>) -> Self {
        let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(plain.len() / 4), flate2::Compression::default());
        encoder.write_all(&plain).expect("gzip into memory");
        let gzip = encoder.finish().expect("gzip into memory");
        Self { plain: plain.into(), gzip: gzip.into() }
    }

    pub fn respond(&self, request: &HeaderMap, content_type: &'static str, cache_control: &'static str) -> Response {
        let accepts = |coding: &str| {
            let (name, q) = coding.split_once(";q=").unwrap_or((coding, "1"));
            name.trim() == "gzip" && q.trim().parse::<f32>().is_ok_and(|q| q > 0.0)
        };
        let gzip = request.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(accepts));
        let body = if gzip { self.gzip.clone() } else { self.plain.clone() };
        let mut response = body.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    }
}

/// The files under `/assets/`, with their types, from `dashboards/web/`.
const ASSETS: [(&str, &str, &[u8]); 10] = [
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../web/app.js")),
    ("pages.js", "text/javascript; charset=utf-8", include_bytes!("../web/pages.js")),
    ("charts.js", "text/javascript; charset=utf-8", include_bytes!("../web/charts.js")),
    ("i18n.js", "text/javascript; charset=utf-8", include_bytes!("../web/i18n.js")),
    ("public.js", "text/javascript; charset=utf-8", include_bytes!("../web/public.js")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../web/style.css")),
    ("status.js", "text/javascript; charset=utf-8", include_bytes!("../web/status.js")),
    ("status.css", "text/css; charset=utf-8", include_bytes!("../web/status.css")),
    ("leaflet/leaflet.js", "text/javascript; charset=utf-8", include_bytes!("../web/vendor/leaflet/leaflet.js")),
    ("leaflet/leaflet.css", "text/css; charset=utf-8", include_bytes!("../web/vendor/leaflet/leaflet.css")),
];

fn assets() -> &'static HashMap<&'static str, (&'static str, Encoded)> {
    static ENCODED: OnceLock<HashMap<&'static str, (&'static str, Encoded)>> = OnceLock::new();
    ENCODED.get_or_init(|| ASSETS.iter().map(|(name, kind, bytes)| (*name, (*kind, Encoded::new(bytes.to_vec())))).collect())
}

/// `GET /assets/{*file}`.
pub async fn get_asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match assets().get(file.as_str()) {
        Some((kind, encoded)) => encoded.respond(&headers, kind, "no-cache"),
        None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    }
}

/// A page, with the policy that confines it to this server (and the tile server's images).
fn page(state: &HttpState, html: &'static str) -> Response {
    let tiles = state.config.dashboard.tiles_url.as_deref().and_then(tile_origin).unwrap_or("");
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: {tiles}; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let mut response = axum::response::Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(&policy).expect("a checked tile origin"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /`: the dashboard.
pub async fn dashboard_page(State(state): State<Arc<HttpState>>) -> Response {
    page(&state, include_str!("../web/index.html"))
}

/// `GET /public`: the citizen view, when `http.dashboard.public_view` is on.
pub async fn public_page(State(state): State<Arc<HttpState>>) -> Response {
    if !state.config.dashboard.public_view {
        return (StatusCode::NOT_FOUND, "the citizen view is off (http.dashboard.public_view)\n").into_response();
    }
    page(&state, include_str!("../web/public.html"))
}

/// `GET /status`: the intake status page (health, counters, latest readings, a SQL box).
pub async fn status_page(State(state): State<Arc<HttpState>>) -> Response {
    page(&state, include_str!("../web/status.html"))
}

/// `GET /ui/config.json`: what the pages need to know before they ask for data.
pub async fn get_config(State(state): State<Arc<HttpState>>) -> Response {
    let d = &state.config.dashboard;
    let tiles = d.tiles_url.as_ref().map(|url| serde_json::json!({ "url": url, "attribution": d.tiles_attribution, "max_zoom": d.tiles_max_zoom }));
    let open = state.config.token.is_none();
    axum::Json(serde_json::json!({ "tiles": tiles, "refresh_s": d.refresh_s, "public_view": d.public_view, "token_required": !open })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_settings_are_checked() {
        let ok = DashboardConfig {
            tiles_url: Some("https://data.geopf.fr/wmts?LAYER=PLAN&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}".into()),
            tiles_attribution: Some("© IGN".into()),
            ..DashboardConfig::default()
        };
        ok.validate().unwrap();
        assert_eq!(tile_origin(ok.tiles_url.as_deref().unwrap()), Some("https://data.geopf.fr"));
        let key = |c: DashboardConfig| c.validate().unwrap_err().key;
        assert_eq!(key(DashboardConfig { tiles_url: Some("http://tile.openstreetmap.org/{z}/{x}/{y}.png".into()), ..ok.clone() }), "http.dashboard.tiles_url");
        assert_eq!(key(DashboardConfig { tiles_url: Some("https://a.tile/{z}/{x}.png".into()), ..ok.clone() }), "http.dashboard.tiles_url");
        assert_eq!(key(DashboardConfig { tiles_url: Some("https://a.tile;x/{z}/{x}/{y}".into()), ..ok.clone() }), "http.dashboard.tiles_url");
        assert_eq!(key(DashboardConfig { tiles_url: Some("https://a.tile/{z}/{x}/{y}\u{7f}".into()), ..ok.clone() }), "http.dashboard.tiles_url");
        assert_eq!(key(DashboardConfig { tiles_url: Some("https://tuiles.é.fr/{z}/{x}/{y}".into()), ..ok.clone() }), "http.dashboard.tiles_url");
        assert_eq!(tile_origin("https://t.example?l={z}&r={y}&c={x}"), Some("https://t.example"));
        assert_eq!(key(DashboardConfig { public_min_sensors: 1, ..ok.clone() }), "http.dashboard.public_min_sensors");
        assert_eq!(key(DashboardConfig { tiles_attribution: None, ..ok.clone() }), "http.dashboard.tiles_attribution");
        assert_eq!(key(DashboardConfig { refresh_s: 1, ..ok.clone() }), "http.dashboard.refresh_s");
        DashboardConfig::default().validate().unwrap();
    }

    #[test]
    fn every_asset_is_compressed_and_the_vendored_leaflet_is_1_9_4() {
        for (name, (_, encoded)) in assets() {
            assert!(!encoded.plain.is_empty() && encoded.gzip.len() < encoded.plain.len(), "{name}");
        }
        let leaflet = std::str::from_utf8(&assets()["leaflet/leaflet.js"].1.plain).unwrap();
        assert!(leaflet.contains("1.9.4"), "the vendored Leaflet is 1.9.4 (dashboards/web/package.json)");
    }
}
