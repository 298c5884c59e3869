"""Screens kept alive after they are dismissed, so that going back shows them as they were."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.screen import Screen


def keep_screen(app: App[Any], screen: Screen[Any], keep: bool) -> None:
    """Keep *screen* alive after it is dismissed (so Esc can return to it as it was), or let it go.

    Keep it before pushing it: a dismiss callback runs after the screen is popped, and a popped
    screen that is not kept is removed.  Letting go of a screen on the stack waits until it is off.
    """
    installed = app.is_screen_installed(screen)
    if keep:
        if not installed:
            app.install_screen(screen, f"kept-{id(screen):x}")
        return
    if installed:
        def release() -> None:
            if screen not in app.screen_stack and app.is_screen_installed(screen):
                app.uninstall_screen(screen)
                screen.remove()

        app.call_later(release)
