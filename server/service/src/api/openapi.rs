//! `GET /v1/openapi.json`, generated from the handlers' annotations, and a
//! self-contained `/docs` page (no CDN) that renders it. [`document`] is the
//! one place the document is built: the annotations give each operation's own
//! answers, [`add_edge_responses`] those that the layers around every handler
//! give (authentication, rate limits, body limits, load shedding), and
//! [`apply_limits`] the server's configured sizes.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde_json::{Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::config::ServeConfig;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
}

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Driftlock API", description = "Anomaly detection on event streams with compression distances."),
    paths(
        super::detect::detect,
        super::demo::demo_detect,
        super::streams::list_streams,
        super::streams::get_stream,
        super::streams::ingest,
        super::anomalies::list_anomalies,
        super::anomalies::get_anomaly,
        super::anomalies::patch_anomaly,
        super::anomalies::feedback,
        super::incidents::list_incidents,
        super::incidents::get_incident,
        super::incidents::patch_incident,
        super::export::export_many,
        super::export::export_one,
        super::keys::create_key,
        super::keys::list_keys,
        super::keys::revoke_key,
        super::keys::my_keys,
        super::keys::my_usage,
        super::sql::run_sql,
        super::jobs::create_job,
        super::jobs::list_jobs,
        super::jobs::get_job,
        super::jobs::cancel_job,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        openapi_json,
        docs,
    ),
    components(schemas(super::ErrorBody, super::ErrorDetail)),
    modifiers(&SecurityAddon),
    tags(
        (name = "detection"), (name = "streams"), (name = "anomalies"), (name = "incidents"),
        (name = "keys"), (name = "sql"), (name = "jobs"), (name = "health"), (name = "docs")
    )
)]
pub struct ApiDoc;

/// The OpenAPI document for a server with `config`.
pub fn document(config: &ServeConfig) -> Value {
    // Serialising utoipa's own types cannot fail: they hold only JSON values.
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    add_edge_responses(&mut doc);
    apply_limits(&mut doc, config);
    unsigned_bounds(&mut doc);
    doc
}

/// utoipa writes unsigned integers as `int32`/`int64` (whose ranges end at
/// 2^31-1 and 2^63-1, short of u32's and u64's) with a minimum of 0: such a
/// schema gets its type's real maximum, as an exact integer, instead.
pub fn unsigned_bounds(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let unsigned = o
                .get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|m| m >= 0.0);
            let max = match o.get("format").and_then(Value::as_str) {
                Some("int32") if unsigned => Some(u64::from(u32::MAX)),
                Some("int64") if unsigned => Some(u64::MAX),
                _ => None,
            };
            if let Some(max) = max {
                o.remove("format");
                let lower = o
                    .get("maximum")
                    .and_then(Value::as_f64)
                    .is_some_and(|m| m < max as f64);
                if !lower {
                    o.insert("maximum".into(), json!(max));
                }
            }
            o.values_mut().for_each(unsigned_bounds);
        }
        Value::Array(a) => a.iter_mut().for_each(unsigned_bounds),
        _ => {}
    }
}

/// Answers of the layers around the handlers, added to every operation they
/// apply to, with `(status, why)`.
const EVERY_OPERATION: [(u16, &str); 3] = [
    (
        429,
        "Rate limit exceeded (per key, per address, or failed keys per address)",
    ),
    (431, "Request headers over the limit"),
    (500, "Internal error"),
];
const SHED: (u16, &str) = (503, "Overloaded (every request slot taken); retry shortly");
const AUTHENTICATED: (u16, &str) = (401, "Missing, unknown or revoked API key");
const WITH_BODY: [(u16, &str); 3] = [
    (
        400,
        "Malformed JSON, a wrong type, an unknown field or a value out of range",
    ),
    (408, "The request body did not arrive in time"),
    (413, "Request body over the limit"),
];
/// Liveness answers outside the load shedder.
const UNSHED_PATHS: [&str; 1] = ["/healthz"];

