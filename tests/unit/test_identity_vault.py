"""Crypto-erasure (services/intake/vault.py): a person's identifiers sealed under their own
data key open again with it; erasing the key makes them unreadable for good; nothing in the
key table or the token reveals an identifier, and the stored key is useless without the
master key.

`VaultScenario` builds its vault from `self.store_url`; here it runs in memory and on SQLite
(a file in tmp_path), and tests/integration/test_identity_vault_postgres.py runs it unchanged
on PostgreSQL."""
from __future__ import annotations

import base64
import sqlite3
import threading
from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from Crypto.Cipher import AES

from services.intake.vault import IdentityErased, IdentityUnreadable, create_vault
from shared.settings import ServiceSettings, SettingsError, load_settings
from tests.support import applicant

MASTER = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="  # 32 bytes
OTHER_MASTER = base64.b64encode(b"another master key of 32 bytes!!").decode()


def person() -> dict[str, Any]:
    someone = applicant()
    someone["birth_date"] = date.fromisoformat(someone["birth_date"])  # as intake holds it
    return someone


def identifiers(someone: dict[str, Any]) -> list[bytes]:
    return [str(someone[k]).encode() for k in ("name", "id_number", "phone", "address")]


def token_bytes(token: str) -> bytes:
    body = token.split(".", 1)[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def opens_with(raw_key: bytes, key_id: UUID, token: str) -> bool:
    """Decrypt a token by its documented format (nonce | ciphertext | tag, key id as
    associated data) with a candidate key, as someone holding a database dump would try."""
    blob = token_bytes(token)
    cipher = AES.new(raw_key, AES.MODE_GCM, nonce=blob[:12])
    cipher.update(key_id.bytes)
    try:
        cipher.decrypt_and_verify(blob[12:-16], blob[-16:])
        return True
    except ValueError:
        return False


def altered(token: str, at: int) -> str:
    blob = bytearray(token_bytes(token))
    blob[at] ^= 0x01
    return "v1." + base64.urlsafe_b64encode(bytes(blob)).rstrip(b"=").decode()


class VaultScenario:
    """The vault's behaviour on the backend `self.store_url` names."""

    store_url = "memory://"

    @pytest.fixture(autouse=True)
    def _close_vaults(self):
        self._vaults: list[Any] = []
        yield
        for vault in self._vaults:
            vault.close()

    def vault(self, master: str | None = MASTER):
        env = {"JINGKANG_INTAKE_STORE": self.store_url}
        if master:
            env["JINGKANG_INTAKE_CIPHER_KEY"] = master
        vault = create_vault(load_settings("intake", env))
        self._vaults.append(vault)
        return vault

    def same_table(self, vault, master: str | None):
        """Another vault over the same key table (for memory://, the same dict)."""
        other = self.vault(master)
        if self.store_url.startswith("memory:"):
            other.keys = vault.keys
        return other

    def raw_rows(self, vault) -> list[tuple[str, bytes | None]]:
        """(key id, stored key bytes) as the database holds them."""
        if self.store_url.startswith("memory:"):
            return [(str(k), row.data_key) for k, row in vault.keys.rows.items()]
        if self.store_url.startswith("sqlite:"):
            with sqlite3.connect(self.store_url[len("sqlite://"):]) as conn:
                rows = conn.execute("SELECT key_id, data_key FROM identity_keys").fetchall()
            return [(k, None if v is None else bytes(v)) for k, v in rows]
        import psycopg

        schema = self.store_url.split("schema=")[1]
        with psycopg.connect(self.store_url.split("?")[0]) as conn:
            rows = conn.execute(f"SELECT key_id, data_key FROM {schema}.identity_keys").fetchall()
        return [(str(k), None if v is None else bytes(v)) for k, v in rows]

    def raw_dump(self, vault) -> bytes:
        """Every byte of every row, as a database dump would show them."""
        return b"|".join(k.encode() + b":" + (v or b"") for k, v in self.raw_rows(vault))

    # --- sealing and opening --------------------------------------------------------------

    def test_a_sealed_identity_opens_again_under_its_key(self):
        vault, key_id, someone = self.vault(), uuid4(), person()
        token = vault.seal(key_id, someone)
        assert vault.open(key_id, token) == {**someone, "birth_date": someone["birth_date"].isoformat()}
        assert vault.is_erased(key_id) is False

    def test_each_person_has_their_own_key(self):
        vault, alice, bob = self.vault(), uuid4(), uuid4()
        alice_token, bob_token = vault.seal(alice, person()), vault.seal(bob, person())
        with pytest.raises(IdentityUnreadable):
            vault.open(bob, alice_token)
        rows = dict(self.raw_rows(vault))
        assert rows[str(alice)] != rows[str(bob)]
        assert vault.open(bob, bob_token) != vault.open(alice, alice_token)

    def test_a_second_seal_reuses_the_persons_key(self):
        vault, key_id = self.vault(), uuid4()
        first, second = vault.seal(key_id, person()), vault.seal(key_id, {"phone": "13900000000"})
        assert len(self.raw_rows(vault)) == 1
        assert vault.open(key_id, first)["name"].startswith("测试")
        assert vault.open(key_id, second) == {"phone": "13900000000"}

    def test_an_altered_token_is_refused(self):
        vault, key_id = self.vault(), uuid4()
        token = vault.seal(key_id, person())
        for bad in (altered(token, 0), altered(token, 20), altered(token, -1), token[:-8], "v1.", "v2." + token[3:],
                    "v1.!!not base64!!"):
            with pytest.raises(IdentityUnreadable) as refused:
                vault.open(key_id, bad)
            assert token[3:20] not in str(refused.value)

    def test_a_token_without_a_key_is_unreadable_not_erased(self):
        vault, key_id = self.vault(), uuid4()
        token = vault.seal(key_id, person())
        with pytest.raises(IdentityUnreadable):
            vault.open(uuid4(), token)

    # --- erasure ----------------------------------------------------------------------------

    def test_erasing_the_key_makes_the_identity_unreadable_for_good(self):
        vault, key_id, someone_else = self.vault(), uuid4(), uuid4()
        token = vault.seal(key_id, person())
        other_token = vault.seal(someone_else, person())

        assert vault.erase(key_id) is True

        with pytest.raises(IdentityErased) as gone:
            vault.open(key_id, token)
        assert gone.value.key_id == key_id
        assert vault.is_erased(key_id) and not vault.is_erased(someone_else)
        assert vault.open(someone_else, other_token)  # nobody else is touched
        assert vault.erase(key_id) is False  # idempotent
        with pytest.raises(IdentityErased):
            vault.seal(key_id, person())  # erased stays erased: no silent re-identification

    def test_erasure_leaves_no_key_material(self):
        vault, key_id = self.vault(master=None), uuid4()
        token = vault.seal(key_id, person())
        stored = dict(self.raw_rows(vault))[str(key_id)]
        assert opens_with(stored, key_id, token)  # without a master key the table holds the raw key...

        vault.erase(key_id)

        assert dict(self.raw_rows(vault))[str(key_id)] is None  # ...and erasure destroys it
        assert stored not in self.raw_dump(vault)

    def test_erasing_someone_never_sealed_refuses_later_seals(self):
        vault, key_id = self.vault(), uuid4()
        assert vault.erase(key_id) is False
        assert vault.is_erased(key_id)
        with pytest.raises(IdentityErased):
            vault.seal(key_id, person())

    # --- what the table and the token reveal ------------------------------------------------

    def test_no_identifier_appears_in_the_table_or_the_token(self):
        vault, key_id, someone = self.vault(), uuid4(), person()
        token = vault.seal(key_id, someone)
        for secret in identifiers(someone):
            assert secret not in self.raw_dump(vault)
            assert secret not in token.encode() and secret not in token_bytes(token)

    def test_tokens_do_not_reveal_the_length_of_a_name(self):
        vault, key_id = self.vault(), uuid4()
        short, long = vault.seal(key_id, {"name": "王一"}), vault.seal(key_id, {"name": "欧阳明月"})
        assert len(short) == len(long)

    def test_the_stored_key_is_useless_without_the_master_key(self):
        vault, key_id = self.vault(MASTER), uuid4()
        token = vault.seal(key_id, person())
        stored = dict(self.raw_rows(vault))[str(key_id)]

        # No 32-byte run of the stored row opens the token: the data key is not there in clear.
        assert not any(opens_with(stored[i:i + 32], key_id, token) for i in range(len(stored) - 31))
        with pytest.raises(IdentityUnreadable):
            self.same_table(vault, OTHER_MASTER).open(key_id, token)
        with pytest.raises(IdentityUnreadable):
            self.same_table(vault, None).open(key_id, token)
        assert self.same_table(vault, MASTER).open(key_id, token)  # another process with the right key

    # --- concurrency --------------------------------------------------------------------------

    def test_concurrent_first_seals_agree_on_one_key(self):
        vault, key_id, tokens = self.vault(), uuid4(), []
        start = threading.Barrier(8)

        def seal(n: int) -> None:
            start.wait()
            tokens.append(vault.seal(key_id, {"n": n}))

        threads = [threading.Thread(target=seal, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(vault.open(key_id, token)["n"] for token in tokens) == list(range(8))
        assert len(self.raw_rows(vault)) == 1


class TestVaultInMemory(VaultScenario):
    pass


class TestVaultOnSqlite(VaultScenario):
    @pytest.fixture(autouse=True)
    def _on_sqlite(self, tmp_path):
        self.store_url = f"sqlite:///{tmp_path}/intake.sqlite"

    def test_the_database_file_holds_no_identifier_nor_an_erased_key(self, tmp_path):
        vault, key_id, someone = self.vault(master=None), uuid4(), person()
        others = [uuid4() for _ in range(6)]
        for other in others[:3]:
            vault.seal(other, person())
        vault.seal(key_id, someone)
        for other in others[3:]:
            vault.seal(other, person())
        stored = dict(self.raw_rows(vault))[str(key_id)]
        vault.erase(key_id)
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the file and any journal
        assert stored not in raw  # not left on a free page (secure_delete) nor in a journal
        for secret in identifiers(someone):
            assert secret not in raw


def test_creating_a_vault_opens_nothing(tmp_path):
    create_vault(load_settings("intake", {"JINGKANG_INTAKE_STORE": f"sqlite:///{tmp_path}/db/intake.sqlite"}))
    create_vault(load_settings("intake", {"JINGKANG_INTAKE_STORE": "postgresql://nobody:x@127.0.0.1:1/none?schema=s"}))
    assert list(tmp_path.iterdir()) == []


def test_production_requires_a_master_key():
    settings = ServiceSettings(service="intake", store_url="postgresql://u:p@127.0.0.1/db", production=True)
    with pytest.raises(SettingsError):
        create_vault(settings)
    with pytest.raises(SettingsError):
        create_vault(replace(settings, cipher_key=base64.b64encode(b"too short").decode()))
