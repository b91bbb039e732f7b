"""`python -m reporting_rollups.adapters.cli`: the `rollups` command."""

from reporting_rollups.adapters.cli import main

main()
