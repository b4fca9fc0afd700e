"""Cumulative history: walking commits, replaying snapshots into state, saving it, views."""
