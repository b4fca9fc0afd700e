"""Unattended runs: lock, --quiet, --log-file, --shard, --push with merges, schedulers, faults."""

# ruff: noqa: F811 - the `api` fixture is imported from test_fetch and requested by name

from __future__ import annotations

import copy
import errno
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner
from test_fetch import LONG, OLD_1970, SMALL, archive

from gitarchive import exitcodes
from gitarchive.archive import layout
from gitarchive.cli import main
from gitarchive.errors import PushError
from gitarchive.git import lock
from gitarchive.git.store import Store
from gitarchive.history import timeline
from gitarchive.ops import push as push_module
from gitarchive.ops import schedule
from gitarchive.ops.shard import Shard
from gitarchive.spotify import client as spotify
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.standin import StandIn

KPOP = "37i9dQZF1DX5LEXW9eXA0n"
ALL = (OLD_1970, SMALL, LONG, KPOP)
PYTHON = sys.executable
GITARCHIVE = str(Path(sys.executable).parent / "gitarchive")


def invoke(*args: str) -> tuple[int, str, str]:
    """Run the CLI; (exit code, stdout, stderr) kept apart, as cron would see them."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def head(repo: Path) -> str:
    return str(pygit2.Repository(str(repo)).head.target)


# ------------------------------------------------------------------- the lock


def test_overlapping_run_exits_at_once_with_locked(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    before = head(repo)
    with lock.RepoLock(Store(repo), "gitarchive fetch"):
        started = time.monotonic()
        code, out, err = invoke("fetch", "--repo", str(repo), "--quiet")
        assert time.monotonic() - started < 5
        assert code == exitcodes.LOCKED
        assert "locked by 'gitarchive fetch' (pid" in err and str(os.getpid()) in err
        assert out == ""
        code, _, err = invoke("rebuild", "--repo", str(repo))
        assert code == exitcodes.LOCKED
    assert head(repo) == before
    assert invoke("fetch", "--repo", str(repo), "--quiet")[0] == exitcodes.OK


def test_lock_left_by_a_killed_process_is_taken_over(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    holder = subprocess.Popen(
        [PYTHON, "-c", textwrap.dedent(f"""
            import sys, time
            from gitarchive.git.lock import RepoLock
            from gitarchive.git.store import Store
            RepoLock(Store({str(repo)!r}), "gitarchive fetch").acquire()
            print("held", flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    assert invoke("fetch", "--repo", str(repo))[0] == exitcodes.LOCKED
    holder.kill()
    holder.wait()
    left = lock.Holder.read(lock.lock_path(Store(repo)))
    assert left is not None and left.pid == holder.pid and left.alive() is False
    log = tmp_path / "fetch.log"
    code, out, err = invoke("fetch", "--repo", str(repo), "--log-file", str(log))
    assert code == exitcodes.OK, err
    assert f"pid {holder.pid}" in err and "gone" in err
    assert f"pid {holder.pid}" in log.read_text()


# ------------------------------------------------------- quiet, log, progress


def test_quiet_prints_nothing_on_success_and_the_failure_when_one_fails(
    api: StandIn, tmp_path: Path
) -> None:
    repo = archive(tmp_path, SMALL, LONG)
    assert invoke("fetch", "--repo", str(repo), "--quiet") == (0, "", "")
    assert invoke("fetch", "--repo", str(repo), "--quiet") == (0, "", "")  # nothing new
    api.remove_playlist(LONG)
    code, out, err = invoke("fetch", "--repo", str(repo), "--quiet")
    assert code == exitcodes.PARTIAL
    assert LONG in err and "1 failed" in err and out == ""


def test_log_file_appends_a_timestamped_record(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    log = tmp_path / "logs" / "gitarchive.log"
    invoke("fetch", "--repo", str(repo), "--quiet", "--log-file", str(log))
    api.remove_playlist(SMALL)
    invoke("fetch", "--repo", str(repo), "--quiet", "--log-file", str(log))
    lines = log.read_text().splitlines()
    assert all(line[:4].isdigit() and line[10] == "T" and "Z gitarchive[" in line
               for line in lines)
    text = "\n".join(lines)
    assert text.count("fetch started") == 2
    assert "fetch finished: exit 0" in text and "fetch finished: exit 4" in text
    assert f"ERROR {SMALL}" in text and "committed" in text
    code, _, err = invoke("fetch", "--repo", str(repo), "--log-file", str(tmp_path))
    assert code == exitcodes.USAGE  # a directory is not a log file


def test_no_progress_bar_without_a_terminal(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL, LONG, OLD_1970)
    done = subprocess.run(
        [GITARCHIVE, "fetch", "--repo", str(repo)], capture_output=True, text=True,
        stdin=subprocess.DEVNULL, check=False, env=os.environ | {"TERM": "xterm-256color"},
    )
    assert done.returncode == 0, done.stderr
    assert "Fetching" not in done.stderr and "\x1b[" not in done.stdout + done.stderr
    assert done.stdout.startswith("Fetched 3 of 3 playlists")


# ---------------------------------------------------------------------- shards


def test_shards_split_the_registry_stably() -> None:
    pids = [f"{i:022d}" for i in range(300)]
    shards = [Shard.parse(f"{k}/3") for k in (1, 2, 3)]
    parts = [{p for p in pids if s.holds(p)} for s in shards]
    assert set().union(*parts) == set(pids) and sum(map(len, parts)) == len(pids)
    assert all(60 < len(part) < 140 for part in parts)
    # Another process (another hash seed) puts the same IDs in the same shard.
    other = subprocess.run(
        [PYTHON, "-c", "from gitarchive.ops.shard import Shard; import sys;"
         f"print(sorted(p for p in {pids!r} if Shard.parse('2/3').holds(p)))"],
        capture_output=True, text=True, check=True, env=os.environ | {"PYTHONHASHSEED": "123"},
    )
    assert other.stdout.strip() == str(sorted(parts[1]))


OUT_OF_RANGE = "K must be between 1 and N, and N at least 1"


@pytest.mark.parametrize(("bad", "why"), [
    ("0/3", OUT_OF_RANGE), ("4/3", OUT_OF_RANGE), ("1/0", OUT_OF_RANGE),
    ("x", "is not K/N (for example 1/3)"), ("1/2/3", "is not K/N (for example 1/3)"),
    ("-1/2", "is not K/N (for example 1/3)"),
])
def test_bad_shard_is_a_usage_error(tmp_path: Path, bad: str, why: str) -> None:
    repo = archive(tmp_path, SMALL)
    before = head(repo)
    code, out, err = invoke("fetch", "--repo", str(repo), "--shard", bad)
    assert code == exitcodes.USAGE
    assert f"Invalid value for '--shard': '{bad}': {why}" in err or \
        f"Invalid value for '--shard': '{bad}' {why}" in err
    assert out == "" and head(repo) == before  # nothing fetched, nothing committed


# ------------------------------------------------------------------ push/merge


def _remote_with_clones(tmp_path: Path, *pids: str) -> tuple[Path, Path, Path]:
    """A bare remote holding a registered archive, and two clones of it."""
    seed = archive(tmp_path / "seed", *pids)
    remote = tmp_path / "remote.git"
    pygit2.init_repository(str(remote), bare=True, initial_head="main")
    pygit2.Repository(str(seed)).remotes.create("origin", str(remote))
    assert invoke("fetch", "--repo", str(seed), "--push", "--shard", "1/1000")[0] == 0
    clones = []
    for name in ("a", "b"):
        clone = tmp_path / name
        pygit2.clone_repository(str(remote), str(clone), checkout_branch="main")
        clones.append(clone)
    return remote, clones[0], clones[1]


def test_two_clones_fetch_different_shards_and_both_push(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote, a, b = _remote_with_clones(tmp_path, *ALL)
    shard_a = [p for p in ALL if Shard(1, 4).holds(p)]  # the others are in 3/4
    assert 0 < len(shard_a) < len(ALL)
    assert invoke("fetch", "--repo", str(a), "--shard", "1/4", "--push")[0] == 0
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-01T07:00:00Z")
    code, out, err = invoke("fetch", "--repo", str(b), "--shard", "3/4", "--push")
    assert code == 0, err
    assert "after merging 1 remote change" in out
    tip = pygit2.Repository(str(remote)).references["refs/heads/main"].peel(pygit2.Commit)
    assert any(len(c.parents) == 2 for c in [tip, *tip.parents])
    server = Store(remote)
    for pid in ALL:
        assert server.read(layout.pretty_json_path(pid)) is not None, pid
        assert server.read(layout.cumulative_json_path(pid)) is not None, pid
        assert pid in (server.read(layout.INDEX) or b"").decode()
    assert not {p: f for p, f in pygit2.Repository(str(b)).status().items()
                if f != pygit2.GIT_STATUS_IGNORED}
    # The views equal a full rebuild of the merged history.
    assert invoke("rebuild", "--repo", str(b), "--full", "--quiet")[0] == 0
    assert head(b) == str(tip.id)


@pytest.mark.parametrize("b_is_newer", [True, False])
def test_same_playlist_on_both_sides_newer_snapshot_wins(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, b_is_newer: bool
) -> None:
    remote, a, b = _remote_with_clones(tmp_path, SMALL)
    data = copy.deepcopy(load_fixture_playlists()[SMALL])
    first = data["items"]["items"].pop()
    data["name"] = "Version A"
    data["followers"] = {"href": None, "total": 111}
    api.set_playlist(SMALL, data)
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-02T06:00:00Z" if b_is_newer
                       else "2026-03-02T09:00:00Z")
    assert invoke("fetch", "--repo", str(a), "--push")[0] == 0
    data["items"]["items"].append(first)
    data["items"]["items"].pop(0)
    data["name"] = "Version B"
    data["followers"] = {"href": None, "total": 222}
    api.set_playlist(SMALL, data)
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-02T08:00:00Z")
    code, _, err = invoke("fetch", "--repo", str(b), "--push")
    assert code == 0, err
    server = Store(remote)
    snapshot = json.loads(server.read(layout.pretty_json_path(SMALL)) or b"")
    winner = "Version B" if b_is_newer else "Version A"
    assert snapshot["original_name"] == winner
    assert winner in (server.read(layout.pretty_md_path(SMALL)) or b"").decode()
    assert winner in (server.read(layout.INDEX) or b"").decode()
    # Both sides counted followers on 2026-03-02; the newer side's count is kept.
    followers = json.loads(server.read(layout.followers_path(SMALL)) or b"null")
    assert followers == {"2026-03-02": 222 if b_is_newer else 111}


def test_concurrent_pushes_from_two_machines(api: StandIn, tmp_path: Path) -> None:
    remote, a, b = _remote_with_clones(tmp_path, *ALL)
    procs = [
        subprocess.Popen([GITARCHIVE, "fetch", "--repo", str(clone), "--quiet", "--push",
                          "--shard", shard], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for clone, shard in ((a, "1/4"), (b, "3/4"))
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out == ""
    server = Store(remote)
    assert all(server.read(layout.pretty_json_path(pid)) is not None for pid in ALL)


def test_push_without_remote_fails_with_its_own_code(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    code, _, err = invoke("fetch", "--repo", str(repo), "--quiet", "--push", "upstream")
    assert code == exitcodes.PUSH_FAILED and "no remote named 'upstream'" in err
    assert Store(repo).read(layout.pretty_json_path(SMALL)) is not None  # committed anyway


def test_a_remote_by_relative_path_is_pushed_from_cron_and_a_missing_one_named(
        api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'git remote add backup ../backup.git' works for git in the archive; cron runs in /,
    where libgit2 found no such path and said "unsupported URL protocol"."""
    repo = archive(tmp_path, SMALL)
    pygit2.init_repository(str(tmp_path / "backup.git"), bare=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "backup", "../backup.git"],
                   check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "gone", "../gone.git"], check=True)
    monkeypatch.chdir("/")
    code, _, err = invoke("fetch", "--repo", str(repo), "--quiet", "--push", "backup")
    assert code == exitcodes.OK, err
    assert str(pygit2.Repository(str(tmp_path / "backup.git")).branches["main"].target) == \
        head(repo)
    code, _, err = invoke("fetch", "--repo", str(repo), "--quiet", "--push", "gone")
    assert code == exitcodes.PUSH_FAILED
    assert "gone.git is not a git repository" in err and "protocol" not in err


def test_ssh_push_from_cron_takes_the_key_ssh_would_take(tmp_path: Path) -> None:
    """Cron has no SSH agent; 'git push' there takes ~/.ssh/id_ed25519 (or id_ecdsa,
    id_rsa) as ssh does, and gitarchive's push said it had no credentials."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    for name in ("id_rsa", "id_ed25519"):
        (home / ".ssh" / name).write_text("a key\n")
    ssh = pygit2.enums.CredentialType.SSH_KEY
    url = "ssh://git@example.invalid/archive.git"
    key = push_module.Credentials({"HOME": str(home)}).credentials(url, "git", ssh)
    assert isinstance(key, pygit2.Keypair) and not isinstance(key, pygit2.KeypairFromAgent)
    assert key.credential_tuple[:3] == ("git", None, str(home / ".ssh" / "id_ed25519"))
    agent = {"HOME": str(home), "SSH_AUTH_SOCK": str(tmp_path / "agent")}
    assert isinstance(push_module.Credentials(agent).credentials(url, "git", ssh),
                      pygit2.KeypairFromAgent)  # an agent first, as before
    told = {"HOME": str(home), "GITARCHIVE_SSH_KEY": str(tmp_path / "k"), **agent}
    chosen = push_module.Credentials(told).credentials(url, "git", ssh)
    assert chosen.credential_tuple[2] == str(tmp_path / "k")
    with pytest.raises(PushError, match="none is in ~/.ssh"):
        push_module.Credentials({"HOME": str(tmp_path)}).credentials(url, "git", ssh)


# ------------------------------------------------------------------ schedulers


def _cron_env(tmp_path: Path, api: StandIn) -> Path:
    home = tmp_path / "home"
    env_file = home / ".config" / "gitarchive" / "env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text(
        f"SPOTIFY_CLIENT_ID=demo-client\nSPOTIFY_CLIENT_SECRET=demo-secret\n"
        f"SPOTIFY_API_BASE={api.api_base}\nSPOTIFY_TOKEN_URL={api.token_url}\n"
    )
    env_file.chmod(0o600)
    return home


def test_crontab_line_works_as_written_in_a_cron_like_environment(
    api: StandIn, tmp_path: Path
) -> None:
    repo = archive(tmp_path, SMALL, LONG)
    home = _cron_env(tmp_path, api)
    code, text, _ = invoke("schedule", "cron", "--repo", str(repo), "--env-file",
                           str(home / ".config" / "gitarchive" / "env"))
    assert code == 0
    command = schedule.cron_command(text)
    cron = {"HOME": str(home), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "LOGNAME": "root"}
    done = subprocess.run(["/bin/sh", "-c", command], cwd="/", env=cron, capture_output=True,
                          stdin=subprocess.DEVNULL, text=True, check=False,
                          start_new_session=True)  # no controlling terminal
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert Store(repo).read(layout.plain_path(LONG)) is not None
    log = repo / ".git" / "gitarchive" / "fetch.log"
    assert "fetch finished: exit 0" in log.read_text()
    api.remove_playlist(LONG)  # a failure: cron must have something to mail
    done = subprocess.run(["/bin/sh", "-c", command], cwd="/", env=cron, capture_output=True,
                          stdin=subprocess.DEVNULL, text=True, check=False)
    assert done.returncode == exitcodes.PARTIAL and LONG in done.stderr


@pytest.mark.parametrize("kind", ["cron", "systemd"])
def test_schedule_says_when_the_env_file_is_not_there_yet(tmp_path: Path, kind: str) -> None:
    """Scheduled without its credentials file, the run would fail at its first night, where
    nobody sees it (cron's '.' and systemd's EnvironmentFile both need the file)."""
    repo = archive(tmp_path, SMALL)
    env = tmp_path / "env"
    code, missing, said = invoke("schedule", kind, "--repo", str(repo), "--env-file", str(env))
    assert code == 0 and f"{env} does not exist yet" in said
    env.write_text("SPOTIFY_CLIENT_ID=x\n")
    code, there, said = invoke("schedule", kind, "--repo", str(repo), "--env-file", str(env))
    assert (code, there, said) == (0, missing, "")


def test_systemd_service_runs_as_written(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    home = _cron_env(tmp_path, api)
    env_file = home / ".config" / "gitarchive" / "env"
    code, text, _ = invoke("schedule", "systemd", "--repo", str(repo), "--env-file",
                           str(env_file), "--at", "05:30")
    assert code == 0 and "OnCalendar=*-*-* 05:30:00" in text
    unit = dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line and not line.startswith("#"))
    assert unit["EnvironmentFile"] == str(env_file)
    env = {"PATH": "/usr/bin:/bin"} | schedule.parse_env_file(env_file.read_text())
    before = head(repo)
    done = subprocess.run(unit["ExecStart"].split(), cwd=unit["WorkingDirectory"], env=env,
                          capture_output=True, stdin=subprocess.DEVNULL, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    # The service fetched and committed: one new commit holding the playlist's snapshot.
    commit = pygit2.Repository(str(repo))[head(repo)]
    assert [str(p) for p in commit.parent_ids] == [before]
    assert commit.message.startswith("Update 1 playlist: +12 -0 tracks")
    assert Store(repo).read(layout.pretty_json_path(SMALL)) is not None


def _as_systemd_reads(value: str, *, argument: bool = False) -> str:
    """A unit file's value as systemd reads it: '%%' is '%', any other '%' a specifier;
    in an argument of ExecStart, '$$' is '$' and any other '$' a variable."""
    held = value.replace("%%", "\0")
    assert "%" not in held, f"a systemd specifier in {value!r}"
    if argument:
        held = held.replace("$$", "\1")
        assert "$" not in held, f"a systemd variable in {value!r}"
    return held.replace("\0", "%").replace("\1", "$")


def test_systemd_units_hold_paths_with_percent_dollar_and_spaces(tmp_path: Path) -> None:
    """systemd expands '%d' (the credentials directory) and '$VAR' where cron would not."""
    repo = archive(tmp_path / "100%done $HOME ${USER}")
    env_file = tmp_path / "50% env" / "env"
    code, text, _ = invoke("schedule", "systemd", "--repo", str(repo), "--env-file",
                           str(env_file))
    assert code == 0, text
    unit = dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line and not line.startswith("#"))
    assert _as_systemd_reads(unit["WorkingDirectory"]) == str(repo)
    assert _as_systemd_reads(unit["EnvironmentFile"]) == str(env_file)
    assert _as_systemd_reads(unit["Description"]).endswith(str(repo))
    program, *args = shlex.split(_as_systemd_reads(unit["ExecStart"]))
    args = [_as_systemd_reads(a, argument=True) for a in shlex.split(unit["ExecStart"])[1:]]
    assert Path(program).name in ("gitarchive", Path(sys.executable).name)
    assert args[args.index("--repo") + 1] == str(repo)
    assert args[args.index("--log-file") + 1] == str(repo / ".git/gitarchive/fetch.log")


def test_actions_workflow_runs_a_valid_command(tmp_path: Path) -> None:
    repo = archive(tmp_path)
    code, text, _ = invoke("schedule", "actions", "--repo", str(repo), "--shards", "3")
    assert code == 0
    assert "fetch-depth: 0" in text and "contents: write" in text
    assert "${{ secrets.SPOTIFY_CLIENT_SECRET }}" in text
    run = next(line.split("run: ", 1)[1] for line in text.splitlines()
               if line.strip().startswith("run: gitarchive"))
    args = run.replace("${{ matrix.shard }}", "2").split()[1:]
    ctx = main.make_context("gitarchive", args[:1])
    sub = main.get_command(ctx, args[0])
    assert sub is not None
    params = sub.make_context("fetch", args[1:]).params
    assert params["push_remote"] == "origin" and params["shard"] == Shard(2, 3)
    assert params["quiet"]
    assert "site:" not in text
    assert "${{ secrets.SPOTIFY_REFRESH_TOKEN }}" in text and "gitarchive login --print" in text


def test_actions_workflow_installs_the_package_as_one_word(tmp_path: Path) -> None:
    """A PEP 508 direct reference has spaces: the shell must pass it to pip whole."""
    repo = archive(tmp_path)
    package = "gitarchive @ git+https://github.com/me/gitarchive@v1"
    code, text, _ = invoke("schedule", "actions", "--repo", str(repo), "--package", package,
                           "--site-branch", "gh-pages")
    assert code == 0
    installs = [line.split("run: ", 1)[1] for line in text.splitlines()
                if line.strip().startswith("- run: pip")]
    assert len(installs) == 2
    assert all(shlex.split(line) == ["pip", "install", package] for line in installs)


def test_actions_workflow_can_publish_the_site(tmp_path: Path) -> None:
    repo = archive(tmp_path)
    code, text, _ = invoke("schedule", "actions", "--repo", str(repo), "--site-branch",
                           "gh-pages")
    assert code == 0
    assert "  site:\n    needs: fetch\n" in text
    # a fetch job that fails (exit 3: some playlists failed, the rest pushed) still
    # publishes the site; only a cancelled run does not
    site_job = text.split("\n  site:\n", 1)[1].split("\n    steps:", 1)[0]
    assert "if: ${{ !cancelled() }}" in site_job
    run = next(line.strip() for line in text.splitlines()
               if line.strip().startswith("gitarchive site"))
    args = shlex.split(run.replace("${{ github.repository_owner }}", "me").replace(
        "${{ github.event.repository.name }}", "playlists"))[1:]
    ctx = main.make_context("gitarchive", args[:1])
    site = main.get_command(ctx, "site")
    assert site is not None
    params = site.make_context("site", args[1:], parent=ctx).params  # -h/--help as in main
    assert params["branch"] == "gh-pages" and params["quiet"]
    assert params["base_url"] == "https://me.github.io/playlists"
    assert "git push --force origin gh-pages" in text


# ---------------------------------------------------------------------- faults


@pytest.mark.parametrize("delay", [0.0, 0.35, 0.7])
def test_killed_run_leaves_previous_or_new_commit_and_a_usable_repo(
    api: StandIn, tmp_path: Path, delay: float
) -> None:
    """SIGKILL at a few moments (import, fetch, after the end): never a broken repository.

    Timers cannot aim at the one dangerous moment, between the checkout update and the
    branch move; tests/test_recovery.py injects the crash exactly there.
    """
    repo = archive(tmp_path, *ALL)
    before = head(repo)
    env = os.environ | {"SPOTIFY_API_BASE": api.api_base, "SPOTIFY_TOKEN_URL": api.token_url}
    proc = subprocess.Popen([PYTHON, "-m", "gitarchive", "fetch", "--repo", str(repo)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = head(repo)
    assert after == before or pygit2.Repository(str(repo))[after].parents[0].id == \
        pygit2.Oid(hex=before)
    fsck = subprocess.run(["git", "-C", str(repo), "fsck", "--strict"], capture_output=True,
                          text=True, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert not (repo / ".git" / "index.lock").exists()
    code, _, err = invoke("fetch", "--repo", str(repo), "--quiet")
    assert code == exitcodes.OK, err
    assert Store(repo).read(layout.pretty_json_path(LONG)) is not None


@pytest.mark.parametrize(("number", "words"), [
    (errno.ENOSPC, "the disk is full"),
    (errno.EROFS, "read-only file system"),
])
def test_full_or_read_only_repository_is_a_clear_error(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, number: int, words: str
) -> None:
    # Tests run as root, where chmod does not stop writes, and there is no read-only
    # mount to use: the failing write is simulated where the run writes objects.
    repo = archive(tmp_path, SMALL)
    before = head(repo)

    def failing(*args: object, **kwargs: object) -> None:
        raise OSError(number, os.strerror(number))

    monkeypatch.setattr(Store, "write_tree", failing)
    code, out, err = invoke("fetch", "--repo", str(repo), "--quiet")
    assert code == exitcodes.ERROR and words in err and "Nothing was committed" in err
    assert "Traceback" not in out + err and head(repo) == before
    monkeypatch.undo()
    # The lock itself cannot be created on a read-only repository either.
    real_open = os.open

    def no_lock(path: str | Path, *args: object, **kwargs: object) -> int:
        if str(path).endswith("gitarchive/lock"):
            raise OSError(number, os.strerror(number))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lock.os, "open", no_lock)
    code, _, err = invoke("fetch", "--repo", str(repo))
    assert code == exitcodes.ERROR and words in err and "Traceback" not in err


def test_a_full_disk_under_the_caches_is_the_same_clear_error(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite says a full disk its own way ("database or disk is full", writing the
    timelines kept in the git directory): fetch and rebuild said it was a bug of ours."""
    repo = archive(tmp_path, SMALL)
    before = head(repo)

    def full(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with monkeypatch.context() as patched:
        patched.setattr(timeline.Timelines, "save", full)
        for command in ("fetch", "rebuild"):
            code, out, err = invoke(command, "--repo", str(repo), "--quiet")
            assert code == exitcodes.ERROR and "the disk is full" in err, err
            assert "Traceback" not in out + err
            assert head(repo) == before or "commit" in err and "is made" in err
    done = invoke("fetch", "--repo", str(repo), "--quiet")
    assert done[0] == exitcodes.OK, done[2]
    assert invoke("rebuild", "--repo", str(repo), "--quiet")[0] == exitcodes.OK


@pytest.fixture
def secret_standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    with StandIn(load_fixture_playlists(), client_secret="cs-Sup3rSecret-4242",
                 refresh_token="rt-Refr3sh-9191") as server:
        monkeypatch.setenv("SPOTIFY_CLIENT_ID", "demo-client")
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "cs-Sup3rSecret-4242")
        monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN", "rt-Refr3sh-9191")
        monkeypatch.setenv("GITARCHIVE_GIT_TOKEN", "gt-G1tT0ken-7373")
        monkeypatch.setenv("SPOTIFY_API_BASE", server.api_base)
        monkeypatch.setenv("SPOTIFY_TOKEN_URL", server.token_url)
        yield server


class _AskForPassword:
    """An http git remote on 127.0.0.1 that refuses every credential (and records them)."""

    def __init__(self) -> None:
        import http.server
        import threading

        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the base's name
                seen.append(self.headers.get("Authorization", ""))
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/archive.git"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SECRETS = ("cs-Sup3rSecret-4242", "rt-Refr3sh-9191", "gt-G1tT0ken-7373")


def test_no_secret_anywhere_after_runs_that_fail_every_way(
    secret_standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spotify, "backoff", lambda failures: 0.0)  # retries without waiting
    repo = archive(tmp_path, SMALL, LONG)
    remote = _AskForPassword()
    pygit2.Repository(str(repo)).remotes.create("origin", remote.url)
    # A followed source behind the same refusing server: every fetch also asks it.
    from gitarchive.ops.follow.sources import Source, follow_path

    Store(repo).commit({follow_path("private"): Source("private", remote.url, (OLD_1970,))
                        .to_bytes()}, "Follow private")
    log = tmp_path / "run.log"
    outputs = []

    def attempt(*extra: str) -> int:
        code, out, err = invoke("fetch", "--repo", str(repo), "--log-file", str(log), *extra)
        outputs.append(out + err)
        return code

    try:
        assert attempt("--push") == exitcodes.PUSH_FAILED  # fetched, then the push refused
        assert any(header.startswith("Basic ") for header in remote.seen)  # the token was sent
        secret_standin.set_playlist(SMALL, {**load_fixture_playlists()[SMALL], "name": "new"})
        with monkeypatch.context() as patch:
            patch.setattr(Store, "write_tree", lambda *a, **k: (_ for _ in ()).throw(
                OSError(errno.ENOSPC, f"No space left on device: {SECRETS[0]}")))
            assert attempt() == exitcodes.ERROR  # a full disk, a secret in the error text
        secret_standin.remove_playlist(LONG)
        assert attempt() == exitcodes.PARTIAL  # a 404
        secret_standin.fail_next("/api/token", 500, times=20)
        assert attempt("--quiet") != exitcodes.OK  # the token endpoint fails
        secret_standin.fail_next(f"/playlists/{SMALL}", 200, body="{broken", times=20)
        assert attempt() != exitcodes.OK  # malformed answers
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "cs-Wr0ngSecret-1111")
        assert attempt() == exitcodes.NOTHING_FETCHED  # rejected credentials
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", SECRETS[0])
        with lock.RepoLock(Store(repo), "gitarchive fetch"):
            assert attempt() == exitcodes.LOCKED
        for extra in ((), ("--json",)):  # the run records, as status reads them back
            _code, out, err = invoke("status", "--repo", str(repo), *extra)
            outputs.append(out + err)
        assert "failing since" in outputs[-2]
    finally:
        remote.close()
    assert any("error: private: cannot fetch private" in o for o in outputs)
    site_dir = tmp_path / "site"  # the static site, its branch and its timelines: no secret
    code, out, err = invoke("site", str(site_dir), "--branch", "pages", "--repo", str(repo))
    assert code == exitcodes.OK, out + err
    outputs.append(out + err)
    from gitarchive.ops import rendered

    assert rendered.path(Store(repo)).is_file()  # the record of what fetch rendered: searched too
    assert_nowhere(SECRETS, repo, outputs, log, also=[site_dir])


def assert_nowhere(
    secrets: Iterable[str], repo: Path, outputs: list[str], log: Path, also: Iterable[Path] = ()
) -> None:
    """No secret in any output, the log, a file of the checkout (or of ``also``), a git object
    or a reflog."""
    haystacks: dict[str, bytes] = {f"output {i}": o.encode() for i, o in enumerate(outputs)}
    haystacks["log"] = log.read_bytes()
    for path in [*repo.rglob("*"), *(p for d in also for p in d.rglob("*"))]:
        if path.is_file():
            haystacks[str(path)] = path.read_bytes()
    git = pygit2.Repository(str(repo))
    for oid in git.odb:
        haystacks[f"object {oid}"] = git.odb.read(oid)[1]
    for ref in git.references:
        haystacks[f"reflog {ref}"] = "\n".join(
            e.message or "" for e in git.references[ref].log()).encode()
    assert len(haystacks) > 20
    for secret in secrets:
        found = [where for where, data in haystacks.items() if secret.encode() in data]
        assert not found, f"{secret} found in {found}"


def test_no_login_secret_anywhere_after_login_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PKCE code and verifier and every token issued by a login stay out of everything."""
    import requests

    playlists = load_fixture_playlists()
    playlists[SMALL]["owner"] = {**playlists[SMALL]["owner"], "id": "demo-user"}
    with StandIn(playlists, mode="development") as server:
        server.users.share(LONG, "demo-user")
        for name, value in (("SPOTIFY_CLIENT_ID", "demo-client"),
                            ("SPOTIFY_CLIENT_SECRET", "demo-secret"),
                            ("SPOTIFY_API_BASE", server.api_base),
                            ("SPOTIFY_TOKEN_URL", server.token_url),
                            ("SPOTIFY_AUTHORIZE_URL", server.authorize_url)):
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN", raising=False)

        def browser(url: str) -> bool:
            answer = requests.get(url, allow_redirects=False, timeout=5)
            requests.get(answer.headers["Location"], timeout=5)
            return True

        monkeypatch.setattr("webbrowser.open", browser)
        monkeypatch.setenv("DISPLAY", ":0")  # a desktop: login opens the browser
        monkeypatch.setattr("gitarchive.spotify.auth.LOGIN_TIMEOUT", 10.0)
        repo = archive(tmp_path)
        log = tmp_path / "run.log"
        outputs = []

        def attempt(*args: str) -> int:
            code, out, err = invoke(*args)
            outputs.append(out + err)
            return code

        assert attempt("login", "--port", "0") == 0
        assert attempt("whoami") == 0
        assert attempt("add", "--mine", "--repo", str(repo)) == 0
        assert attempt("add", OLD_1970, "--repo", str(repo)) == 0
        assert attempt("fetch", "--repo", str(repo), "--log-file", str(log)) == exitcodes.PARTIAL
        server.expire_tokens()  # a 401 mid-run, then a fresh token
        server.set_playlist(SMALL, {**playlists[SMALL], "name": "renamed"})
        assert attempt("fetch", "--repo", str(repo), "--log-file", str(log)) == exitcodes.PARTIAL
        server.users.rotate_refresh_tokens = True
        assert attempt("fetch", "--repo", str(repo), "--log-file", str(log)) == exitcodes.PARTIAL
        assert attempt("rebuild", "--repo", str(repo)) == 0
        assert attempt("logout") == 0
        seen = list(server.users.secrets_seen)
    assert any(len(s) > 80 for s in seen)  # the code verifier is among them
    assert len(seen) >= 8
    assert_nowhere(seen, repo, outputs, log)


def test_a_fetch_run_as_a_process_leaves_its_commit_log_and_status(api: StandIn,
                                                                   tmp_path: Path) -> None:
    """As cron runs it: a process of its own, which ends with os._exit (cli.leave) once its
    output and log are flushed; a failed playlist still says so in the status and the log."""
    repo = archive(tmp_path, SMALL, LONG)
    api.remove_playlist(LONG)
    log = tmp_path / "fetch.log"
    env = os.environ | {"SPOTIFY_API_BASE": api.api_base, "SPOTIFY_TOKEN_URL": api.token_url}
    noted = ("import os, sys\nfrom gitarchive.cli import run\nreal = os._exit\n"
             "def leaving(status):\n    os.write(2, b'[os._exit]')\n    real(status)\n"
             "os._exit = leaving\nsys.argv = ['gitarchive', *sys.argv[1:]]\nrun()\n")
    done = subprocess.run([PYTHON, "-c", noted, "fetch", "--repo", str(repo),
                           "--log-file", str(log)], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == exitcodes.PARTIAL, done.stderr
    assert done.stderr.endswith("[os._exit]")  # no thread left running: the quick exit
    assert LONG in done.stderr and "1 failed" in done.stdout + done.stderr
    assert done.stdout.endswith("\n")
    text = log.read_text()
    assert text.count("fetch started") == 1 and LONG in text and text.endswith("\n")
    assert Store(repo).head() is not None
    assert (repo / layout.pretty_json_path(SMALL)).exists()


def test_a_merge_keeps_a_playlist_whose_registry_file_is_unusable_in_the_index(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a run does (ops/fetch.py): until the file is mended, index.md lists the playlist
    as last shown; the index a push's merge writes did drop it."""
    remote, a, b = _remote_with_clones(tmp_path, SMALL, LONG)
    assert invoke("fetch", "--repo", str(a), "--push")[0] == exitcodes.OK
    Store(b).commit({layout.registry_path(SMALL): b"My alias\nstray second line\n"}, "alias")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-01T07:00:00Z")
    code, out, err = invoke("fetch", "--repo", str(b), "--push")
    assert code == exitcodes.PARTIAL and "after merging 1 remote change" in out, err
    index = (Store(remote).read(layout.INDEX) or b"").decode()
    assert SMALL in index and LONG in index, index
