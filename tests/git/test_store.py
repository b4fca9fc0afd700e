"""The pygit2 store: atomic commits, crash recovery, packs git can read, git's date forms."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2
import pytest

from gitarchive.errors import DirtyWorktreeError, StoreError
from gitarchive.git import packwriter, worktree
from gitarchive.git.identity import parse_git_date
from gitarchive.git.store import Store, blob_data


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def test_commit_moves_branch_updates_checkout_and_skips_no_op(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    first = store.commit({"playlists/plain/x": b"1\n", "playlists/registry/x": b""}, "one")
    assert first is not None and (tmp_path / "a/playlists/plain/x").read_bytes() == b"1\n"
    assert store.commit({"playlists/plain/x": b"1\n"}, "same") is None
    store.commit({"playlists/plain/x": None, "playlists/pretty/x.json": b"{}"}, "two")
    assert not (tmp_path / "a/playlists/plain").exists()
    assert git(tmp_path / "a", "status", "--porcelain") == ""
    assert git(tmp_path / "a", "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


def test_only_changed_paths_are_written_and_the_checkout_stays_clean(tmp_path: Path) -> None:
    root = tmp_path / "a"
    store = Store.init(root)
    files = {f"playlists/plain/p{i}": f"{i}\n".encode() for i in range(100)}
    store.commit({**files, "keep/untracked-neighbour": b"x"}, "many")  # >= a pack's worth
    (root / "notes.txt").write_text("the user's own untracked file\n")
    untouched = root / "playlists/plain/p7"
    before = untouched.stat().st_mtime_ns, untouched.stat().st_ino
    new = {f"playlists/cumulative/p{i}.md": f"# {i}\n".encode() for i in range(100)}
    store.commit({**new, "playlists/plain/p1": b"changed\n", "playlists/plain/p2": None,
                  "keep/untracked-neighbour": None}, "views")
    assert (root / "playlists/cumulative/p42.md").read_bytes() == b"# 42\n"
    assert (root / "playlists/plain/p1").read_bytes() == b"changed\n"
    assert not (root / "playlists/plain/p2").exists()
    assert not (root / "keep").exists()  # its folder went with its last file
    assert (untouched.stat().st_mtime_ns, untouched.stat().st_ino) == before
    assert (root / "notes.txt").read_text() == "the user's own untracked file\n"
    assert git(root, "status", "--porcelain") == "?? notes.txt\n"
    assert git(root, "diff", "--cached", "--stat") == ""


def test_user_edits_are_refused_by_name(tmp_path: Path) -> None:
    store = Store.init(tmp_path)
    store.commit({"a/b": b"1"}, "one")
    (tmp_path / "a/b").write_bytes(b"mine")
    (tmp_path / "a/new").write_bytes(b"untracked, in the way")
    with pytest.raises(DirtyWorktreeError) as err:
        store.commit({"a/b": b"2", "a/new": b"x", "a/c": b"3"}, "two")
    assert err.value.paths == ["a/b", "a/new"]
    assert (tmp_path / "a/b").read_bytes() == b"mine" and len(list(store.repo.walk(
        store.repo.head.target))) == 1


def test_killed_between_checkout_and_ref_move_is_rolled_back(tmp_path: Path) -> None:
    """The branch is the truth: files a dead run wrote are put back to HEAD's versions."""
    store = Store.init(tmp_path)
    store.commit({"p/a": b"old\n", "p/b": b"same\n"}, "one")
    head = store.repo.head.target

    class Killed(BaseException):
        pass

    def die(*args: object, **kwargs: object) -> None:
        raise Killed

    store.repo.create_reference_direct = die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        store.commit({"p/a": b"new\n", "p/c": b"added\n"}, "two")
    assert (tmp_path / "p/a").read_bytes() == b"new\n"  # the checkout was already updated
    fresh = Store(tmp_path)
    assert fresh.repo.head.target == head
    fresh.recover()
    assert (tmp_path / "p/a").read_bytes() == b"old\n" and not (tmp_path / "p/c").exists()
    assert git(tmp_path, "status", "--porcelain") == ""
    assert fresh.commit({"p/a": b"newer\n"}, "three") is not None


