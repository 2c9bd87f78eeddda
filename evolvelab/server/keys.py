"""Tenants and API keys: a key decides the tenant, and only its hash is ever stored.

``evolvelab keys add TENANT --file KEYS.yaml`` generates a key, prints it once and
appends its SHA-256 hash to the file::

    # EvolveLab API keys. Only SHA-256 hashes are kept; a lost key cannot be recovered.
    version: 1
    keys:
    - tenant: acme
      id: k_5d1f0c2a
      sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
      created: '2026-12-06T01:00:00+00:00'

Keys are 256-bit random strings, so a plain SHA-256 (no slow hash) cannot be guessed
back; the lookup is by hash, never by comparing key text.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from evolvelab.errors import ConfigError, EvolveLabError, Problem

__all__ = ["TENANT_PATTERN", "KeyRing", "add_key", "hash_key", "revoke_key"]

TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""Tenant names: letters, digits, ``_ . -``; no ``/`` (it separates tenant and user)."""

_HEADER = "# EvolveLab API keys. Only SHA-256 hashes are kept; a lost key cannot be recovered.\n"


def hash_key(key: str) -> str:
    """Return the hex SHA-256 of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyRing:
    """Hashes of valid keys, each mapped to its tenant."""

    tenants: dict[str, str]
    """SHA-256 hex of a key → tenant name."""

    def tenant_for(self, key: str | None) -> str | None:
        """Return the tenant of ``key``, or ``None`` if the key is missing or unknown."""
        if not key:
            return None
        return self.tenants.get(hash_key(key))

    @classmethod
    def load(cls, path: str | Path) -> KeyRing:
        """Read a keys file.

        Raises:
            ConfigError: if the file cannot be read or an entry is malformed.
        """
        data = _read(Path(path))
        tenants = {}
        for index, entry in enumerate(data["keys"]):
            tenants[entry["sha256"]] = entry["tenant"]
        if not tenants:
            raise ConfigError([Problem(str(path), ("keys",), "no keys in this file",
                                       hints=("add one: evolvelab keys add TENANT --file " + str(path),))])  # fmt: skip
        return cls(tenants)


def _read(path: Path) -> dict:
    """Return the parsed keys file (an empty one if it does not exist), checked."""
    if not path.exists():
        return {"version": 1, "keys": []}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError([Problem(str(path), (), f"cannot read keys file: {err}")]) from err
    problems = []
    if not isinstance(data, dict) or not isinstance(data.get("keys", []), list):
        raise ConfigError([Problem(str(path), ("keys",), "expected a mapping with a 'keys' list")])
    for index, entry in enumerate(data.setdefault("keys", [])):
        if not isinstance(entry, dict):
            problems.append(Problem(str(path), ("keys", index), "expected a mapping"))
            continue
        for name in ("tenant", "id", "sha256"):
            if not isinstance(entry.get(name), str):
                problems.append(Problem(str(path), ("keys", index, name), "required (a string)"))
        digest = entry.get("sha256")
        if isinstance(digest, str) and not re.fullmatch(r"[0-9a-f]{64}", digest):
            problems.append(Problem(str(path), ("keys", index, "sha256"), "not a SHA-256 hex digest"))
    if problems:
        raise ConfigError(problems)
    return data


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(_HEADER + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


def add_key(path: str | Path, tenant: str) -> tuple[str, str]:
    """Generate a key for ``tenant``, store its hash in ``path``; return ``(key id, key)``.

    Raises:
        EvolveLabError: if the tenant name is not allowed.
        ConfigError: if an existing file is malformed.
    """
    if not TENANT_PATTERN.match(tenant):
        raise EvolveLabError(
            f"tenant name {tenant!r} not allowed: use letters, digits, '_', '.', '-' "
            "(at most 64, starting with a letter or digit)"
        )
    path = Path(path)
    data = _read(path)
    key = "evl_" + secrets.token_urlsafe(32)
    key_id = "k_" + hash_key(key)[:8]
    data["keys"].append({"tenant": tenant, "id": key_id, "sha256": hash_key(key),
                         "created": datetime.now(UTC).isoformat(timespec="seconds")})  # fmt: skip
    _write(path, data)
    return key_id, key


def revoke_key(path: str | Path, key_id: str) -> int:
    """Remove the key with id ``key_id`` (or every key of the tenant named ``key_id``).

    Returns:
        How many keys were removed.
    """
    path = Path(path)
    data = _read(path)
    before = len(data["keys"])
    data["keys"] = [k for k in data["keys"] if key_id not in (k["id"], k["tenant"])]
    if len(data["keys"]) != before:
        _write(path, data)
    return before - len(data["keys"])


def list_keys(path: str | Path) -> list[dict]:
    """Return the entries of a keys file (tenant, id, created; hashes left out)."""
    return [{k: v for k, v in entry.items() if k != "sha256"} for entry in _read(Path(path))["keys"]]
