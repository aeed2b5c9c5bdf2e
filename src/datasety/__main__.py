"""`python -m datasety` behaves exactly like the `datasety` console script."""

from datasety.cli import main

if __name__ == "__main__":
    main()
