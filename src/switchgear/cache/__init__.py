"""Exact-match response cache: same request, same scope, same answer, at no cost.

Modules: key (what makes two requests "the same"), entry (what is stored; the store
interface), memory / redis_store (backends), recorder (captures a miss's answer as it
is sent), stage (the pipeline stage), wiring (from config).

Wiring (pipeline/order.py, chat chains only, and only when some model opted in):

    store = build_store(config.cache, config.limits)     # once; close() on shutdown
    ResponseCache(store, ttls_from_config(config.models), config.cache.share)

placed after authorize/resolve_route/rate_limit/budget/guard_input and right before
dispatch; the chain runner treats ``Answered`` as success (see stage.Answered).
"""
