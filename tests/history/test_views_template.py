"""The cumulative markdown written out in Python is what its template renders.

history/views.py writes the markdown without jinja2 (a daily rebuild would spend more
on loading and compiling the template engine than on its rendering);
archive/templates/cumulative.md.j2 stays the reference, with its rows from
``views.md_rows`` (held to the per-cell reference in test_properties.py).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gitarchive.archive import render
from gitarchive.history import views
from gitarchive.history.views import CumulativeTrack, CumulativeView

text = st.text(max_size=12)
link = st.tuples(text, text)
date = st.sampled_from(["2020-01-01", "2024-12-31"])
users = st.one_of(st.none(), st.sampled_from(["kai", "zoe", ""]), text)
tracks = st.builds(
    CumulativeTrack, url=text, name=text, album=link,
    artists=st.lists(link, max_size=3).map(tuple),
    duration_ms=st.one_of(st.none(), st.integers(0, 10**9)),
    date_added=date, date_added_asterisk=st.booleans(),
    date_removed=st.one_of(st.none(), date), first_seen=date,
    last_seen=st.one_of(st.none(), date), stints=st.integers(1, 9), added_by=users,
)
gaps = st.lists(st.tuples(date, st.one_of(st.none(), date)), max_size=3).map(tuple)


@settings(max_examples=150, deadline=None)
@given(st.builds(CumulativeView, pid=text, url=text, name=text, description=text,
                 date_first_scraped=date, tracks=st.lists(tracks, max_size=5),
                 fetch_gaps=gaps),
       st.one_of(st.none(), st.just("https://example.org/h")))
def test_markdown_is_the_template(view: CumulativeView, base: str | None) -> None:
    expected = render.render(
        "cumulative.md.j2",
        header=render.header("cumulative", view.pid, base), view=view,
        collaborative=view.collaborative, description=view.description.strip(),
        total_ms=sum(t.duration_ms or 0 for t in view.tracks), gaps=view.gap_texts(),
        rows=views.md_rows(view.tracks, view.collaborative),
    )
    assert views.cumulative_md(view, base) == expected
