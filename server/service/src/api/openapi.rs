//! `GET /v1/openapi.json`, generated from the handlers' annotations, and a
//! self-contained `/docs` page (no CDN) that renders it.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
        super::jobs::create_job,
        super::jobs::list_jobs,
        super::jobs::get_job,
        super::jobs::cancel_job,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
    ),
    components(schemas(super::ErrorBody, super::ErrorDetail)),
    modifiers(&SecurityAddon),
    tags(
        (name = "detection"), (name = "streams"), (name = "anomalies"), (name = "keys"), (name = "jobs"), (name = "health")
    )
)]
pub struct ApiDoc;

/// The OpenAPI document.
pub async fn openapi_json() -> impl IntoResponse {
    let json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into());
    ([(header::CONTENT_TYPE, "application/json")], json)
}

/// A page listing every endpoint of the OpenAPI document, rendered in the
/// browser from `/v1/openapi.json` with no external resources.
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
