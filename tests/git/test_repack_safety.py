"""Consolidating packs safely: what reaches the disk and when, what the automatic step
never touches, and what a crashed or foreign writer left in objects/pack."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from gitarchive.git import packfiles, repack
from gitarchive.git.packfiles import Limits, Pack
from gitarchive.git.repack import RepackError
from gitarchive.git.store import Store


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout


def nightly_runs(store: Store, runs: int, *, start: int = 0) -> None:
    """Commits that each write a pack, as a fetch of 70 changed files does."""
    for run in range(start, start + runs):
        files = {f"playlists/cumulative/p{i}.md": f"# {i}\nrun {run}\n".encode()
                 for i in range(70)}
        store.commit(files, f"run {run}")


def with_base(root: Path, files: int = 3000) -> tuple[Store, Pack]:
    store = Store.init(root)
    store.commit({f"base/f{i}": f"{i}\n".encode() for i in range(files)}, "a year of history")
    (base,) = packfiles.list_packs(store.git_dir)
    return store, base


def pack_files(git_dir: Path) -> set[str]:
    return {p.name for p in packfiles.pack_dir(git_dir).iterdir()}


def test_the_base_pack_survives_a_year_of_nights(tmp_path: Path) -> None:
    """300 nights of one small pack each over a base bigger than all of them together."""
    base = Pack(Path("pack-base.pack"), 2_000_000, 100 << 20, False)
    packs = [base]
    for night in range(300):
        packs.append(Pack(Path(f"pack-night{night}.pack"), 5000, 250_000, False))
        chosen = packfiles.plan(packs, 4)
        assert base not in chosen
        if chosen:
            packs = [p for p in packs if p not in chosen]
            packs.append(Pack(Path(f"pack-sum{night}.pack"), sum(p.objects for p in chosen),
                              sum(p.size for p in chosen), False))
        assert len(packs) <= 4 + 1


def test_the_base_pack_file_is_never_replaced(tmp_path: Path) -> None:
    store, base = with_base(tmp_path / "a")
    inode = base.path.stat().st_ino
    git(tmp_path / "a", "config", "gc.autoPackLimit", "3")
    for night in range(40):
        nightly_runs(store, 1, start=night)
        repack.maintain(store.git_dir)
        assert base.path.stat().st_ino == inode and base.idx.exists()
    assert len(packfiles.list_packs(store.git_dir)) <= 3
    git(tmp_path / "a", "fsck", "--full", "--strict")


def test_packs_over_git_big_pack_threshold_are_kept(tmp_path: Path) -> None:
    store, base = with_base(tmp_path / "a")
    store.commit({f"mid/f{i}": f"mid {i}\n".encode() for i in range(500)}, "middle")
    (mid,) = [p for p in packfiles.list_packs(store.git_dir) if p.objects == 500]
    nightly_runs(store, 5)
    git(tmp_path / "a", "config", "gc.bigPackThreshold", str(mid.size - 1))
    limits = Limits.of(pygit2.Repository(str(tmp_path / "a")))
    assert limits.big == mid.size - 1
    result = repack.maintain(store.git_dir, Limits(packs=2, big=limits.big))
    assert result is not None and result.combined == 5
    after = {p.path for p in packfiles.list_packs(store.git_dir)}
    assert {base.path, mid.path} <= after and len(after) == 3


def test_cruft_packs_are_never_selected(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    nightly_runs(store, 2)
    cruft = packfiles.list_packs(store.git_dir)[0]
    cruft.path.with_suffix(".mtimes").write_bytes(b"MTME")
    nightly_runs(store, 5, start=2)
    assert all(p.path != cruft.path for p in packfiles.candidates(
        packfiles.list_packs(store.git_dir)))
    result = repack.maintain(store.git_dir, Limits(packs=2))
    assert result is not None
    assert cruft.path.exists() and cruft.idx.exists() and cruft.path.with_suffix(".mtimes").exists()


def test_a_crashed_runs_staging_directory_is_cleared(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    nightly_runs(store, 5)
    where = packfiles.pack_dir(store.git_dir)
    stale = where / "tmp_gitarchive_crashed" / "pack"
    stale.mkdir(parents=True)
    (stale / "pack-half.pack").write_bytes(b"PACK" + b"\0" * 100)
    foreign = where / "tmp_pack_gitwriting"  # git's own writer: not ours to remove
    foreign.write_bytes(b"PACK")
    lonely = where / f"pack-{'cd' * 20}.pack"  # git's, being written: its index comes next
    lonely.write_bytes(b"PACK")
    assert repack.maintain(store.git_dir, Limits(packs=2)) is not None
    assert not (where / "tmp_gitarchive_crashed").exists() and foreign.exists()
    assert lonely.exists()
    assert not [p for p in where.iterdir() if p.name.startswith("tmp_gitarchive_")]


def damaged_pack_removes_nothing(root: Path, change: Callable[[bytearray, Pack], None],
                                 match: str) -> None:
    """A pack the automatic step would combine, changed on disk: it fails, removing nothing."""
    store = Store.init(root)
    nightly_runs(store, 4)
    victim = packfiles.candidates(packfiles.list_packs(store.git_dir))[0]
    victim.path.chmod(0o644)
    data = bytearray(victim.path.read_bytes())
    change(data, victim)
    victim.path.write_bytes(bytes(data))
    before = pack_files(store.git_dir)
    with pytest.raises(RepackError, match=match):
        repack.maintain(store.git_dir, Limits(packs=1))
    assert pack_files(store.git_dir) == before


def test_a_damaged_old_pack_is_not_copied_and_nothing_is_removed(tmp_path: Path) -> None:
    def flip(data: bytearray, victim: Pack) -> None:
        data[40] ^= 0xFF  # inside the first object's compressed bytes

    damaged_pack_removes_nothing(tmp_path / "a", flip, "is damaged")


def test_a_pack_whose_header_disagrees_with_its_index_removes_nothing(tmp_path: Path) -> None:
    def miscount(data: bytearray, victim: Pack) -> None:
        data[8:12] = (victim.objects + 1).to_bytes(4, "big")

    damaged_pack_removes_nothing(tmp_path / "a", miscount, "header counts")


def test_a_multi_pack_index_goes_before_any_old_pack(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.init(tmp_path / "a")
    nightly_runs(store, 5)
    git(tmp_path / "a", "multi-pack-index", "write")
    git(tmp_path / "a", "update-server-info")
    where = packfiles.pack_dir(store.git_dir)
    info = store.git_dir / "objects" / "info" / "packs"
    assert (where / "multi-pack-index").exists()
    (where / "multi-pack-index.d").mkdir()
    (where / "multi-pack-index-0123.rev").write_bytes(b"RIDX")
    seen: list[tuple[bool, bool]] = []  # at each old pack's unlink: a MIDX? still listed?
    unlink = Path.unlink

    def watched(self: Path, missing_ok: bool = False) -> None:
        if self.parent == where and self.suffix == ".pack":
            seen.append(((where / "multi-pack-index").exists(), self.name in info.read_text()))
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", watched)
    result = repack.maintain(store.git_dir, Limits(packs=2))
    monkeypatch.undo()
    assert seen and all(not midx and listed for midx, listed in seen)
    assert result is not None and result.combined >= 2
    assert not [p for p in where.iterdir() if p.name.startswith("multi-pack-index")]
    listed = (store.git_dir / "objects" / "info" / "packs").read_text().split()
    names = sorted(p.path.name for p in packfiles.list_packs(store.git_dir))
    assert sorted(n for n in listed if n != "P") == names
    git(tmp_path / "a", "fsck", "--full", "--strict")


def test_deltas_are_on_disk_before_they_move_in(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.init(tmp_path / "a")
    nightly_runs(store, 3)
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    packs = packfiles.list_packs(store.git_dir)
    result = repack.repack(store.repo, packs, [], deltas=True)
    where = str(packfiles.pack_dir(store.git_dir))
    staged = [i for i, p in enumerate(synced) if "tmp_gitarchive_" in p]
    assert {synced[i].rsplit(".", 1)[1] for i in staged} >= {"pack", "idx"}
    assert where in synced and synced.index(where) > max(staged)
    assert result.packs_after == 1


def test_a_damaged_pack_of_the_new_name_is_replaced_by_the_proved_one(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    nightly_runs(store, 3)
    where = packfiles.pack_dir(store.git_dir)
    aside = tmp_path / "aside"
    shutil.copytree(where, aside)
    old = packfiles.list_packs(store.git_dir)
    new = repack.repack(store.repo, old, [])
    (made,) = packfiles.list_packs(store.git_dir)
    good = made.path.read_bytes()
    for path in aside.iterdir():  # the old packs again, and the new one damaged
        shutil.copy2(path, where / path.name)
    made.path.chmod(0o644)
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0xFF
    made.path.write_bytes(bytes(damaged))
    again = repack.repack(store.repo, [p for p in packfiles.list_packs(store.git_dir)
                                       if p.path != made.path], [])
    assert again.objects == new.objects and made.path.read_bytes() == good
    git(tmp_path / "a", "fsck", "--full", "--strict")


def test_a_pack_moved_in_without_its_index_by_a_crashed_run_is_removed(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    nightly_runs(store, 4)
    where = packfiles.pack_dir(store.git_dir)
    ids = {raw for p in packfiles.list_packs(store.git_dir)
           for raw in packfiles.read_index(p.idx).ids}
    name = f"pack-{'ef' * 20}"
    staged = where / "tmp_gitarchive_crashed" / "pack"
    staged.mkdir(parents=True)
    (staged / f"{name}.idx").write_bytes(b"\377tOc")  # the crash came between the renames
    (where / f"{name}.pack").write_bytes(b"PACK")
    result = repack.maintain(store.git_dir, Limits(packs=2))
    assert result is not None and result.combined == 3
    assert ids == {raw for p in packfiles.list_packs(store.git_dir)
                   for raw in packfiles.read_index(p.idx).ids}
    assert not (where / f"{name}.pack").exists() and not staged.exists()
    git(tmp_path / "a", "fsck", "--full", "--strict")


@pytest.mark.parametrize("version", ["1", "2,64"])
def test_packs_with_old_or_large_offset_indexes_lose_nothing(tmp_path: Path,
                                                             version: str) -> None:
    """Indexes git writes that gitarchive's own packs never have: version 1 (no CRCs: the
    objects are read and written anew) and version 2 with every offset past 64 bytes in
    the table of 64-bit offsets."""
    root = tmp_path / "a"
    store = Store.init(root)
    nightly_runs(store, 4)
    packs = packfiles.list_packs(store.git_dir)
    ids = {raw.hex() for p in packs for raw in packfiles.read_index(p.idx).ids}
    for pack in packs:
        pack.idx.unlink()
        git(root, "index-pack", f"--index-version={version}", str(pack.path))
    for pack in packfiles.list_packs(store.git_dir):
        data, listed = pack.idx.read_bytes(), len(packfiles.read_index(pack.idx).ids)
        if version == "1":
            assert not data.startswith(b"\377tOc") and listed
        else:  # offsets past 64 bytes (all but the first few) in 8 bytes each, at the end
            large = (len(data) - (8 + 1024 + 28 * listed + 40)) // 8
            assert listed - 3 <= large < listed
    result = repack.repack(store.repo, packfiles.list_packs(store.git_dir), [])
    assert result.combined == 4 and len(packfiles.list_packs(store.git_dir)) == 1
    (new,) = packfiles.list_packs(store.git_dir)
    assert {raw.hex() for raw in packfiles.read_index(new.idx).ids} == ids
    git(root, "fsck", "--full", "--strict")
    repo = pygit2.Repository(str(root))
    for hex_id in ids:
        assert repo.odb.read(pygit2.Oid(hex=hex_id))[1] is not None
