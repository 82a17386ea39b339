"""Signing keys of a trusted issuer, from a JWKS (RFC 7517 §5) at a URL or in a file.

Keys are cached for ``auth_jwks_cache_seconds``.  A token signed with a key id we do not know
makes the cache fetch again (at most every :data:`REFETCH_AFTER_UNKNOWN_SECONDS`), so an
issuer's rotated keys are picked up without a restart and a flood of made-up key ids cannot
make us hammer the issuer.  A file is looked at on the same schedule, and parsed again only
when it has changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson

from fhirbridge.errors import FhirError, Issue

log = logging.getLogger(__name__)
REFETCH_AFTER_UNKNOWN_SECONDS = 10.0
FETCH_TIMEOUT_SECONDS = 5.0
SIGNING_ALGORITHMS = ("RS256", "ES256")


def keys_unavailable() -> FhirError:
    return FhirError(503, [Issue("error", "transient", "The token issuer's signing keys cannot be fetched; try again")])


class KeySet:
    """The current keys of one issuer."""

    def __init__(self, source: str, cache_seconds: float, http: httpx.AsyncClient | None = None) -> None:
        self.source = source
        self.cache_seconds = cache_seconds
        self.http = http
        self._keys: list[jwt.PyJWK] = []
        self._document: bytes | None = None
        self.generation = 0
        """Raised whenever the keys change: what was verified with older keys is verified again."""
        self._fetched_at = float("-inf")
        self._file_stamp: tuple[float, int] | None = None
        self._lock = asyncio.Lock()

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("https://", "http://"))

    async def candidates(self, kid: str | None, algorithm: str) -> list[jwt.PyJWK]:
        """The keys that may have signed a token with this ``kid`` and ``alg``; the key set is
        only read again when it is older than the cache time, or for a key id it lacks."""
        if self._age() >= self.cache_seconds:
            await self._refresh()
        found = _matching(self._keys, kid, algorithm)
        if not found and self._age() > REFETCH_AFTER_UNKNOWN_SECONDS:
            await self._refresh()  # rotated keys
            found = _matching(self._keys, kid, algorithm)
        return found

    async def current_generation(self) -> int:
        """The keys' generation now, the key set read again first when it is older than the
        cache time (as :meth:`candidates` would)."""
        if self._age() >= self.cache_seconds:
            await self._refresh()
        return self.generation

    def _take(self, document: bytes) -> None:
        """Use the keys of ``document`` (unchanged keys keep their generation)."""
        if document != self._document:
            self._keys = _parse(document)
            self._document = document
            self.generation += 1

    def _age(self) -> float:
        return time.monotonic() - self._fetched_at

    async def _refresh(self) -> None:
        """Read the key set once, however many requests ask for it at the same moment."""
        asked_at = self._fetched_at
        async with self._lock:
            if self._fetched_at != asked_at:  # another request has just read it
                return
            if not self.is_url:
                self._read_file()
                return
            try:
                client = self.http or httpx.AsyncClient()
                try:
                    response = await client.get(self.source, timeout=FETCH_TIMEOUT_SECONDS)
                finally:
                    if self.http is None:
                        await client.aclose()
                response.raise_for_status()
                self._take(response.content)
                self._fetched_at = time.monotonic()
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("cannot fetch signing keys from %s: %s", self.source, exc)
                if not self._keys:
                    raise keys_unavailable() from None
                self._fetched_at = time.monotonic()  # keep the old keys a while; try again later

    def _read_file(self) -> None:
        path = Path(self.source)
        try:
            stat = path.stat()
            stamp = (stat.st_mtime, stat.st_size)
            if stamp != self._file_stamp:
                self._take(path.read_bytes())
                self._file_stamp = stamp
            self._fetched_at = time.monotonic()
        except (OSError, ValueError) as exc:
            log.error("cannot read signing keys from %s: %s", self.source, exc)
            raise keys_unavailable() from None


def _parse(document: bytes) -> list[jwt.PyJWK]:
    """The signing keys of a JWKS; keys of other uses or algorithms are left out."""
    data: Any = orjson.loads(document)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("not a JWKS: no keys")
    keys = []
    for entry in data["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg") not in (None, *SIGNING_ALGORITHMS):
            continue
        try:
            keys.append(jwt.PyJWK(entry))
        except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
            log.warning("skipping an unusable key in a JWKS: %s", exc)
    return keys


def _matching(keys: list[jwt.PyJWK], kid: str | None, algorithm: str) -> list[jwt.PyJWK]:
    """Keys of the token's algorithm (an RSA key never checks an ES256 signature) and key id."""
    return [key for key in keys if key.algorithm_name == algorithm and (kid is None or key.key_id == kid)]
