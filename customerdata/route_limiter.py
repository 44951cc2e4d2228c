"""flask-limiter, with its per-request hooks left to the requests that check a limit.

Every limit here is declared on its route and checked by the route's decorator. flask-limiter
also hooks every request of the app: a before-request pass for application-wide default limits
(this app has none), an after-request pass for `deduct_when` limits and X-RateLimit headers,
and a teardown that resets the request's limiter context. On a route without a limit they find
nothing to do, and cost an entry read about 20 µs of its 200 (each builds the context first).
The before-request pass is not registered; the other two run for a request that has a limiter
context, which checking a route's limit creates.
"""
from functools import partial

from flask.globals import request_ctx
from flask_limiter import Limiter

CONTEXT_ATTRIBUTE = "_limiter_request_context"  # where flask-limiter keeps a request's context


class RouteLimiter(Limiter):
    def init_app(self, app, *args, **kwargs):
        super().init_app(app, *args, **kwargs)
        before = app.before_request_funcs.get(None, [])
        if self._check_request_limit in before:  # absent when RATELIMIT_ENABLED is off
            before.remove(self._check_request_limit)
        for hooks in (app.after_request_funcs.get(None, []), app.teardown_request_funcs.get(None, [])):
            hooks[:] = [_where_limited(hook) if self._owns(hook) else hook for hook in hooks]

    def _owns(self, hook):
        if isinstance(hook, partial):  # the after-request hook: partial(Limiter.__inject_headers, limiter)
            return bool(hook.args) and hook.args[0] is self
        return getattr(hook, "__self__", None) is self


def _where_limited(hook):
    def run(response_or_error):
        if hasattr(request_ctx, CONTEXT_ATTRIBUTE):
            return hook(response_or_error)
        return response_or_error  # the response, for an after-request hook; a teardown's is unused
    return run
