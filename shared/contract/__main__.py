"""python -m shared.contract: regenerate the committed JSON Schemas and AsyncAPI document,
and record newly published types in the compatibility lock (refusing incompatible changes)."""
import json
import sys

from shared.contract.generate import LOCK, incompatibilities, update_lock, write

problems = incompatibilities(json.loads(LOCK.read_text()) if LOCK.exists() else {})
if problems:
    sys.exit("incompatible change to a published event; publish a new version instead:\n  " + "\n  ".join(problems))
for path in write():
    print(path)
update_lock()
