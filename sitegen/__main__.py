"""`python -m sitegen` runs the liqmap command line."""

from sitegen.cli import main

main()
