"""shared.cipher.AESGCMCipher: the library's AES-GCM at-rest format through `cryptography`:
what either writes, the other reads; damage or another key is refused, never misread."""
from __future__ import annotations

import base64
import os

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.utils import Environment

from shared.cipher import AESGCMCipher


def env(key: bytes) -> Environment:
    return Environment(env={"CIPHER_KEY": base64.b64encode(key).decode()})


@pytest.mark.parametrize("size", [16, 24, 32])
def test_what_either_cipher_writes_the_other_reads(size):
    key = os.urandom(size)
    ours, library = AESGCMCipher(env(key)), AESCipher(env(key))
    for plaintext in (b"", b'{"applicant": "\xe5\xbc\xa0"}', os.urandom(5000)):
        assert library.decrypt(ours.encrypt(plaintext)) == plaintext
        assert ours.decrypt(library.encrypt(plaintext)) == plaintext


def test_each_encryption_has_its_own_nonce():
    cipher = AESGCMCipher(env(os.urandom(32)))
    assert cipher.encrypt(b"same") != cipher.encrypt(b"same")


def test_damaged_or_foreign_ciphertext_is_refused():
    key = os.urandom(32)
    cipher = AESGCMCipher(env(key))
    sealed = bytearray(cipher.encrypt(b"a stored event"))
    for position in (0, 12, 28, len(sealed) - 1):  # nonce, tag, body
        damaged = bytearray(sealed)
        damaged[position] ^= 1
        with pytest.raises(ValueError, match="damaged"):
            cipher.decrypt(bytes(damaged))
    with pytest.raises(ValueError, match="damaged"):
        AESGCMCipher(env(os.urandom(32))).decrypt(bytes(sealed))
    with pytest.raises(ValueError, match="too short"):
        cipher.decrypt(bytes(sealed[:20]))


def test_a_key_of_the_wrong_size_or_none_is_refused():
    with pytest.raises(ValueError, match="key size"):
        AESGCMCipher(env(os.urandom(20)))
    with pytest.raises(OSError, match="CIPHER_KEY"):
        AESGCMCipher(Environment(env={}))
