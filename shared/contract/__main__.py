"""python -m shared.contract: regenerate the committed JSON Schemas and AsyncAPI document."""
from shared.contract.generate import write

for path in write():
    print(path)
