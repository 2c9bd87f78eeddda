"""Fixtures of the server tests: a real server with two tenants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from served import Served, start_server, write_pipeline


@pytest.fixture(scope="module")
def two_tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server with API keys for tenants 'acme' and 'globex' (module-wide)."""
    from evolvelab.server.keys import add_key

    root = tmp_path_factory.mktemp("served")
    keys_file = root / "keys.yaml"
    keys = {tenant: add_key(keys_file, tenant)[1] for tenant in ("acme", "globex")}
    served = start_server(write_pipeline(root), root / "data", "--keys", str(keys_file), keys=keys)
    yield served
    served.stop()
