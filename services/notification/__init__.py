"""notification: reminders and their delivery through channels (DESIGN.md §4)."""
