"""Marshmallow schemas: the HTTP contract (check.py) and the rule file format (rule_file.py)."""
