"""Prices and token counts: what a request costs, and what it could cost at most.

- ``price``     the Price value, exact integer cost of a usage, worst case of a request
- ``entries``   parsing and validating price entries (bundled file and config)
- ``catalog``   PriceCatalog: bundled prices.yaml + config overrides, looked up per request
- ``tokens``    upper bounds on a request's tokens; output estimates with tiktoken

Kept free of imports here so that config validation can use ``entries`` without
pulling in the catalog.
"""
