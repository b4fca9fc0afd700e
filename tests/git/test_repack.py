"""Consolidating packs (git/repack.py): fewer packs, nothing lost, old packs kept on failure."""

from __future__ import annotations

import errno
import os
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from gitarchive.git import packfiles, repack
from gitarchive.git.packfiles import Limits
from gitarchive.git.repack import RepackError, TempFile
from gitarchive.git.store import Store


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, input=stdin).stdout


def nightly_runs(store: Store, runs: int, *, start: int = 0) -> None:
    """Commits that each write a pack, as a fetch or rebuild of 70 changed files does."""
    for run in range(start, start + runs):
        files = {f"playlists/cumulative/p{i}.md": f"# {i}\nrun {run}\n".encode()
                 for i in range(70)}
        store.commit(files, f"run {run}")


def every_object(git_dir: Path) -> set[str]:
    """Every object in any pack or loose, by id."""
    found = set()
    for pack in packfiles.list_packs(git_dir):
        found.update(raw.hex() for raw in packfiles.read_index(pack.idx).ids)
    found.update(packfiles.loose_id(path).hex() for path in packfiles.loose_objects(git_dir))
    return found


def pack_files(git_dir: Path) -> set[str]:
    return {p.name for p in packfiles.pack_dir(git_dir).iterdir()}


def assert_readable(repo_dir: Path, ids: set[str]) -> None:
    """Every id reads through a fresh pygit2 repository and through git itself."""
    repo = pygit2.Repository(str(repo_dir))
    for hex_id in ids:
        assert repo.odb.read(pygit2.Oid(hex=hex_id))[1] is not None
    out = git(repo_dir, "cat-file", "--batch-check", stdin="".join(f"{i}\n" for i in ids))
    assert "missing" not in out and len(out.splitlines()) == len(ids)


