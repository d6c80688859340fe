"""The HTTP layer both services share (aiohttp; ``telemetry_core`` stays framework-free).

One way to answer: handlers return a ``web.Response`` built by ``answers.Answers`` or raise
``answers.Refusal``; ``middleware.AnswerMiddleware`` signs every refusal, every aiohttp HTTP
error (404, 405, 413) and every unexpected exception (a 500 without detail), finds the client
IP, counts and times the request and writes one access line. ``operations`` serves
``/healthz``, ``/readyz``, ``/metrics``, the public key and the OpenAPI document;
``reference`` loads reference data in the background (a service answers 503 until loaded);
``serving.run`` is each ``__main__``: settings, JSON logs, signing key, ``web.run_app``, and
the exit codes.

A service is built with ``application(...)`` (``app.py`` of each service); another module adds
routes to it with ``app.router.add_get(path, handler)`` on the returned app, handlers
reading what they need from ``app[...]`` keys, raising ``Refusal`` for any answer other
than success: the middleware signs it.
"""
