"""Commands: the click group, the legal team's rule tools, QA's scenarios, the worker, the schemas."""
