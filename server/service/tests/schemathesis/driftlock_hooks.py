"""Schemathesis hooks for Driftlock's API: what JSON Schema cannot say.

Loaded by tests/schemathesis.rs (SCHEMATHESIS_HOOKS=driftlock_hooks). Only
cases generated as valid are changed, and only so that they satisfy the
relations the document states in words: a detector config's window fits its
baseline and its hop fits its window, and a SQL query is one a parser
accepts. Invalid cases are left alone, so every check still runs on them.
"""

import os

import schemathesis

# (baseline_size, window_size, hop_size) a config starts from when it leaves
# them out: the demo's small detector, and DetectorConfig's defaults.
DEMO_DEFAULTS = (20, 10, 5)
DEFAULTS = (400, 50, 10)

SQL = [
    "SELECT count(*) AS n FROM anomalies",
    "SELECT stream_id, max(ncd) AS top FROM anomalies GROUP BY stream_id",
    "SELECT id, p_value FROM anomalies ORDER BY p_value LIMIT 5",
]


def _is_int(v):
    """An integer as JSON Schema counts them (`587.0` is one)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return float(v).is_integer()


def _fit_config(config, defaults):
    """Makes a schema-valid config satisfy the cross-field rules."""
    if not isinstance(config, dict):
        return
    b, w, h = defaults
    b = config.get("baseline_size", b)
    w = config.get("window_size", w)
    h = config.get("hop_size", h)
    if not all(_is_int(x) for x in (b, w, h)):
        return
    b, w, h = int(b), int(w), int(h)
    if w > b:
        w = b
        config["window_size"] = w
    if h > w:
        config["hop_size"] = w
    m = config.get("min_baseline_size")
    if _is_int(m) and int(m) != 0 and not 20 <= int(m) <= b:
        config["min_baseline_size"] = 0


# The id of the key the run authenticates with (tests/schemathesis.rs).
OWN_KEY_ID = os.environ.get("DRIFTLOCK_OWN_KEY_ID")


@schemathesis.hook
def filter_case(context, case):
    """Never revoke the run's own key: every later case would be a 401."""
    if case.operation.method.upper() == "DELETE" and case.operation.path == "/v1/keys/{id}":
        return (case.path_parameters or {}).get("id") != OWN_KEY_ID
    return True


@schemathesis.hook
def map_case(context, case):
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return case
    body = case.body
    if not isinstance(body, dict):
        return case
    path = case.operation.path
    if path == "/v1/demo/detect":
        _fit_config(body.get("config_override"), DEMO_DEFAULTS)
    elif path in ("/v1/detect", "/v1/streams/{id}/events"):
        _fit_config(body.get("config_override"), DEFAULTS)
    elif path == "/v1/jobs":
        _fit_config(body.get("config"), DEFAULTS)
    elif path == "/v1/sql" and isinstance(body.get("query"), str):
        body["query"] = SQL[len(body["query"]) % len(SQL)]
    return case
