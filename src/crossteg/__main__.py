"""`python -m crossteg` is the `crossteg` command."""

from crossteg.cli import main

main()
