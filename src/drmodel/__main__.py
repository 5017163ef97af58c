# PYTHON_ARGCOMPLETE_OK
"""`python -m drmodel`: the same as the `drmodel` command."""

from drmodel.cli.main import run

if __name__ == "__main__":
    run()
