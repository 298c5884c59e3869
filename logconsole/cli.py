"""The ``logconsole`` command line.  Every console action has a headless twin here.

Commands of other areas live in ``logconsole.commands.*`` and are loaded only
when invoked (:class:`LazyGroup`), so the core never imports Textual.
"""

from __future__ import annotations

import importlib

import click

from logconsole import __version__

#: command name -> "module:attribute"; each area adds its commands here.
LAZY_COMMANDS: dict[str, str] = {
    "ingest": "logconsole.commands.core:ingest",
    "sources": "logconsole.commands.core:sources_cmd",
    "search": "logconsole.commands.core:search",
    "fulltext": "logconsole.commands.fulltext:fulltext_cmd",
    "quarantine": "logconsole.commands.core:quarantine_cmd",
    "formats": "logconsole.commands.core:formats_cmd",
    "detect": "logconsole.commands.core:detect_cmd",
    "migrate": "logconsole.commands.core:migrate_cmd",
    "open": "logconsole.commands.console:open_cmd",
    "grants": "logconsole.commands.privileges:grants",
    "actors": "logconsole.commands.privileges:actors",
    "actor": "logconsole.commands.privileges:actor",
    "finding": "logconsole.commands.findings:finding",
    "readiness": "logconsole.commands.report:readiness_cmd",
    "export": "logconsole.commands.report:export_cmd",
    "verify": "logconsole.commands.verify:verify",
    "gaps": "logconsole.commands.gaps:gaps",
    "freq": "logconsole.commands.analytics:freq",
    "histogram": "logconsole.commands.analytics:histogram",
    "sql": "logconsole.commands.query:sql_cmd",
    "pivot": "logconsole.commands.query:pivot_cmd",
    "rules": "logconsole.commands.rules:rules",
    "identity": "logconsole.commands.identity:identity_cmd",
    "identities": "logconsole.commands.identity:identities_cmd",
    "db": "logconsole.commands.db:db",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            mod, _, attr = LAZY_COMMANDS[name].partition(":")
            return getattr(importlib.import_module(mod), attr)
        return super().get_command(ctx, name)


#: commands that own the terminal (Textual): their output is not filtered
TERMINAL_APPS = {"open"}


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="logconsole")
@click.option("--as", "as_name", metavar="NAME", default=None,
              help="Attribute annotations and findings to NAME (default: $LOGCONSOLE_AS, else the database "
                   "role on a server, else the login name).")
@click.pass_context
def main(ctx: click.Context, as_name: str | None) -> None:
    """logconsole: a terminal investigation console for audit logs.

    Ingest an evidence bundle once into a local index, then search it, review
    privileges, verify log integrity and export findings.  Every command takes
    --db PATH (default: $LOGCONSOLE_DB, else ./logconsole.db); PATH may be a
    PostgreSQL URL (postgresql+psycopg://user@host/case) for a case shared by a team.
    """
    if ctx.invoked_subcommand not in TERMINAL_APPS:
        # nothing from evidence (values, file names) reaches a terminal uninterpreted,
        # whatever a command prints (docs/evidence-safety.md)
        from logconsole.util.termsafe import guard_terminal_streams

        guard_terminal_streams()


if __name__ == "__main__":  # pragma: no cover
    main()
