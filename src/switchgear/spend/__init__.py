"""The spend ledger: one row per request (record), written off the request path in
batches (writer), summed by key, user, team, agent, organisation, model, provider or
day (ledger), read through the admin API (admin.spend) and `switchgear spend`.

    from switchgear.spend.record import SpendRecord   # built by the meter stage
    from switchgear.spend.writer import SpendWriter   # start / submit / full / stop

Import the modules themselves: this package imports nothing, so the request path (which
needs only ``record``) does not load the store code.
"""
