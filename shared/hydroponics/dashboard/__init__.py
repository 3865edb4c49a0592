"""The operator dashboard: the page and its vendored libraries (static/), and the aggregates behind it."""
