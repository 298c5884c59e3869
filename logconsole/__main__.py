"""``python -m logconsole``: the command line (what ``logconsole open PATH...`` starts its ingest with)."""

from logconsole.cli import main

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="logconsole")
