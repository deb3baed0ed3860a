"""python -m cli ...: the same as `jingkang ...`."""
from cli.main import main

main()
