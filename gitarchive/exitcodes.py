"""Exit codes, documented in the README; distinct so cron wrappers can tell cases apart."""

OK = 0  # everything asked for was done
ERROR = 1  # a clear error: bad repository, uncommitted edits, rejected credentials ...
USAGE = 2  # bad command line (click's own code for usage errors)
PARTIAL = 3  # some playlists failed; the others were committed
NOTHING_FETCHED = 4  # no playlist could be fetched; nothing was committed
LOCKED = 5  # another gitarchive run holds the repository's lock
PUSH_FAILED = 6  # the run committed, but pushing it failed (the next run pushes it)
STALE = 7  # status: a playlist had no successful fetch for --stale-days (or never)
STOPPED = 128  # + the signal's number: stopped by Ctrl-C (130), SIGTERM (143), SIGHUP (129)
SIGPIPE = 13  # + STOPPED (141): the reader of the output stopped reading (`| head`)
