"""The files an archive holds (layout, model, render, registry, settings): read and write."""
