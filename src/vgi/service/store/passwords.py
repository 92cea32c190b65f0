"""Salted password hashes for charge points (OCPP security profile 1, HTTP Basic auth), with ``hashlib.scrypt``.

A hash reads ``scrypt$<log2 n>$<r>$<p>$<salt, base64>$<key, base64>``; the plain password is never stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_LOG2_N = 14
"""scrypt cost: n = 2**14, r = 8, p = 1 (16 MiB and some tens of milliseconds per check)."""
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int, key_bytes: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=2 * 128 * n * r + (1 << 20),
                          dklen=key_bytes)


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password``."""
    if not password:
        raise ValueError("a charge point password must not be empty")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_LOG2_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """True when ``password`` gives ``hashed`` (compared in constant time); False for a malformed hash."""
    parts = hashed.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return False
    if not (1 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16 and key):
        return False
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p, len(key)), key)
