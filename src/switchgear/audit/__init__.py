"""The tamper-evident audit record: every model request and admin action, hash-chained,
with signed checkpoints (chain, signing), written off the request path (writer),
verified (verify) and exported (export). See each module's docstring.

Import the modules themselves: this package imports nothing, so the request path (which
needs only ``entry``) does not load the signing and storage code.
"""