def test_killed_while_writing_files_before_the_index_is_rolled_back(tmp_path: Path) -> None:
    """Killed while the checkout wrote files, before it wrote the index: the files the new
    commit added are untracked then; what the dead run wrote of them (whole or in part)
    goes, a file that is something else stays, and the next commit goes through."""
    store = Store.init(tmp_path)
    store.commit({"p/a": b"old\n"}, "one")
    head = store.repo.head.peel(pygit2.Commit)
    added = {"p/whole": b"added whole\n", "p/part": b"added, the start of it written\n",
             "p/other": b"added\n", "p/never": b"not written at all\n"}
    tree = store.write_tree(head.tree, {"p/a": b"new\n", **added})
    sig = pygit2.Signature("t", "t@example.invalid")
    new = store.repo.create_commit(None, sig, sig, "two", tree, [head.id])
    (tmp_path / "gitarchive-marker").touch()  # (unrelated untracked file: untouched)
    marker = tmp_path / ".git" / "gitarchive" / "checkout-in-progress"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{head.id} {new}\n")
    (tmp_path / "p/a").write_bytes(b"new\n")
    (tmp_path / "p/whole").write_bytes(added["p/whole"])
    (tmp_path / "p/part").write_bytes(added["p/part"][:9])
    (tmp_path / "p/other").write_bytes(b"the user's own, made after the crash\n")
    Store(tmp_path).recover()
    assert (tmp_path / "p/a").read_bytes() == b"old\n"
    assert not (tmp_path / "p/whole").exists() and not (tmp_path / "p/part").exists()
    assert (tmp_path / "p/other").read_bytes() == b"the user's own, made after the crash\n"
    assert (tmp_path / "gitarchive-marker").exists() and not marker.exists()
    (tmp_path / "p/other").unlink()
    assert Store(tmp_path).commit({**added, "p/a": b"newer\n"}, "three") is not None


def test_moved_branch_is_detected(tmp_path: Path) -> None:
    store = Store.init(tmp_path, bare=True)
    first = store.commit({"a": b"1"}, "one")
    Store(tmp_path).commit({"a": b"2"}, "another process, meanwhile")
    real = store.ref_target
    calls = iter([first])  # this run read the tip before the other process committed

    def stale(ref: str) -> pygit2.Oid | None:
        return next(calls, None) or real(ref)

    store.ref_target = stale  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="moved"):
        store.commit({"a": b"3"}, "late")


def test_a_user_commit_while_the_files_are_written_keeps_the_user_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's ``git commit`` lands while a run updates the checkout: the run fails
    (the branch moved), and the files are the user's commit's again. They were the run's,
    the user's new file deleted and staged as deleted, and every later run refused."""
    root = tmp_path / "a"
    store = Store.init(root)
    store.commit({"playlists/plain/a": b"a1\n", "playlists/plain/b": b"b1\n"}, "one")
    real = worktree.update

    def user_commits_meanwhile(repo: pygit2.Repository, head: object, new: pygit2.Commit
                               ) -> None:
        (root / "NOTES").write_text("mine\n")
        git(root, "add", "NOTES")
        git(root, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "user's")
        real(repo, store.head(), new)

    monkeypatch.setattr(worktree, "update", user_commits_meanwhile)
    with pytest.raises(StoreError, match="moved"):
        store.commit({"playlists/plain/a": b"a2\n", "playlists/plain/c": b"c\n"}, "run")
    monkeypatch.undo()
    assert git(root, "status", "--porcelain") == ""
    assert (root / "NOTES").read_text() == "mine\n"
    assert Store(root).commit({"playlists/plain/a": b"a2\n"}, "next run") is not None


def test_many_blobs_go_into_one_pack_that_git_verifies(tmp_path: Path) -> None:
    store = Store.init(tmp_path, bare=True)
    changes = {f"d/{i:04}": os.urandom(64) * (i % 7 + 1) for i in range(300)}
    changes["d/dup1"] = changes["d/dup2"] = b"same content twice"
    store.commit(changes, "many")
    packs = list((tmp_path / "objects/pack").glob("*.idx"))
    assert len(packs) == 1
    git(tmp_path, "verify-pack", str(packs[0]))
    git(tmp_path, "fsck", "--strict", "--no-dangling")
    assert store.read("d/0005") == changes["d/0005"]
    assert git(tmp_path, "cat-file", "-p", "HEAD:d/dup2") == "same content twice"
    # Blobs already stored are not written again.
    assert packwriter.write_blobs(store.repo, list(changes.values()))[0] == store.repo.get(
        store.tree()["d/0000"].id).id
    assert len(list((tmp_path / "objects/pack").glob("*.idx"))) == 1


