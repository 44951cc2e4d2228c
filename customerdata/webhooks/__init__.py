"""Change webhooks: endpoints, the outbox their deliveries wait in, and the worker that sends them.

The blueprint lives in routes.py and is registered by the app factory; importing this package
alone (the write path does, for the outbox) loads no route.
"""
