"""The Spotify Web API: the client, the local stand-in, and recorded fixture data."""
