"""Merchant API tokens: issued once, stored only as SHA-256 hashes, checked in constant time.

A token file is JSON: ``{"format_version": 1, "merchants": {"M1": {"sha256": "...", "issued_at":
"..."}, ...}}``. :func:`issue_token` draws a random token (``secrets.token_urlsafe``, 256 bits),
stores its hash under the merchant (replacing that merchant's previous token) and returns the
token, which is never stored: lose it and issue a new one. :class:`MerchantTokens` tells which
merchant a presented token belongs to by looking its SHA-256 up among the stored hashes: constant
time in the number of merchants, and what the time could reveal is about the hash of the presented
token, which says nothing about any stored token.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recommender.atomic import atomic_file, file_stamp
from recommender.contract import UNKNOWN_LABEL

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
TOKEN_BYTES = 32
MAX_MERCHANT_ID_LENGTH = 128


class TokenFileError(ValueError):
    """A token file is unreadable or not in the expected format."""


def token_hash(token: str) -> str:
    """SHA-256 (hex) of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def read_token_file(path: str | os.PathLike) -> dict[str, dict]:
    """The ``merchants`` mapping of a token file (merchant id -> ``{"sha256", "issued_at"}``)."""
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise  # not a format problem: the caller decides (the server refuses to start, issue_token creates it)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"{path}: not a readable token file ({exc})") from exc
    merchants = content.get("merchants") if isinstance(content, dict) else None
    if not isinstance(content, dict) or content.get("format_version") != FORMAT_VERSION or not isinstance(
            merchants, dict):
        raise TokenFileError(f"{path}: not a merchant token file of format {FORMAT_VERSION} "
                             f"(write it with `recommender merchant-token`)")
    for merchant, entry in merchants.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(digest, str) or len(digest) != 64:
            raise TokenFileError(f"{path}: merchant {merchant!r} has no valid sha256 entry")
    return merchants


def issue_token(path: str | os.PathLike, merchant_id: str) -> str:
    """Draw a new token for ``merchant_id``, store its hash in the token file (created if missing,
    written atomically, other merchants kept) and return the token."""
    if not merchant_id or len(merchant_id) > MAX_MERCHANT_ID_LENGTH or merchant_id != merchant_id.strip():
        raise ValueError(f"merchant id must be 1..{MAX_MERCHANT_ID_LENGTH} characters without surrounding "
                         f"spaces, got {merchant_id!r}")
    if merchant_id == UNKNOWN_LABEL:
        raise ValueError(f"{UNKNOWN_LABEL!r} is the label of catalog items without a merchant_id, not a merchant")
    path = Path(path)
    merchants = read_token_file(path) if path.exists() else {}
    token = secrets.token_urlsafe(TOKEN_BYTES)
    merchants[merchant_id] = {"sha256": token_hash(token),
                              "issued_at": datetime.now(UTC).isoformat(timespec="seconds")}
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps({"format_version": FORMAT_VERSION, "merchants": merchants}, indent=2,
                                  ensure_ascii=False, sort_keys=True), encoding="utf-8")
    return token


@dataclass
class MerchantTokens:
    """The token hashes of a token file, re-read when the file changes (a re-issued token works at once)."""

    path: Path
    merchant_by_hash: dict[str, str]  # SHA-256 (hex) of a token -> its merchant id
    stamp: tuple[int, int, int]  # inode, mtime and size of the file read

    @classmethod
    def load(cls, path: str | os.PathLike) -> MerchantTokens:
        """Read a token file (raises ``FileNotFoundError`` or :class:`TokenFileError`)."""
        path = Path(path)
        stamp = file_stamp(path)
        merchants = read_token_file(path)
        return cls(path, {entry["sha256"].lower(): merchant for merchant, entry in merchants.items()}, stamp)

    def refreshed(self) -> MerchantTokens:
        """This object, or a fresh one when the file changed since it was read. A removed file
        revokes every token; a file that cannot be read keeps the tokens last read (logged), so a
        bad manual edit does not lock every merchant out."""
        try:
            stamp = file_stamp(self.path)
        except FileNotFoundError:
            if self.merchant_by_hash:
                log.warning("merchant token file %s removed: no token is accepted", self.path)
            return MerchantTokens(self.path, {}, (0, 0, -1))
        if stamp == self.stamp:
            return self
        try:
            return MerchantTokens.load(self.path)
        except (OSError, TokenFileError) as exc:
            log.warning("merchant token file %s not re-read, keeping the tokens last read: %s", self.path, exc)
            return self

    def merchant_of(self, token: str) -> str | None:
        """The merchant whose token this is, or ``None``."""
        return self.merchant_by_hash.get(token_hash(token))
