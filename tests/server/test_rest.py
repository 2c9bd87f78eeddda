"""The REST API, spoken to over HTTP by httpx against a real `evolvelab serve` process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from served import Served, start_server, write_pipeline

pytestmark = pytest.mark.slow


def _add(served: Served, tenant: str, user: str, *texts: str) -> list[str]:
    body = {"scope": {"user_id": user},
            "messages": [{"role": "user", "name": user, "content": t} for t in texts]}
    response = httpx.post(f"{served.url}/v1/events", json=body, headers=served.headers(tenant))
    assert response.status_code == 200, response.text
    return response.json()["ids"]


def test_health_and_docs_need_no_key(two_tenants: Served) -> None:
    assert httpx.get(f"{two_tenants.url}/healthz").json() == {"status": "ok"}
    assert httpx.head(f"{two_tenants.url}/healthz").status_code == 200  # what load balancers send
    spec = httpx.get(f"{two_tenants.url}/openapi.json").json()
    assert {"/v1/events", "/v1/search", "/v1/notes", "/v1/notes/{note_id}",
            "/v1/notes/{note_id}/history", "/v1/scopes", "/v1/outcomes", "/v1/export"} <= set(spec["paths"])
    assert httpx.get(f"{two_tenants.url}/docs").status_code == 200


def test_the_openapi_description_has_the_key_scheme_and_the_real_error_shape(two_tenants: Served) -> None:
    spec = httpx.get(f"{two_tenants.url}/openapi.json").json()
    assert spec["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    events = spec["paths"]["/v1/events"]["post"]
    assert events["security"] == [{"bearer": []}]
    for status in ("401", "422"):
        ref = events["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error"
    assert "HTTPValidationError" not in json.dumps(spec)
    assert "security" not in spec["paths"]["/healthz"]["get"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_every_asset_from_the_server_itself(two_tenants: Served, page: str) -> None:
    import re

    html = httpx.get(f"{two_tenants.url}{page}").text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", html)
    urls = [u for pair in assets for u in pair if u]
    assert urls and not [u for u in urls if "//" in u], urls  # no other host, no CDN
    for url in urls:
        response = httpx.get(f"{two_tenants.url}{url}")
        assert response.status_code == 200 and len(response.content) > 100, url


@pytest.mark.parametrize("method, path", [
    ("POST", "/v1/events"), ("POST", "/v1/search"), ("GET", "/v1/notes"),
    ("GET", "/v1/notes/n_1"), ("PATCH", "/v1/notes/n_1"), ("DELETE", "/v1/notes/n_1"),
    ("GET", "/v1/notes/n_1/history"), ("DELETE", "/v1/scopes"), ("POST", "/v1/outcomes"),
    ("GET", "/v1/export"), ("POST", "/mcp"),
])  # fmt: skip
def test_every_endpoint_refuses_a_missing_or_wrong_key(two_tenants: Served, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer evl_wrong"}, {"Authorization": "Basic abc"}):
        response = httpx.request(method, f"{two_tenants.url}{path}", headers=headers, json={})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_the_lifecycle_over_http(two_tenants: Served) -> None:
    url, acme = two_tenants.url, two_tenants.headers("acme")
    ids = _add(two_tenants, "acme", "ana", "I adopted a cat named Miso.", "I work at a bakery.")
    assert len(ids) == 2
    hits = httpx.post(f"{url}/v1/search", headers=acme,
                      json={"scope": {"user_id": "ana"}, "query": "cat name", "k": 1}).json()
    assert hits["query_id"].startswith("q_")
    (hit,) = hits["hits"]
    assert hit["id"] == ids[0] and "Miso" in hit["content"] and hit["channel"] == "bm25"
    assert hit["source_ids"] and isinstance(hit["score"], float)

    note = httpx.get(f"{url}/v1/notes/{ids[0]}", params={"user_id": "ana"}, headers=acme).json()
    assert note["user_id"] == "ana" and note["version"] == 1
    page = httpx.get(f"{url}/v1/notes", params={"user_id": "ana", "limit": 1}, headers=acme).json()
    second = httpx.get(f"{url}/v1/notes", headers=acme,
                       params={"user_id": "ana", "limit": 1, "cursor": page["next_cursor"]}).json()
    assert {page["notes"][0]["id"], second["notes"][0]["id"]} == set(ids)
    assert second["next_cursor"] is None

    fixed = httpx.patch(f"{url}/v1/notes/{ids[0]}", params={"user_id": "ana"}, headers=acme,
                        json={"content": "Ana's cat is called Mochi."}).json()
    assert fixed["version"] == 2 and fixed["content"] == "Ana's cat is called Mochi."
    history = httpx.get(f"{url}/v1/notes/{ids[0]}/history", params={"user_id": "ana"}, headers=acme).json()
    assert [v["content"] for v in history["versions"]] == ["ana: I adopted a cat named Miso.",
                                                           "Ana's cat is called Mochi."]
    outcome = httpx.post(f"{url}/v1/outcomes", headers=acme, json={
        "scope": {"user_id": "ana"}, "query_id": hits["query_id"], "success": True, "used_ids": [ids[0]]})
    assert outcome.json() == {"credited": 1, "incomplete": None}
    note = httpx.get(f"{url}/v1/notes/{ids[0]}", params={"user_id": "ana"}, headers=acme).json()
    assert note["success_count"] == 1

    deleted = httpx.delete(f"{url}/v1/notes/{ids[1]}", params={"user_id": "ana"}, headers=acme)
    assert deleted.json() == {"deleted": 1}
    assert httpx.delete(f"{url}/v1/notes/{ids[1]}", params={"user_id": "ana"}, headers=acme).status_code == 404


def test_one_tenant_never_sees_or_changes_anothers_memory(two_tenants: Served) -> None:
    url, globex = two_tenants.url, two_tenants.headers("globex")
    (note_id,) = _add(two_tenants, "acme", "carol", "Carol's locker code is 7788.")
    hits = httpx.post(f"{url}/v1/search", headers=globex,
                      json={"scope": {"user_id": "carol"}, "query": "locker code"}).json()
    assert hits["hits"] == []
    for method in ("GET", "DELETE"):
        response = httpx.request(method, f"{url}/v1/notes/{note_id}", params={"user_id": "carol"},
                                 headers=globex)
        assert response.status_code == 404 and "7788" not in response.text
    patch = httpx.patch(f"{url}/v1/notes/{note_id}", params={"user_id": "carol"}, headers=globex,
                        json={"content": "overwritten"})
    assert patch.status_code == 404
    assert httpx.get(f"{url}/v1/notes/{note_id}/history", params={"user_id": "carol"},
                     headers=globex).status_code == 404
    assert httpx.get(f"{url}/v1/notes", params={"user_id": "carol"}, headers=globex).json()["notes"] == []
    assert httpx.delete(f"{url}/v1/scopes", params={"user_id": "carol"}, headers=globex).json() == {"deleted": 0}
    assert httpx.delete(f"{url}/v1/scopes", params={"agent_id": "x"}, headers=globex).json() == {"deleted": 0}
    assert "7788" not in httpx.get(f"{url}/v1/export", headers=globex).text
    acme = httpx.get(f"{url}/v1/notes/{note_id}", params={"user_id": "carol"}, headers=two_tenants.headers("acme"))
    assert acme.json()["content"] == "carol: Carol's locker code is 7788."


def test_forgetting_a_user_erases_notes_and_log_content(two_tenants: Served) -> None:
    url, acme = two_tenants.url, two_tenants.headers("acme")
    _add(two_tenants, "acme", "dave", "Dave's passport number is X123.")
    assert httpx.delete(f"{url}/v1/scopes", params={"user_id": "dave"}, headers=acme).json() == {"deleted": 1}
    assert httpx.get(f"{url}/v1/notes", params={"user_id": "dave"}, headers=acme).json()["notes"] == []
    log_text = (two_tenants.data_dir / "eventlog" / "log.jsonl").read_text()
    assert "X123" not in log_text
    missing = httpx.delete(f"{url}/v1/scopes", headers=acme)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "user_id"


def test_limits_and_malformed_input_get_named_errors_without_tracebacks(two_tenants: Served) -> None:
    url, acme = two_tenants.url, two_tenants.headers("acme")
    scope = {"user_id": "eve"}
    cases = [
        ({"scope": scope, "events": [{"content": "x"}] * 501}, 422, "max_events"),
        ({"scope": scope, "events": [{"content": "x" * 20_001}]}, 422, "max_text_chars"),
        ({"scope": scope, "events": [{"content": 5}]}, 422, "events[0].content"),
        ({"scope": scope, "events": [{"content": "x", "colour": "red"}]}, 422, "events[0].colour"),
        ({"scope": scope}, 422, "exactly one of 'events' or 'messages'"),
        ({"scope": {"user_id": ""}, "events": []}, 422, "scope.user_id"),
    ]
    for body, status, text in cases:
        response = httpx.post(f"{url}/v1/events", json=body, headers=acme)
        assert response.status_code == status, response.text
        assert text in response.json()["error"]["message"]
    big = httpx.post(f"{url}/v1/events", content=b"{" + b" " * 1_100_000 + b"}", headers=acme)
    assert big.status_code == 413 and "max_body_bytes" in big.text
    bad = httpx.post(f"{url}/v1/events", content=b"{not json", headers={**acme, "content-type": "application/json"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_json"
    k = httpx.post(f"{url}/v1/search", json={"scope": scope, "query": "x", "k": 1000}, headers=acme)
    assert k.status_code == 422 and "max_k" in k.text
    where = httpx.post(f"{url}/v1/search", json={"scope": scope, "query": "x", "where": {"colour": 1}}, headers=acme)
    assert where.status_code == 422 and "where.colour" in where.text
    page = httpx.get(f"{url}/v1/notes", params={"user_id": "eve", "limit": 10_000}, headers=acme)
    assert page.status_code == 422 and "max_page" in page.text
    cursor = httpx.get(f"{url}/v1/notes", params={"user_id": "eve", "cursor": "zzz"}, headers=acme)
    assert cursor.status_code == 422 and "cursor" in cursor.text
    long_id = httpx.get(f"{url}/v1/notes/{'n' * 300}", params={"user_id": "eve"}, headers=acme)
    assert long_id.status_code == 422 and long_id.json()["error"]["field"] == "note_id"
    for response in (big, bad, k, where, page, cursor):
        assert "Traceback" not in response.text and 'File "' not in response.text


def test_cors_is_off_unless_configured(two_tenants: Served) -> None:
    response = httpx.options(f"{two_tenants.url}/v1/search", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers


def test_the_access_log_names_tenants_but_never_content_or_keys(two_tenants: Served) -> None:
    _add(two_tenants, "globex", "frank", "Frank's unique marker zebra-quartz-91.")
    httpx.get(f"{two_tenants.url}/v1/notes", params={"user_id": "frank-private-id"},
              headers=two_tenants.headers("globex"))
    log = two_tenants.log_path.read_text()
    assert "POST /v1/events tenant=globex status=200" in log
    assert "zebra-quartz-91" not in log and "frank-private-id" not in log
    assert all(key not in log for key in two_tenants.keys.values())


def test_export_replays_with_run_and_rebuilds_another_pipeline(two_tenants: Served, tmp_path: Path) -> None:
    url, globex = two_tenants.url, two_tenants.headers("globex")
    ids = _add(two_tenants, "globex", "gina", "Gina plays the cello.", "Gina lives near the harbour.")
    search = httpx.post(f"{url}/v1/search", headers=globex,
                        json={"scope": {"user_id": "gina"}, "query": "cello"}).json()
    httpx.post(f"{url}/v1/outcomes", headers=globex, json={
        "scope": {"user_id": "gina"}, "query_id": search["query_id"], "success": True, "used_ids": [ids[0]]})
    exported = httpx.get(f"{url}/v1/export", headers=globex)
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert {line["type"] for line in lines} >= {"event", "query"}
    assert all(line.get("user_id", "").find("/") == -1 for line in lines)  # tenant stripped
    (query,) = [line for line in lines if line["type"] == "query" and line["id"] == search["query_id"]]
    assert query["evidence"] == search["hits"][0]["source_ids"]  # from the successful outcome
    stream = tmp_path / "export.jsonl"
    stream.write_text(exported.text)
    pipeline = write_pipeline(tmp_path)
    run = subprocess.run([sys.executable, "-m", "evolvelab", "run", str(pipeline), "--stream", str(stream),
                          "--data-dir", str(tmp_path / "replayed")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    said = " ".join(run.stdout.split())  # the console wraps long lines
    assert f"ingested {sum(1 for l in lines if l['type'] == 'event')} events" in said
    assert "recall@10 (turn budget) 1.000 over 1 scorable queries" in said

    other = write_pipeline(tmp_path, LEXICAL_NO_SPEAKER, "other.yaml")
    rebuilt = subprocess.run([sys.executable, "-m", "evolvelab", "rebuild", str(other), "--from",
                              str(two_tenants.data_dir), "--data-dir", str(tmp_path / "rebuilt")],
                             capture_output=True, text=True)  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    from evolvelab.pipeline import Memory

    served_notes = {n["id"]: n for n in httpx.get(f"{url}/v1/notes", params={"user_id": "gina"},
                                                  headers=globex).json()["notes"]}  # fmt: skip
    with Memory.from_yaml(other, data_dir=tmp_path / "rebuilt") as memory:
        notes = memory.list({"user_id": "globex/gina"}).notes
    assert sorted(n.source_ids[0] for n in notes) == sorted(served_notes[i]["source_ids"][0] for i in ids)
    assert all(not n.content.startswith("gina:") for n in notes)  # the other pipeline's encoding


LEXICAL_NO_SPEAKER = """
version: 1
name: other
embedder: {type: none}
encode:
  - {type: turn, speaker: false, link_turns: false}
