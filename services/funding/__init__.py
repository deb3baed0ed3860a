"""funding: government purchase-of-service contracts and their payments (DESIGN.md §4)."""
