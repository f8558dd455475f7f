"""Deciding a check: rule files loaded and compiled, facts derived as of the date, the engine, verdicts."""
