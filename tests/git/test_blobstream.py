"""The read-ahead blob reader gives exactly what pygit2 gives, whatever is asked."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitarchive.git import blobstream
from gitarchive.git.store import Store


def committed(tmp_path: Path, contents: dict[str, bytes]) -> tuple[Store, list[str]]:
    """A bare repository with ``contents`` committed; their blob ids in the same order."""
    store = Store.init(tmp_path, bare=True)
    store.commit(contents, "blobs")
    tree = store.tree()
    assert tree is not None
    return store, [str(tree[name].id) for name in contents]


@pytest.fixture(params=["forked", "started"])
def reader_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """The reader forked from this process (no other thread runs), or started as a new
    interpreter (another thread runs: a fork would copy its locks)."""
    if request.param == "forked":
        yield request.param
        return
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        yield request.param
    finally:
        stop.set()
        other.join()


def test_reads_in_plan_out_of_plan_and_missing(tmp_path: Path, monkeypatch, reader_kind: str  # type: ignore[no-untyped-def]
                                               ) -> None:
    monkeypatch.setattr(blobstream, "MIN_BLOBS", 1)  # use the child even for a few blobs
    contents = {f"f{i}": os.urandom(i * 37) for i in range(50)}
    store, ids = committed(tmp_path, contents)
    plan = [(oid, f"group{n % 3}") for n, oid in enumerate(ids[:40] + ids[:5])]  # repeats too
    monkeypatch.setattr(blobstream, "WINDOW", 7)  # several windows, each read grouped
    with blobstream.BlobStream(store.repo, plan) as stream:
        assert stream.proc is not None
        assert (stream.proc.stdin is None) == (reader_kind == "forked")  # nothing to feed
        for oid, name in zip(ids[:10], contents, strict=False):
            assert stream.read(oid) == contents[name]
        assert stream.read(ids[45]) == contents["f45"]  # not in the plan: read here
        assert stream.read(ids[30]) == contents["f30"]  # skipping ahead in the plan
        assert stream.read(ids[2]) == contents["f2"]  # second occurrence in the plan
    missing = "0" * 39 + "1"
    with blobstream.BlobStream(store.repo, [(missing, "a"), (ids[0], "b")]) as stream:
        assert stream.read(ids[0]) == contents["f0"]


def test_child_dies_and_the_parent_reads_on(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(blobstream, "MIN_BLOBS", 1)
    store = Store.init(tmp_path, bare=True)
    store.commit({"a": b"one", "b": b"two"}, "blobs")
    tree = store.tree()
    assert tree is not None
    a, b = str(tree["a"].id), str(tree["b"].id)
    with blobstream.BlobStream(store.repo, [(a, "x"), (b, "x")]) as stream:
        assert stream.proc is not None
        stream.proc.kill()
        stream.proc.wait()
        assert stream.read(a) == b"one" and stream.read(b) == b"two"


def test_the_child_process_serves_the_plan(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The reader process really runs (a wrong module name once made every read fall back)."""
    monkeypatch.setattr(blobstream, "MIN_BLOBS", 1)
    contents = {f"f{i}": f"blob {i}".encode() for i in range(20)}
    store, ids = committed(tmp_path, contents)

    def no_fallback(repo: object, oid: object) -> bytes:
        raise AssertionError(f"{oid} was read in the parent, not by the reader process")

    monkeypatch.setattr(blobstream, "blob_data", no_fallback)
    with blobstream.BlobStream(store.repo, [(oid, "g") for oid in ids]) as stream:
        assert [stream.read(oid) for oid in ids] == list(contents.values())


class Windows(io.BytesIO):
    """A sink that notes the bytes of each window (the reader flushes after each)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.mark = 0

    def flush(self) -> None:
        self.sizes.append(self.tell() - self.mark)
        self.mark = self.tell()


def test_windows_hold_about_the_budget_and_answers_keep_plan_order(tmp_path: Path) -> None:
    """The reader holds about its byte budget at once, sized by the blobs it is about to
    read (short files, then long ones: the window does not take its size from the short
    ones), and still answers every blob in plan order."""
    contents = {f"f{i}": os.urandom(40 if i < 60 else 4000) for i in range(120)}
    store, ids = committed(tmp_path, contents)
    source = io.BytesIO(b"".join(f"{oid} g{n % 4}\n".encode() for n, oid in enumerate(ids)))
    sink = Windows()
    blobstream.serve(str(Path(store.repo.path)), source, sink, window=30, budget=20_000)
    data, got = sink.getvalue(), []
    while data:
        size = int.from_bytes(data[:8], "big")
        got.append(data[8:8 + size])
        data = data[8 + size:]
    assert got == list(contents.values())
    assert sink.sizes[:2] == [30 * 48, 30 * 48]  # small blobs: windows of 30
    assert max(sink.sizes) <= 20_000 + 5 * 4008  # about the budget, however many that is
    assert len([size for size in sink.sizes if size > 15_000]) >= 10


class BreaksInSecondWindow(Windows):
    """A sink whose write fails once (not as a closed pipe does) after the first window."""

    broken = False

    def write(self, data: object) -> int:
        if self.sizes and not self.broken:
            self.broken = True
            raise MemoryError("no room")
        return super().write(data)  # type: ignore[arg-type]


def test_a_window_broken_half_written_ends_the_reader(tmp_path: Path) -> None:
    """Nothing is written after a window that broke: the parent finds the stream short
    and reads the rest itself, never another blob's content in place of the one it asked."""
    contents = {f"f{i}": f"blob {i}".encode() for i in range(90)}
    store, ids = committed(tmp_path, contents)
    source = io.BytesIO(b"".join(f"{oid} g\n".encode() for oid in ids))
    sink = BreaksInSecondWindow()
    blobstream.serve(str(Path(store.repo.path)), source, sink, window=30, budget=1 << 20)
    assert sink.sizes == [sink.tell()]  # the first window, and nothing after it


