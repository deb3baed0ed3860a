"""assessment: the rehabilitation record of each client (DESIGN.md §4)."""
