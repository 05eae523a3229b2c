"""`python -m fasrobust`, the same as the `fasrobust` command."""

from .cli import main

if __name__ == "__main__":  # not when a spawn-context worker re-imports the parent's main module
    main()
