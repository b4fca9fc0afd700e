"""Operations: one fetch run, merging, pushing, git hooks, schedules, run logs."""
