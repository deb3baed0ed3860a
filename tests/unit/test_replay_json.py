"""replay() decodes stored states with orjson when installed: the values must be json's,
also for what orjson refuses and the library's json writes (NaN, integers beyond 64 bits)."""
import json
import math

from shared.store import _plain_json


def test_stored_states_decode_as_json_decodes_them():
    for state in ('{"station_id": {"_type_": "uuid_hex", "_data_": "0f"}, "minutes": 60, "note": "康复 ✓"}',
                  '{"big": 123456789012345678901234567890, "neg": -9223372036854775809}', '[1.5, 1e-7, true, null]'):
        assert _plain_json(state.encode()) == json.loads(state)
    assert math.isnan(_plain_json(b'{"x": NaN}')["x"])
