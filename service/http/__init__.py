"""The HTTP face of the service: the v1 blueprints, keys and refusals, the pages, the contract's docs."""
