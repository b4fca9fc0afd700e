"""pygit2 only: object store, packs, blob streaming, the repository lock; no playlists."""
