"""When gitarchive forks: only with no other thread running, its objects frozen meanwhile."""

from __future__ import annotations

import gc
import os
import threading

from gitarchive import forking


def test_alone_only_while_no_other_thread_runs() -> None:
    # (threads of earlier tests, e.g. a stand-in server, may still run in this process)
    assert forking.alone() == (threading.active_count() == 1)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not forking.alone()  # a lock it holds would stay held in a child
    finally:
        stop.set()
        thread.join()
    assert forking.alone() == (threading.active_count() == 1)


def test_prepared_freezes_the_objects_for_the_fork_only() -> None:
    before = gc.get_freeze_count()
    with forking.prepared():
        assert gc.get_freeze_count() > before
        pid = os.fork()
        if pid == 0:  # the child: still frozen, so its collections leave shared pages alone
            os._exit(0 if gc.get_freeze_count() > 0 else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert gc.get_freeze_count() == before
