"""How the phases run: the output layout, each job's config slice, and one stage per workflow rule."""
