import asyncio

import uvloop


def pytest_asyncio_loop_factories(config, item):
    # The library must run on the stock loop and on uvloop (which the CLI installs).
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
