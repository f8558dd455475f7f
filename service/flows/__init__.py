"""Use cases, one module each: what the service does, step by step, between its faces (http/,
tools/) and its parts (decide/: pure; record/: storage). A flow is the only code that reads the
app, the clock and the configuration, and opens transactions."""