fn error_response(why: &str) -> Value {
    json!({
        "description": why,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// Adds the edge's answers where an operation does not document them already.
pub fn add_edge_responses(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut().filter_map(Value::as_object_mut) {
            let mut add: Vec<(u16, &str)> = EVERY_OPERATION.to_vec();
            if !UNSHED_PATHS.contains(&path.as_str()) {
                add.push(SHED);
            }
            if op
                .get("security")
                .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()))
            {
                add.push(AUTHENTICATED);
            }
            if op.contains_key("requestBody") {
                add.extend(WITH_BODY);
            }
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            let Some(responses) = responses else { continue };
            for (status, why) in add {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| error_response(why));
            }
            // A response needs a description; the annotations leave out obvious ones.
            for (status, resp) in responses.iter_mut() {
                if let Some(resp) = resp.as_object_mut()
                    && resp
                        .get("description")
                        .is_none_or(|d| d.as_str().is_none_or(str::is_empty))
                {
                    let reason = status
                        .parse::<u16>()
                        .ok()
                        .and_then(|c| axum::http::StatusCode::from_u16(c).ok())
                        .and_then(|c| c.canonical_reason())
                        .unwrap_or("Response");
                    resp.insert("description".into(), json!(reason));
                }
            }
            let mut sorted: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            responses.extend(sorted);
        }
    }
}

/// The schema at `pointer` (a JSON pointer into the document), if any.
fn schema_mut<'a>(
    doc: &'a mut Value,
    pointer: &str,
) -> Option<&'a mut serde_json::Map<String, Value>> {
    doc.pointer_mut(pointer).and_then(Value::as_object_mut)
}

/// The configured sizes: events per request (the demo's too) and the demo's
/// permutation cap.
pub fn apply_limits(doc: &mut Value, config: &ServeConfig) {
    for name in ["DetectRequest", "IngestRequest"] {
        if let Some(events) = schema_mut(
            doc,
            &format!("/components/schemas/{name}/properties/events"),
        ) {
            events.insert("maxItems".into(), json!(config.max_events_per_request));
        }
    }
    if let Some(events) = schema_mut(doc, "/components/schemas/DemoRequest/properties/events") {
        events.insert("maxItems".into(), json!(config.demo.max_events));
    }
    // The demo's override is the same object with a lower permutation cap.
    let demo_config = doc.pointer("/components/schemas/ConfigOverride").cloned();
    if let Some(mut demo_config) = demo_config {
        let max = config.demo.max_permutations;
        let defaults = super::demo::demo_defaults(max);
        let props = &mut demo_config["properties"];
        props["permutation_count"]["maximum"] = json!(max);
        for (field, default) in [
            ("baseline_size", json!(defaults.baseline_size)),
            ("window_size", json!(defaults.window_size)),
            ("hop_size", json!(defaults.hop_size)),
            ("permutation_count", json!(defaults.permutation_count)),
        ] {
            props[field]["default"] = default;
        }
        if let Some(schemas) = schema_mut(doc, "/components/schemas") {
            schemas.insert("DemoConfigOverride".into(), demo_config);
        }
        if let Some(prop) =
            doc.pointer_mut("/components/schemas/DemoRequest/properties/config_override")
        {
            *prop = json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/DemoConfigOverride"}]});
        }
    }
    // A key's quotas (by role and plan) bound its override; the document gives
    // the largest any key has.
    let q = &config.quotas;
    let all = [&q.admin, &q.free, &q.standard, &q.pro, &q.enterprise];
    let baseline = all.iter().map(|q| q.max_baseline_size).max().unwrap_or(0);
    let window = all.iter().map(|q| q.max_window_size).max().unwrap_or(0);
    if let Some(props) = doc.pointer_mut("/components/schemas/ConfigOverride/properties") {
        for (field, max) in [
            ("baseline_size", baseline),
            ("min_baseline_size", baseline),
            ("window_size", window),
        ] {
            let lower = props[field]["maximum"].as_u64().is_none_or(|m| m > max);
            if props[field].is_object() && lower {
                props[field]["maximum"] = json!(max);
            }
        }
    }
}

