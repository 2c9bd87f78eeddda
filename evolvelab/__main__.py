"""``python -m evolvelab``: the command line."""

from evolvelab.cli import main

main()
