"""Answering questions about an archive: show, diff, log, search, export."""
