"""`python -m earthmover ...` (also what `torchrun -m earthmover` runs)."""

from earthmover.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