store: {type: lancedb}
retrieve:
  - {type: bm25, k: 20}
"""


def test_acknowledged_adds_survive_sigterm_and_sigkill(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pipeline = write_pipeline(tmp_path)
    served = start_server(pipeline, tmp_path / "data")

    def add(i: int) -> str:
        body = {"scope": {"user_id": f"u{i % 4}"}, "events": [{"id": f"e{i}", "content": f"event number {i}"}]}
        return httpx.post(f"{served.url}/v1/events", json=body, timeout=30).json()["ids"][0]

    second = subprocess.run([sys.executable, "-m", "evolvelab", "serve", str(pipeline), "--data-dir",
                             str(tmp_path / "data"), "--port", "0"], capture_output=True, text=True)  # fmt: skip
    assert second.returncode == 1 and "in use by pid" in second.stderr  # one writer per folder
    with ThreadPoolExecutor(8) as pool:
        acked = list(pool.map(add, range(40)))
    stats = httpx.get(f"{served.url}/v1/stats").json()
    assert stats["requests"] == 40 and stats["commits"] <= 40
    served.stop(9)  # SIGKILL: no drain, no clean close
    served = start_server(pipeline, tmp_path / "data")
    for i, note_id in enumerate(acked):
        response = httpx.get(f"{served.url}/v1/notes/{note_id}", params={"user_id": f"u{i % 4}"})
        assert response.status_code == 200
    add(100)
    assert served.stop() in (0, -15, 143)  # SIGTERM: drained and closed
    served = start_server(pipeline, tmp_path / "data")
    assert httpx.get(f"{served.url}/v1/notes", params={"user_id": "u0"}).json()["notes"][-1]["content"] \
        == "event number 100"
    served.stop()


def test_a_read_only_replica_serves_what_the_writer_commits(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path)
    writer = start_server(pipeline, tmp_path / "data")
    replica = start_server(pipeline, tmp_path / "data", "--read-only",
                           log_path=tmp_path / "replica.log")  # fmt: skip
    try:
        body = {"scope": {"user_id": "ana"}, "events": [{"id": "e1", "content": "Ana grows basil."}]}
        (note_id,) = httpx.post(f"{writer.url}/v1/events", json=body).json()["ids"]
        hits = httpx.post(f"{replica.url}/v1/search",
                          json={"scope": {"user_id": "ana"}, "query": "basil"}).json()["hits"]
        assert [h["id"] for h in hits] == [note_id]
        assert httpx.get(f"{replica.url}/v1/notes/{note_id}", params={"user_id": "ana"}).status_code == 200
        assert "Ana grows basil." in httpx.get(f"{replica.url}/v1/export").text
        refused = httpx.post(f"{replica.url}/v1/events", json=body)
        assert refused.status_code == 405 and refused.json()["error"]["code"] == "read_only"
        assert httpx.delete(f"{replica.url}/v1/scopes", params={"user_id": "ana"}).status_code == 405
        assert httpx.get(f"{writer.url}/v1/notes/{note_id}", params={"user_id": "ana"}).status_code == 200
    finally:
        replica.stop()
        writer.stop()
