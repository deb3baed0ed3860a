"""The `jingkang` command (cli/main.py)."""
