"""The Official Account push's signatures and safe-mode cipher, as WeChat computes them.

Shared by the push endpoint (which checks and decrypts) and the fake WeChat
(which signs and encrypts), so both follow one reading of the protocol, which
the protocol's own test vectors pin (``tests/test_push.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: An EncodingAESKey: 43 letters and digits (base64 of 32 bytes, its "=" left off).
AES_KEY_FORMAT = re.compile(r"[A-Za-z0-9]{43}")
_BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class PushCryptoError(ValueError):
    """An encrypted body that does not decrypt to a message for this account."""


def signature(*parts: str) -> str:
    """sha1 of the parts sorted as strings and joined: ``signature`` and ``msg_signature``."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_ok(given: str, *parts: str) -> bool:
    """Whether ``given`` is the signature of ``parts``, compared in constant time."""
    return hmac.compare_digest(given.encode(), signature(*parts).encode())


def _cipher(aes_key: str) -> Cipher[modes.CBC]:
    key = base64.b64decode(aes_key + "=")
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(aes_key: str, xml: bytes, appid: str, *, random: bytes | None = None) -> str:
    """``Encrypt`` for ``xml``: 16 random bytes, its length, it, the AppID; PKCS#7 to 32."""
    plain = (random or os.urandom(16)) + struct.pack(">I", len(xml)) + xml + appid.encode()
    pad = _BLOCK - len(plain) % _BLOCK
    encryptor = _cipher(aes_key).encryptor()
    sealed = encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
    return base64.b64encode(sealed).decode()


def decrypt(aes_key: str, encrypted: str, appid: str) -> bytes:
    """The XML inside ``Encrypt``, once its padding, length and AppID tail check out."""
    try:
        sealed = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise PushCryptoError("Encrypt is not base64") from None
    if not sealed or len(sealed) % 16:
        raise PushCryptoError("Encrypt is not whole AES blocks")
    decryptor = _cipher(aes_key).decryptor()
    plain = decryptor.update(sealed) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise PushCryptoError("Encrypt has a bad padding")
    plain = plain[16:-pad]
    if len(plain) < 4:
        raise PushCryptoError("Encrypt is too short")
    (length,) = struct.unpack(">I", plain[:4])
    xml, tail = plain[4 : 4 + length], plain[4 + length :]
    if len(xml) != length or not hmac.compare_digest(tail, appid.encode()):
        raise PushCryptoError("Encrypt is not for this account's AppID")
    return xml
