"""Scheduler files for unattended runs (cron, systemd, GitHub Actions), with real paths filled in.

Rendered from templates/schedule-*.j2 by ``gitarchive schedule``: the paths of
this installation's ``gitarchive`` and of the archive are absolute, because cron
and systemd start jobs with almost no environment and an unrelated directory.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import jinja2

from gitarchive.errors import ScheduleError

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("gitarchive.ops", "templates"),
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # shell and unit files, not HTML
)


# Shown as written in --help (the same on every machine), expanded where it is used.
ENV_FILE = "~/.config/gitarchive/env"


@dataclass(frozen=True)
class Plan:
    """What to schedule: which archive, when, where credentials and the log live."""

    repo: Path
    hour: int = 6
    minute: int = 17
    env_file: Path = Path(ENV_FILE).expanduser()
    log_file: Path | None = None
    push: str | None = None
    shards: int = 1
    package: str = "gitarchive"
    site_branch: str | None = None  # Actions: publish the static site to this branch

    @property
    def log(self) -> Path:
        return self.log_file or self.repo / ".git" / "gitarchive" / "fetch.log"


def gitarchive_command() -> list[str]:
    """How to start this installation's gitarchive without relying on PATH."""
    beside = Path(sys.executable).parent / "gitarchive"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("gitarchive")
    return [found] if found else [sys.executable, "-m", "gitarchive"]


def fetch_args(plan: Plan, *, repo: bool = True) -> list[str]:
    args = ["fetch"]
    if repo:
        args += ["--repo", str(plan.repo)]
    args += ["--quiet", "--log-file", str(plan.log)]
    if plan.push is not None:
        args += ["--push", plan.push]
    return args


def cron(plan: Plan) -> str:
    """A crontab line (with comments) that loads the env file and runs a quiet fetch."""
    run = shlex.join([*gitarchive_command(), *fetch_args(plan)])
    command = f"set -a && . {shlex.quote(str(plan.env_file))} && set +a && exec {run}"
    if "%" in command:  # cron turns % into newlines
        raise ScheduleError("a path contains '%', which crontab cannot hold; choose another path")
    return _ENV.get_template("schedule-cron.j2").render(
        repo=plan.repo, hour=plan.hour, minute=plan.minute, env_file=plan.env_file,
        command=command,
    )


def cron_command(text: str) -> str:
    """The shell command of the crontab line in ``text`` (what cron hands to /bin/sh)."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.split(None, 5)[5]
    raise ScheduleError("no crontab line found")


def systemd(plan: Plan) -> dict[str, str]:
    """``gitarchive-fetch.service`` and ``.timer`` for ``systemctl --user``."""
    unit_dir = "~/.config/systemd/user"
    program, *args = [*gitarchive_command(), *fetch_args(plan)]
    # systemd reads % as a specifier everywhere (a path '100%done' would hold the
    # credentials directory) and $ in arguments as a variable: both are doubled.
    exec_start = " ".join([shlex.quote(program), *(shlex.quote(a).replace("$", "$$")
                                                   for a in args)]).replace("%", "%%")
    values = dict(repo=str(plan.repo).replace("%", "%%"), hour=plan.hour, minute=plan.minute,
                  env_file=str(plan.env_file).replace("%", "%%"), unit_dir=unit_dir,
                  exec_start=exec_start)
    return {
        "gitarchive-fetch.service": _ENV.get_template("schedule-systemd-service.j2").render(
            **values),
        "gitarchive-fetch.timer": _ENV.get_template("schedule-systemd-timer.j2").render(**values),
    }


def actions(plan: Plan) -> str:
    """A GitHub Actions workflow: checkout, install, fetch and push (sharded if asked)."""
    args = ["gitarchive", "fetch", "--quiet", "--push", plan.push or "origin"]
    run = shlex.join(args)
    if plan.shards > 1:
        run += f" --shard ${{{{ matrix.shard }}}}/{plan.shards}"
    site = None
    if plan.site_branch:
        # GitHub Pages serves https://OWNER.github.io/REPO/ (Actions expressions fill them in).
        base = ("https://${{ github.repository_owner }}.github.io/"
                "${{ github.event.repository.name }}")
        site = (shlex.join(["gitarchive", "site", "--quiet", "--branch", plan.site_branch])
                + f' --base-url "{base}"')
    return _ENV.get_template("schedule-actions.yml.j2").render(
        hour=plan.hour, minute=plan.minute, shards=plan.shards, run=run,
        install=shlex.join(["pip", "install", plan.package]),  # 'name @ git+URL' is one word
        site=site, site_branch=plan.site_branch,
    )


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=value lines as both ``set -a; . file`` and systemd's EnvironmentFile read them."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        env[key.strip()] = value.strip().strip("'\"")
    return env