def test_files_stored_where_they_were_made_commit_as_their_bytes(tmp_path: Path) -> None:
    """A half of a rebuild writes what it made at once and keeps only the blob ids: a commit
    of those gives the tree a commit of the bytes gives."""
    made = {f"v/{i:03}": os.urandom(32) * (i % 5 + 1) for i in range(100)}
    trees = []
    for name, stored in (("bytes", False), ("stored", True)):
        store = Store.init(tmp_path / name, bare=True)
        store.commit({"keep": b"kept"}, "first")
        contents: dict[str, packwriter.Content] = dict(made)
        if stored:
            ids = packwriter.store_all(store.repo, list(made.values()))
            contents = dict(zip(made, ids, strict=True))
            assert all(packwriter.content_id(c) == pygit2.hash(made[p])
                       for p, c in contents.items())
        store.commit({**contents, "v/000": b"replaced", "keep": None}, "views")
        trees.append(store.repo.head.peel(pygit2.Commit).tree_id)
        git(tmp_path / name, "fsck", "--strict", "--no-dangling")
    assert trees[0] == trees[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@1700000000 +0000", (1700000000, 0)),
        ("1700000000 +0130", (1700000000, 90)),
        ("2024-01-02T03:04:05Z", (1704164645, 0)),
        ("2024-01-02T04:04:05+01:00", (1704164645, 60)),
        ("Tue, 02 Jan 2024 03:04:05 -0500", (1704182645, -300)),
    ],
)
def test_git_date_forms(text: str, expected: tuple[int, int]) -> None:
    assert parse_git_date(text) == expected


def test_dates_from_environment_like_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z")
    monkeypatch.delenv("GIT_AUTHOR_DATE", raising=False)
    store = Store.init(tmp_path)
    store.commit({"a": b"1"}, "dated")
    commit = store.head()
    assert commit is not None and commit.commit_time == commit.author.time == 1704164645
    monkeypatch.setenv("GIT_AUTHOR_DATE", "@1600000000 +0200")
    store.commit({"a": b"2"}, "backfilled")
    commit = store.head()
    assert commit is not None and commit.commit_time == 1704164645
    assert (commit.author.time, commit.author.offset) == (1600000000, 120)


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="gitarchive init"):
        Store(tmp_path)


def test_many_ids_are_looked_up_as_of_one_rescan(tmp_path: Path) -> None:
    """``holder`` answers for loose and packed objects, and for a pack another handle (another
    process of a rebuild) wrote after this one last looked; a batch does not rewrite those."""
    store = Store.init(tmp_path, bare=True)
    loose = store.repo.create_blob(b"loose")
    mine = pygit2.Repository(str(tmp_path))
    assert packwriter.holder(mine)(loose.raw)
    other = pygit2.Repository(str(tmp_path))
    blobs = [os.urandom(64) for _ in range(packwriter.MIN_OBJECTS)]
    assert not any(map(packwriter.holder(mine), map(packwriter.blob_id, blobs)))
    packwriter.write_blobs(other, blobs)  # packed by the other handle
    held = packwriter.holder(mine)
    assert all(held(packwriter.blob_id(data)) for data in blobs)
    assert not held(packwriter.blob_id(b"never written"))
    packwriter.write_blobs(mine, blobs)
    assert len(list((tmp_path / "objects/pack").glob("*.idx"))) == 1


def test_blob_data_reads_files_and_names_what_is_not_one(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "r")
    oid = store.commit({"playlists/plain/a": b"one\n", "playlists/plain/b": b"two\n"}, "c")
    assert oid is not None
    commit = store.repo[oid].peel(pygit2.Commit)
    blob = commit.tree["playlists/plain/a"].id
    assert blob_data(store.repo, blob) == b"one\n"
    assert blob_data(store.repo, str(blob)) == b"one\n"
    with pytest.raises(StoreError, match="is a tree, not a file"):
        blob_data(store.repo, commit.tree.id)
    with pytest.raises(StoreError, match="is a commit, not a file"):
        blob_data(store.repo, oid)
    with pytest.raises(KeyError):
        blob_data(store.repo, "1" * 40)