def test_runs_past_the_limit_keep_the_packs_few_and_lose_nothing(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    git(tmp_path / "a", "config", "gc.autoPackLimit", "4")
    seen: set[str] = set()
    counts = []
    for run in range(12):
        nightly_runs(store, 1, start=run)
        seen |= every_object(store.git_dir)
        repack.maintain(store.git_dir)
        counts.append(len(packfiles.list_packs(store.git_dir)))
    assert max(counts) <= 4 < 12
    assert counts[3] == 4 and counts[4] < 4  # the fifth pack is over the limit of 4
    assert every_object(store.git_dir) >= seen
    git(tmp_path / "a", "fsck", "--full", "--strict")
    assert_readable(tmp_path / "a", seen)
    assert git(tmp_path / "a", "rev-list", "--count", "HEAD").strip() == "12"
    assert not [n for n in pack_files(store.git_dir) if n.startswith("tmp_")]


def test_a_big_base_pack_is_left_alone(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    store.commit({f"base/f{i}": f"{i}\n".encode() for i in range(2000)}, "a year of history")
    base = packfiles.list_packs(store.git_dir)[0]
    nightly_runs(store, 6)
    result = repack.maintain(store.git_dir, Limits(packs=4))
    assert result is not None and result.combined == 6
    packs = packfiles.list_packs(store.git_dir)
    assert len(packs) == 2 and base in packs
    git(tmp_path / "a", "fsck", "--full", "--strict")


def test_readers_open_before_still_find_every_object(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    nightly_runs(store, 6)
    ids = every_object(store.git_dir)
    before = pygit2.Repository(str(tmp_path / "a"))
    before.odb.read(pygit2.Oid(hex=min(ids)))  # its packs are open
    reader = subprocess.Popen(["git", "-C", str(tmp_path / "a"), "cat-file", "--batch-check"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert reader.stdin is not None and reader.stdout is not None
    reader.stdin.write(f"{min(ids)}\n")
    reader.stdin.flush()
    assert "missing" not in reader.stdout.readline()
    repack.maintain(store.git_dir, Limits(packs=2))
    assert len(packfiles.list_packs(store.git_dir)) <= 2
    out, _ = reader.communicate("".join(f"{i}\n" for i in sorted(ids)))
    assert "missing" not in out and len(out.splitlines()) == len(ids)
    assert all(before.odb.read(pygit2.Oid(hex=i)) for i in ids)


@pytest.mark.parametrize(("key", "value"), [("gc.auto", "0"), ("gc.autoPackLimit", "0")])
def test_git_config_turns_it_off(tmp_path: Path, key: str, value: str) -> None:
    store = Store.init(tmp_path / "a")
    git(tmp_path / "a", "config", key, value)
    nightly_runs(store, 8)
    before = pack_files(store.git_dir)
    assert Limits.of(store.repo).packs == 0
    assert repack.maintain(store.git_dir) is None
    assert pack_files(store.git_dir) == before


def test_config_is_read_as_git_reads_it(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    assert Limits.of(store.repo) == Limits(50, 6700)
    git(tmp_path / "a", "config", "gc.autoPackLimit", "7")
    git(tmp_path / "a", "config", "gc.auto", "1k")
    assert Limits.of(store.repo) == Limits(7, 1024)


def test_keep_packs_are_never_touched(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    nightly_runs(store, 2)
    kept = packfiles.list_packs(store.git_dir)
    for pack in kept:
        pack.path.with_suffix(".keep").write_text("mine\n")
    nightly_runs(store, 5, start=2)
    result = repack.maintain(store.git_dir, Limits(packs=2))
    assert result is not None and result.combined == 4  # the largest of the others stays
    after = packfiles.list_packs(store.git_dir)
    assert {p.path for p in kept} <= {p.path for p in after} and len(after) == 4
    assert all(p.path.exists() and p.idx.exists() for p in kept)
    git(tmp_path / "a", "fsck", "--full", "--strict")


class DiskFull:
    """A temporary file that fills the disk after ``room`` bytes, as ENOSPC would."""

    def __init__(self, real: TempFile, room: int) -> None:
        self.real = real
        self.room = room

    def write(self, data: bytes, /) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.real.write(data)

    def flush(self) -> None:
        self.real.flush()

    def close(self) -> None:
        self.real.close()


def test_a_full_disk_midway_leaves_every_old_pack(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    nightly_runs(store, 6)
    before = pack_files(store.git_dir)
    ids = every_object(store.git_dir)

    def opener(directory: Path, prefix: str) -> tuple[TempFile, Path]:
        real, path = repack.open_temp(directory, prefix)
        assert path.exists()  # the temporary file is open when the disk fills up
        return DiskFull(real, 5000), path

    with pytest.raises(RepackError) as caught:
        repack.maintain(store.git_dir, Limits(packs=2), opener=opener)
    assert str(caught.value) == ("could not consolidate the repository's packs (No space left "
                                 "on device); every old pack is still in place")
    assert pack_files(store.git_dir) == before  # and no temporary file left behind
    git(tmp_path / "a", "fsck", "--full", "--strict")
    assert_readable(tmp_path / "a", ids)
    assert repack.maintain(store.git_dir, Limits(packs=2)) is not None  # room again: it works


def test_many_loose_objects_are_packed_too(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    store.commit({f"base/f{i}": f"{i}\n".encode() for i in range(2000)}, "a year of history")
    base = packfiles.list_packs(store.git_dir)[0]
    n = 0
    while True:  # git estimates the loose objects from objects/17: make sure one is there
        oid = store.repo.create_blob(f"loose {n}\n".encode())
        n += 1
        if str(oid).startswith("17") and n >= 200:
            break
    ids = every_object(store.git_dir)
    assert len(packfiles.loose_objects(store.git_dir)) >= n
    assert repack.maintain(store.git_dir, Limits(packs=50, loose=n + 1000)) is None
    assert repack.maintain(store.git_dir, Limits(packs=50, loose=300)) is not None
    assert packfiles.loose_objects(store.git_dir) == []
    packs = packfiles.list_packs(store.git_dir)
    assert every_object(store.git_dir) == ids and len(packs) == 2 and base in packs
    assert_readable(tmp_path / "a", ids)
    git(tmp_path / "a", "fsck", "--full", "--strict")


def test_deltas_shrink_daily_views_and_keep_every_object(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    lines = [f"track {i}: some artist - some title\n" for i in range(400)]
    for day in range(8):  # a view that changes a little each day
        lines.append(f"track of day {day}\n")
        store.commit({f"playlists/cumulative/p{i}.md": "".join(lines[i:]).encode()
                      for i in range(70)}, f"day {day}")
    ids = every_object(store.git_dir)
    packs = packfiles.list_packs(store.git_dir)
    copied = repack.repack(store.repo, packs, [])
    assert copied.combined == 8 and copied.bytes_after <= copied.bytes_before
    packs = packfiles.list_packs(store.git_dir)
    shrunk = repack.repack(store.repo, packs, [], deltas=True)
    assert shrunk.bytes_after * 3 < copied.bytes_after
    assert every_object(store.git_dir) == ids
    assert_readable(tmp_path / "a", ids)
    git(tmp_path / "a", "fsck", "--full", "--strict")
    again = repack.repack(store.repo, packfiles.list_packs(store.git_dir), [])  # deltas copied
    assert again.bytes_after == shrunk.bytes_after
    git(tmp_path / "a", "fsck", "--full", "--strict")


def overlapping_delta_packs(root: Path) -> Store:
    """Two packs git wrote with deltas (OFS_DELTA), holding some objects both."""
    store = Store.init(root)
    lines = [f"line {i} of a file that grows a little every day\n" for i in range(300)]
    commits = []
    for day in range(8):
        lines.insert(day * 7, f"day {day}\n")
        store.commit({f"f{n}.txt": "".join(lines[n:]).encode() for n in range(5)}, f"d{day}")
        commits.append(git(root, "rev-parse", "HEAD").strip())
    for spec in ([commits[4]], [commits[7], f"^{commits[1]}"]):
        objects = git(root, "rev-list", "--objects", *spec)
        git(root, "pack-objects", "-q", "--delta-base-offset", ".git/objects/pack/pack",
            stdin=objects)
    git(root, "prune-packed")
    return store


def test_overlapping_packs_with_deltas_are_copied_with_their_deltas(tmp_path: Path) -> None:
    """Two packs git wrote with deltas, holding some objects both: the second's copies are
    skipped, so its deltas' distances to their bases change (and must still resolve)."""
    root = tmp_path / "a"
    store = overlapping_delta_packs(root)
    ids = every_object(store.git_dir)
    packs = packfiles.list_packs(store.git_dir)
    assert len(packs) == 2 and sum(p.objects for p in packs) > len(ids)  # they overlap
    result = repack.repack(store.repo, packs, packfiles.loose_objects(store.git_dir))
    assert result.objects == len(ids) and len(packfiles.list_packs(store.git_dir)) == 1
    git(root, "fsck", "--full", "--strict")
    assert_readable(root, ids)
    (new,) = packfiles.list_packs(store.git_dir)
    assert "chain length = 1" in git(root, "verify-pack", "-v", str(new.idx))
    assert result.bytes_after < result.bytes_before


def test_a_pack_whose_index_cannot_be_read_is_left_alone(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "a")
    nightly_runs(store, 4)
    odd = packfiles.pack_dir(store.git_dir) / f"pack-{'ab' * 20}"
    odd.with_suffix(".pack").write_bytes(b"PACK\0\0\0\2")
    odd.with_suffix(".idx").write_bytes(b"\377tOc\0\0\0\2\0")  # cut short
    assert all(p.name != odd.name for p in packfiles.list_packs(store.git_dir))
    result = repack.maintain(store.git_dir, Limits(packs=2))
    assert result is not None and result.combined == 3  # the largest stays
    assert odd.with_suffix(".idx").exists() and odd.with_suffix(".pack").exists()


OFS_DELTA, REF_DELTA = packfiles.OFS_DELTA, 7  # a pack's two kinds of delta entry


def pack_entries(pack: bytes) -> list[tuple[int, int, int, int]]:
    """Each entry of a pack, found by inflating it: (start, type, data start, end)."""
    entries = []
    at = 12
    for _ in range(int.from_bytes(pack[8:12], "big")):
        start, kind = at, (pack[at] >> 4) & 7
        while pack[at] & 0x80:  # type and size
            at += 1
        at += 1
        if kind == OFS_DELTA:
            while pack[at] & 0x80:
                at += 1
            at += 1
        elif kind == REF_DELTA:
            at += 20
        inflater = zlib.decompressobj()
        inflater.decompress(pack[at:-20])
        end = len(pack) - 20 - len(inflater.unused_data)
        entries.append((start, kind, at, end))
        at = end
    return entries


def flip_inside_data(pack: bytes) -> bytes:
    """A byte in the middle of the biggest entry's compressed data, changed."""
    _, _, data, end = max(pack_entries(pack), key=lambda e: e[3] - e[2])
    damaged = bytearray(pack)
    damaged[(data + end) // 2] ^= 0x10
    return bytes(damaged)


def wrong_base(pack: bytes) -> bytes:
    """The last OFS_DELTA entry's distance rewritten to name another entry of the pack (a
    whole entry, its distance as many bytes long: the pack stays well formed)."""
    entries = pack_entries(pack)
    starts = {e[0] for e in entries}
    for start, kind, data, _ in reversed(entries):
        if kind != OFS_DELTA:
            continue
        head, distance, _ = packfiles.delta_header(pack[start:data])
        size = len(packfiles.ofs_distance(distance))
        base = [b for b in sorted(starts) if b < start and b != start - distance
                and len(packfiles.ofs_distance(start - b)) == size]
        if base:
            moved = packfiles.ofs_distance(start - base[-1])
            return pack[:start + head] + moved + pack[start + head + size:]
    raise AssertionError("no delta to point elsewhere")


def other_content(pack: bytes) -> bytes:
    """The last entry (a whole object, no delta after it) holding other bytes of the same
    size: well formed, it inflates, only its hash tells."""
    start, kind, data, end = pack_entries(pack)[-1]
    assert kind not in (OFS_DELTA, REF_DELTA)
    content = zlib.decompress(pack[data:end])
    return pack[:data] + zlib.compress(content.swapcase()) + pack[end:]


class Damaging:
    """A temporary file that damages the pack as it reaches the disk (when it is flushed
    whole): the index, written from what was meant, is complete and names every object."""

    def __init__(self, real: TempFile, damage: Callable[[bytes], bytes]) -> None:
        self.real = real
        self.damage = damage
        self.held = bytearray()

    def write(self, data: bytes, /) -> int:
        self.held += data
        return len(data)

    def flush(self) -> None:
        self.real.write(self.damage(bytes(self.held)))
        self.held.clear()
        self.real.flush()

    def close(self) -> None:
        self.real.close()


def assert_untouched(root: Path, before: set[str], loose: list[Path], ids: set[str]) -> None:
    """Every old pack and loose object is where it was, git finds nothing wrong, every
    object reads, and nothing temporary is left in objects/pack."""
    git_dir = root / ".git"
    assert pack_files(git_dir) == before
    assert packfiles.loose_objects(git_dir) == loose
    git(root, "fsck", "--full", "--strict")
    assert_readable(root, ids)


@pytest.mark.parametrize("damage", [flip_inside_data, wrong_base, other_content])
def test_a_pack_damaged_on_its_way_to_the_disk_replaces_nothing(
        tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    root = tmp_path / "a"
    store = overlapping_delta_packs(root)
    store.repo.create_blob(b"a loose object\n")
    before, loose = pack_files(store.git_dir), packfiles.loose_objects(store.git_dir)
    ids = every_object(store.git_dir)
    packs = packfiles.list_packs(store.git_dir)
    assert loose and any(kind == OFS_DELTA for p in packs
                         for _, kind, _, _ in pack_entries(p.path.read_bytes()))

    def opener(directory: Path, prefix: str) -> tuple[TempFile, Path]:
        real, path = repack.open_temp(directory, prefix)
        return Damaging(real, damage), path

    with pytest.raises(RepackError) as caught:
        repack.repack(store.repo, packs, loose, opener=opener)
    message = str(caught.value)
    assert message.startswith("could not consolidate the repository's packs (the new pack "
                              "is damaged: object ")
    assert message.endswith(" does not read back from it); every old pack is still in place")
    assert "\n" not in message
    assert_untouched(root, before, loose, ids)
    result = repack.repack(store.repo, packs, loose)  # written as meant, it goes through
    assert result.objects == len(ids) and len(packfiles.list_packs(store.git_dir)) == 1
    git(root, "fsck", "--full", "--strict")


def test_a_pack_libgit2_damages_replaces_nothing(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """--deltas is read back too: a byte of the pack libgit2 wrote, damaged after it."""
    root = tmp_path / "a"
    store = overlapping_delta_packs(root)
    before, loose = pack_files(store.git_dir), packfiles.loose_objects(store.git_dir)
    ids = every_object(store.git_dir)

    class DamagingBuilder(pygit2.PackBuilder):
        def write(self, path: str | bytes | os.PathLike[str] | None = None) -> None:
            super().write(path)
            assert isinstance(path, str)
            (pack,) = Path(path).glob("pack-*.pack")
            pack.chmod(0o644)
            pack.write_bytes(flip_inside_data(pack.read_bytes()))

    monkeypatch.setattr(pygit2, "PackBuilder", DamagingBuilder)
    damaged = r"is damaged: object \w+ does not read back from it\); every old pack is "
    with pytest.raises(RepackError, match=damaged):
        repack.repack(store.repo, packfiles.list_packs(store.git_dir), loose, deltas=True)
    assert_untouched(root, before, loose, ids)
