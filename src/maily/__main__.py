"""`python -m maily` runs the CLI."""

from maily.cli import main

main()
