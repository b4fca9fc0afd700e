"""``python -m gitarchive``: the CLI without relying on PATH (git hooks, cron)."""

from gitarchive.cli import run

run()