/// The OpenAPI document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "docs",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object)))]
pub async fn openapi_json(State(state): State<AppState>) -> impl IntoResponse {
    let json =
        serde_json::to_string_pretty(&document(&state.config)).unwrap_or_else(|_| "{}".into());
    ([(header::CONTENT_TYPE, "application/json")], json)
}

/// A page listing every endpoint of the OpenAPI document, rendered in the
/// browser from `/v1/openapi.json` with no external resources.
#[utoipa::path(get, path = "/docs", tag = "docs",
    responses((status = 200, description = "An HTML page of the operations", content_type = "text/html")))]
pub async fn docs() -> Html<&'static str> {
    Html(DOCS_HTML)
}

const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Driftlock API</title>
<style>
body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em}
.op{border:1px solid #ddd;border-radius:6px;margin:.6em 0;padding:.5em .8em}
.m{display:inline-block;min-width:4.5em;font-weight:bold;text-transform:uppercase}
.get{color:#1a7f37}.post{color:#0969da}.patch{color:#9a6700}.delete{color:#cf222e}
code,pre{background:#f6f8fa;border-radius:4px;padding:.1em .3em}pre{padding:.6em;overflow:auto}
details summary{cursor:pointer}
</style></head><body>
<h1>Driftlock API</h1>
<p>Generated from <a href="/v1/openapi.json">/v1/openapi.json</a>. Authenticate with the <code>X-Api-Key</code> header.</p>
<div id="ops">Loading…</div>
<script>
fetch('/v1/openapi.json').then(r=>r.json()).then(doc=>{
  const esc=s=>String(s??'').replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
  const byTag={};
  for(const [path,item] of Object.entries(doc.paths||{}))
    for(const [method,op] of Object.entries(item)){
      const tag=(op.tags||['other'])[0];(byTag[tag]=byTag[tag]||[]).push({path,method,op});}
  let html='';
  for(const [tag,ops] of Object.entries(byTag)){
    html+=`<h2>${esc(tag)}</h2>`;
    for(const {path,method,op} of ops){
      const resp=Object.entries(op.responses||{}).map(([c,r])=>`<code>${esc(c)}</code> ${esc(r.description)}`).join(', ');
      const params=(op.parameters||[]).map(p=>`<code>${esc(p.name)}</code> (${esc(p.in)})`).join(', ');
      const body=op.requestBody?`<details><summary>request body</summary><pre>${esc(JSON.stringify(op.requestBody.content,null,2))}</pre></details>`:'';
      html+=`<div class="op"><span class="m ${method}">${esc(method)}</span> <code>${esc(path)}</code>
        <div>${esc(op.summary||op.description||'')}</div>
        ${params?`<div>Parameters: ${params}</div>`:''}<div>Responses: ${resp}</div>${body}</div>`;
    }
  }
  html+=`<h2>Schemas</h2><details><summary>components</summary><pre>${esc(JSON.stringify((doc.components||{}).schemas,null,2))}</pre></details>`;
  document.getElementById('ops').innerHTML=html;
}).catch(e=>{document.getElementById('ops').textContent='Could not load the OpenAPI document: '+e;});
</script></body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_lists_every_route() {
        let doc = ApiDoc::openapi();
        let paths: Vec<_> = doc.paths.paths.keys().cloned().collect();
        for p in [
            "/v1/detect",
            "/v1/anomalies",
            "/v1/anomalies/{id}",
            "/v1/keys",
            "/v1/streams/{id}/events",
            "/v1/jobs",
            "/v1/jobs/{id}",
        ] {
            assert!(paths.iter().any(|x| x == p), "{p} missing from {paths:?}");
        }
    }
}
