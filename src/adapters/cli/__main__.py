"""`python -m adapters.cli`: the `rollups` command."""

from adapters.cli import main

main()