def test_read_here_in_plan_order(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``here``: no reader process; the plan read by this process, answered in plan order
    (repeats, skips, a missing blob, blobs out of plan) as a reader process answers it."""
    monkeypatch.setattr(blobstream, "MIN_BLOBS", 1)
    monkeypatch.setattr(blobstream, "WINDOW", 7)  # several windows
    contents = {f"f{i}": os.urandom(i * 37) for i in range(50)}
    store, ids = committed(tmp_path, contents)
    missing = "0" * 39 + "1"
    plan = [(oid, f"group{n % 3}") for n, oid in enumerate(ids[:40] + [missing] + ids[:5])]
    with blobstream.BlobStream(store.repo, plan, here=True) as stream:
        assert stream.proc is None
        for oid, name in zip(ids[:10], contents, strict=False):
            assert stream.read(oid) == contents[name]
        assert stream.read(ids[45]) == contents["f45"]  # not in the plan: read here
        assert stream.read(ids[30]) == contents["f30"]  # skipping ahead in the plan
        assert stream.read(ids[2]) == contents["f2"]  # second occurrence, after a missing one
        assert stream.read(ids[3]) == contents["f3"]


class Counted:
    """An object database that counts the blobs read from it."""

    def __init__(self, odb: object) -> None:
        self.odb = odb
        self.read_ids: list[str] = []

    def read(self, oid: str) -> object:
        self.read_ids.append(oid)
        return self.odb.read(oid)  # type: ignore[attr-defined]

    def read_header(self, oid: str) -> object:
        return self.odb.read_header(oid)  # type: ignore[attr-defined]


def test_read_here_a_window_at_a_time(tmp_path: Path) -> None:
    """One window held at once: its blobs read together, each group's in a row, before the
    first is answered; the next window only once this one is used up. Where every group
    runs on, a full window goes on to half as large again, then ends."""
    contents = {f"f{i}": f"blob {i}".encode() for i in range(20)}
    store, ids = committed(tmp_path, contents)
    odb = Counted(store.repo.odb)
    plan = [(oid, f"g{n % 2}") for n, oid in enumerate(ids)]
    windows = blobstream.Windows(odb, plan, window=8)  # type: ignore[arg-type]
    assert windows.next() == contents["f0"]
    assert odb.read_ids == ids[0:12:2] + ids[1:12:2]  # the first window, grouped
    assert [windows.next() for _ in range(11)] == [contents[f"f{i}"] for i in range(1, 12)]
    assert len(odb.read_ids) == 12
    assert windows.next() == contents["f12"] and len(odb.read_ids) == 20


def test_a_full_window_ends_where_no_group_is_cut(tmp_path: Path) -> None:
    """Groups read one lot after another (a replay's groups of playlists): a full window
    goes on to the end of the lot it is in, so no group's blobs are read in two runs."""
    contents = {f"f{i}": f"blob {i}".encode() for i in range(20)}
    store, ids = committed(tmp_path, contents)
    odb = Counted(store.repo.odb)
    lots = ["a", "b"] * 5 + ["c", "d"] * 5
    plan = [(oid, lot) for oid, lot in zip(ids, lots, strict=True)]
    windows = blobstream.Windows(odb, plan, window=8)  # type: ignore[arg-type]
    assert [windows.next() for _ in range(10)] == [contents[f"f{i}"] for i in range(10)]
    assert odb.read_ids == ids[0:10:2] + ids[1:10:2]  # a and b whole, nothing of c, d
    assert windows.next() == contents["f10"]
    assert odb.read_ids[10:] == ids[10:20:2] + ids[11:20:2]
    assert blobstream.run_ends(lots) == [False] * 9 + [True] + [
        False] * 9 + [True]
