"""Following other archives: their playlists' history imported as commits of this archive.

A *source* is another archive repository (a URL or a local path, in
spotify-playlist-archive's layout or ours) and the playlists followed in it. Its
definition is committed (``playlists/follow/<name>.json``), so every clone knows.

An update fetches the source's HEAD into ``refs/gitarchive/follow/<name>`` (pygit2;
later fetches transfer only what is new), walks the source commits not seen yet,
and copies each new version of each followed playlist's snapshot files (plain,
pretty JSON and markdown, followers) into a commit of its own that carries the
source commit's author and committer (so its dates). Those commits form a side
history, whose trees hold only the followed playlists' files and a registry of
exactly the followed playlists the source had registered then; one merge commit
per update brings its files into the archive branch. The replay of the
cumulative views then needs no special case: an imported commit is a run at the
source's time that observes only the followed playlists, and the merge commit
writes nothing of its own (every snapshot path equals one of its parents).

Idempotence: the newest imported version's time per playlist is committed with
the definition, and a version is imported only when newer and when its blobs
differ from what the side history already holds. A source whose history was
rewritten (force-push) is detected (the last seen tip is no ancestor of the new
one); nothing imported is touched, and the import continues from what is still
reachable. A playlist this archive also fetches itself keeps its own files, and
on a day it has a snapshot of its own, the source's version of that day is not
imported: the local snapshot wins.

The modules, by job (each imports only those above it):

- ``sources``: the committed definition, its names and URL, the local update state;
- ``transfer``: the source's objects brought here (hard links, or a pygit2 fetch);
- ``plan``: which source commits matter, read from their trees;
- ``sidetree``: the side history's trees and commits, written as one pack;
- ``importer``: one source's update, from fetch to merge commit;
- ``commands``: follow (add), unfollow (remove), update every source, status.
"""
