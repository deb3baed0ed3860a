"""intake: applications and the client register (DESIGN.md §4)."""
