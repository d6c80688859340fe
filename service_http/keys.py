"""The signing keys a service serves, and the watch that switches it to a rotated key.

``GET /api/v1/public-key`` is the PEM of the key signing now; ``GET /api/v1/public-keys``
lists the current and the archived keys (a signed answer); ``GET /api/v1/public-keys/{id}``
is one key's PEM. Every envelope carries the id of its key in ``X-Signing-Key-Id``.
The watch (``telemetry_core.keyring.KeyWatch``) runs every ``TELEMETRY_SIGNING_KEY_CHECK_S``
for the app's lifetime (docs/operations.md#signing-key-rotation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from service_http.answers import SIGNING_KEY_HEADER, Answers, Refusal, plain
from telemetry_core import codes
from telemetry_core.keyring import KEY_ID, KeyFolder, KeyWatch
from telemetry_core.settings import Settings
from telemetry_core.signing import key_path

log = logging.getLogger(__name__)

PEM_TYPE = "application/x-pem-file"
PUBLIC_KEY_PATH = "/api/v1/public-key"
PUBLIC_KEYS_PATH = "/api/v1/public-keys"
PUBLIC_KEY_BY_ID = PUBLIC_KEYS_PATH + "/{key_id}"
KEY_WATCH = web.AppKey("key_watch", KeyWatch)


class KeyHandlers:
    def __init__(self, watch: KeyWatch, answers: Answers) -> None:
        self._watch = watch
        self._answers = answers

    def add_routes(self, app: web.Application, root_alias: Callable[[str], str]) -> None:
        """The three key routes, each also at its host-root alias (``/v1/...``)."""
        routes = ((PUBLIC_KEY_PATH, self.current), (PUBLIC_KEYS_PATH, self.listing), (PUBLIC_KEY_BY_ID, self.one))
        for path, handler in routes:
            for served in dict.fromkeys((path, root_alias(path))):
                app.router.add_get(served, handler)

    async def current(self, request: web.Request) -> web.Response:
        """The PEM (SubjectPublicKeyInfo) of the key that signs every envelope now."""
        signer = self._watch.signer
        response = plain(signer.public_key_pem, PEM_TYPE)
        response.headers[SIGNING_KEY_HEADER] = signer.fingerprint
        return response

    async def listing(self, request: web.Request) -> web.Response:
        """Every key this service can vouch for: the current one first, then the archived ones."""
        keys = [
            {"id": k.id, "current": k.current, "archived_at": k.archived_at, "public_key": k.pem.decode("ascii")}
            for k in self._watch.public_keys()
        ]
        return self._answers.data(codes.SUCCESS, current=self._watch.signer.fingerprint, keys=keys)

    async def one(self, request: web.Request) -> web.Response:
        """One key's PEM by its id; 404 (signed) for an id no key has.

        An id this process does not know yet makes it check the key file at once: a client
        holding an answer of a process that switched first finds the new key here too.
        """
        key_id = request.match_info["key_id"]
        if not KEY_ID.match(key_id):
            raise Refusal.because(codes.UNKNOWN_SIGNING_KEY, "key_id", "a key id is 16 lowercase hex digits")
        found = self._watch.find(key_id)
        if found is None:  # another process may have switched first: look at the key file now
            await check_now(self._watch)
            found = self._watch.find(key_id)
        if found is None:
            raise Refusal.because(codes.UNKNOWN_SIGNING_KEY, "key_id", f"no current or archived key {key_id}")
        response = plain(found.pem, PEM_TYPE)
        response.headers[SIGNING_KEY_HEADER] = found.id
        return response


def key_watch(settings: Settings, answers: Answers) -> KeyWatch:
    """The watch of the configured key file, switching the signer behind ``answers``."""
    return KeyWatch(KeyFolder(key_path(settings)), answers.envelopes.signer)


def watch_lifetime(interval_s: float) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry: checks the key file every ``interval_s`` until the app stops."""

    async def watching(app: web.Application) -> AsyncIterator[None]:
        watch = app[KEY_WATCH]
        await check_now(watch)
        task = asyncio.create_task(_keep_checking(watch, interval_s), name="signing-key-watch")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return watching


# One check at a time per watch: a check records the key file's stamp before its switch is
# applied, so a second check running meanwhile would see "nothing new" while the switch is still
# pending (a request for the new key's id answered 404 in the rotation test).
_CHECKING: weakref.WeakKeyDictionary[KeyWatch, asyncio.Lock] = weakref.WeakKeyDictionary()


async def check_now(watch: KeyWatch) -> None:
    """One check of the key file (in a thread), switching the signer if it holds a new key;
    returns once any check already running has switched too."""
    lock = _CHECKING.setdefault(watch, asyncio.Lock())
    async with lock:
        try:
            key = await asyncio.to_thread(watch.check)
        except Exception as exc:  # a broken folder must not stop the service: keep signing, log it
            log.warning("cannot check the signing key (%s: %s)", type(exc).__name__, exc)
            return
        if key is not None:
            watch.switch(key)


async def _keep_checking(watch: KeyWatch, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        await check_now(watch)
