"""gitarchive: a git-native history of Spotify playlists."""

__version__ = "0.1.0"
