"""Workflows: what the CLI commands and the console both run, as explicit lists of steps.

A workflow sits above ``report/``, ``analysis/`` and ``ingest/`` and wires them
together; the layers below never call up into it.  See
:mod:`logconsole.workflows.ingest`.
"""
