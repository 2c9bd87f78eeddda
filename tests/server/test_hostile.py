"""Hostile clients against a real `evolvelab serve`: every answer is a JSON error with the
right status, never a 500 or a stack trace, and nothing crosses a tenant's border."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from served import Served

pytestmark = pytest.mark.slow


def _post(served: Served, path: str, body: bytes, tenant: str = "acme") -> httpx.Response:
    headers = {**served.headers(tenant), "content-type": "application/json"}
    return httpx.post(f"{served.url}{path}", content=body, headers=headers, timeout=30)


def _refused(response: httpx.Response, status: int = 422) -> dict:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    return response.json()["error"]


@pytest.mark.parametrize("body", [
    b'{"scope": {"user_id": "s"}, "events": [{"content": "\\ud800"}]}',
    b'{"scope": {"user_id": "s"}, "events": [{"content": "x", "metadata": {"\\udfff": 1}}]}',
    b'{"scope": {"user_id": "s"}, "messages": [{"role": "user", "content": "a\\ud83d"}]}',
    b'{"scope": {"user_id": "\\ud800"}, "events": [{"content": "x", "id": "e1"}]}',
])  # fmt: skip
def test_lone_surrogates_are_refused_before_anything_is_written(two_tenants: Served, body: bytes) -> None:
    log = two_tenants.data_dir / "eventlog" / "log.jsonl"
    before = log.read_bytes()
    error = _refused(_post(two_tenants, "/v1/events", body))
    assert error["code"] == "invalid_json" and "surrogate" in error["message"]
    assert log.read_bytes() == before


@pytest.mark.parametrize("body, words", [
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
    (b'{"query": "x", "where": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001, "nested deeper"),
    (b'{"events": [{"content": "\xff\xc3"}]}', "UTF-8"),
    (b'{"success": true, "score": NaN}', "NaN"),
    (b'{"success": true, "score": 1e999}', "out of range"),
])  # fmt: skip
def test_json_a_store_cannot_keep_is_a_located_422(two_tenants: Served, body: bytes, words: str) -> None:
    for path in ("/v1/events", "/v1/search", "/v1/outcomes"):
        error = _refused(_post(two_tenants, path, body))
        assert error["code"] == "invalid_json" and words in error["message"], error


def test_an_event_time_outside_utc_is_a_422_naming_the_field(two_tenants: Served) -> None:
    when = "0001-01-01T00:00:00+01:00"
    for key, item in (("events", {"content": "x", "timestamp": when}),
                      ("messages", {"role": "user", "content": "x", "timestamp": when})):
        body = {"scope": {"user_id": "t"}, key: [item]}
        response = httpx.post(f"{two_tenants.url}/v1/events", json=body, headers=two_tenants.headers("acme"))
        error = _refused(response)
        assert error["field"] == f"{key}[0].timestamp" and "out of range" in error["message"]


def _raw(served: Served, request: bytes) -> bytes:
    parts = urlsplit(served.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_two_authorization_headers_are_refused(two_tenants: Served) -> None:
    acme, globex = two_tenants.keys["acme"], two_tenants.keys["globex"]
    for first, second in ((acme, globex), (acme, "evl_wrong"), (acme, acme)):
        answer = _raw(two_tenants, (
            "GET /v1/notes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Authorization: Bearer {first}\r\nAuthorization: Bearer {second}\r\n\r\n"
        ).encode())  # fmt: skip
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"one Authorization header" in answer


def test_a_chunked_body_without_length_is_limited_and_still_works(two_tenants: Served) -> None:
    def chunked(parts: list[bytes]) -> httpx.Response:  # a generator body: no Content-Length
        headers = {**two_tenants.headers("acme"), "content-type": "application/json"}
        return httpx.post(f"{two_tenants.url}/v1/events", content=iter(parts), headers=headers, timeout=30)

    big = chunked([b'{"events": [{"content": "'] + [b"a" * 65536] * 20 + [b'"}]}'])
    assert _refused(big, 413)["code"] == "too_large" and "max_body_bytes" in big.text
    small = chunked([b'{"scope": {"user_id": "chunk"}, ', b'"events": [{"content": "hi"}]}'])
    assert small.status_code == 200 and len(small.json()["ids"]) == 1


def test_a_utf8_byte_order_mark_is_accepted(two_tenants: Served) -> None:
    response = _post(two_tenants, "/v1/search", b'\xef\xbb\xbf{"scope": {"user_id": "bom"}, "query": "x"}')
    assert response.status_code == 200, response.text


def test_a_path_cannot_forge_a_line_in_the_access_log(two_tenants: Served) -> None:
    forged = "2026-01-01 00:00:00,000 evolvelab.access INFO DELETE /v1/scopes tenant=globex status=200"
    path = "/v1/notes/abc%0A" + forged.replace(" ", "%20")
    assert httpx.get(f"{two_tenants.url}{path}", headers=two_tenants.headers("acme")).status_code == 404
    deadline = time.monotonic() + 10  # the access line is written once the answer is sent
    while True:
        lines = two_tenants.log_path.read_text().splitlines()
        if any("GET /v1/notes/abc%0A2026-01-01%2000" in line for line in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert any("GET /v1/notes/abc%0A2026-01-01%2000" in line for line in lines)
    assert not [line for line in lines if line.startswith("2026-01-01 00:00:00,000")]
