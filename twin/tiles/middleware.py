"""Vector tile endpoint: ``GET /tiles/{layer}/{z}/{x}/{y}.mvt`` (include these url patterns at
``tiles/``). The layers, zoom rules, versions and encoders live in :mod:`twin.tiles.service`.

Answers:

* **200** ``application/vnd.mapbox-vector-tile`` with ``ETag`` and ``Cache-Control: private,
  max-age=60`` (``public`` for a layer registered as public). A tile with no features is an
  **empty 200 body**: a protobuf message with no fields is a valid MVT with no layers, which
  MapLibre GL (and every other client) draws as an empty tile, and which keeps the
  ETag/304 round trip uniform. (PostGIS's ``ST_AsMVT`` over no rows returns the same empty
  bytes.)
* **304** when ``If-None-Match`` holds the tile's current ETag (a hash of its bytes); with the
  tile in the cache that costs one cheap version query.
* **400** JSON ``{"message": …}`` for z > 22 or x/y ≥ 2^z; **404** for an unknown layer (JSON)
  and for a z/x/y that is not a non-negative integer (no URL matches); **405** for a method
  other than GET or HEAD.
* **401** (JSON ``{"detail": …}``, ``WWW-Authenticate: Token``) for an anonymous request or
  bad credentials: an API token (``Authorization: Token …``) or the session cookie, as the REST
  API. Every twin layer needs them; only a layer registered with ``public=True`` (e.g. the roads
  basemap) is served to anonymous users, with ``Cache-Control: public``.

The hot path
------------
A map view asks for tens of tiles at once and most of them take the database well under a
millisecond, so what the web stack adds per request is most of a tile's cost. Two things keep
it small (``bench/tiles.py`` measures the endpoint against the bare SQL):

* :class:`TileMiddleware`, placed right after Django's ``SecurityMiddleware``, answers tile
  URLs itself with :func:`tile_view` — resolved by the same URL pattern — so tiles skip the
  session, CSRF, message, clickjacking and history middleware, none of which a read-only binary
  answer needs (the host is still checked against ``ALLOWED_HOSTS``). A session cookie not
  checked lately takes the whole stack once, so that Django can save a session it rotates.
  Without the middleware the same view is reached through the URL configuration.
* Credentials are checked as the REST API checks them (DRF's ``TokenAuthentication``, or
  Django's session and ``auth.get_user``, which also verifies the session's password hash),
  and a success is remembered in Django's cache for ``TILES_AUTH_TTL`` seconds (default 60,
  the tiles' own ``max-age``): a signed-in map pays the one or two authentication queries once
  a minute instead of on every tile. Logging out and deleting a token forget the credentials
  at once: in production the cache is the Redis of ``CACHE_URL``, shared by every web process
  and host, so the next tile is refused whichever process serves it — at the price of one
  Redis read per tile (a process's own memory cannot learn of a logout elsewhere). Embedded,
  the cache is the process's memory. Other revocations (a password change, an expired
  session) reach the tiles within ``TILES_AUTH_TTL`` seconds — no longer than a browser may
  show the tiles it already has. ``TILES_AUTH_TTL = 0`` checks every request.
"""

from __future__ import annotations

import hashlib
import sys

from django.conf import settings
from django.contrib.auth import get_user, user_logged_out
from django.core.cache import caches
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.urls import URLResolver, get_resolver, path
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from twin.tiles import service as tiles

CACHE_MAX_AGE_S = 60
NOT_AUTHENTICATED = "Authentication credentials were not provided."  # DRF's words


# --- authentication ---------------------------------------------------------------------------
class CredentialCache:
    """Credentials that authenticated, remembered for ``ttl_s`` seconds in Django's cache
    ``TILES_AUTH_CACHE`` (``"default"``).

    With ``CACHE_URL`` that is the Redis cache all web processes and hosts share, so a logout or
    a deleted token in one of them is honoured by every other at its next request; embedded, it
    is the process's memory. Keys are hashes of the credential (never the credential itself);
    only successes are kept.
    """

    prefix = "gridtwin:tiles-auth:"

    @staticmethod
    def key(kind: str, credential: str) -> str:
        return hashlib.blake2b(f"{kind}:{credential}".encode(), digest_size=16).hexdigest()

    @staticmethod
    def _store():
        return caches[getattr(settings, "TILES_AUTH_CACHE", "default")]

    def valid(self, key: str) -> bool:
        return self._store().get(self.prefix + key) is not None

    def remember(self, key: str, ttl_s: float) -> None:
        if ttl_s > 0:
            self._store().set(self.prefix + key, 1, ttl_s)

    def forget(self, key: str) -> None:
        self._store().delete(self.prefix + key)


credentials = CredentialCache()


def _ttl_s() -> float:
    return float(getattr(settings, "TILES_AUTH_TTL", CACHE_MAX_AGE_S))


def _token_header(request: HttpRequest) -> list[bytes] | None:
    header = get_authorization_header(request).split()
    if header and header[0].lower() == TokenAuthentication.keyword.lower().encode():
        return header
    return None


def _remembered_session(request: HttpRequest) -> bool:
    """Whether the request's session cookie passed a check less than ``TILES_AUTH_TTL`` ago
    (asked once per request: the middleware and the view both want to know)."""
    remembered = getattr(request, "_tiles_session_remembered", None)
    if remembered is None:
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        remembered = bool(session_key) and _ttl_s() > 0 and credentials.valid(
            credentials.key("session", session_key))
        request._tiles_session_remembered = remembered
    return remembered


def authenticated(request: HttpRequest) -> bool:
    """Whether the request carries a valid API token or session (see the module notes).

    Raises ``AuthenticationFailed`` for a malformed or unknown token, as the REST API does; a
    missing, expired or signed-out session is simply not authenticated. A session not checked
    lately is read from ``request.session`` (``SessionMiddleware``'s, so that a session Django
    rotates or flushes on the way is saved and its cookie sent).
    """
    ttl_s = _ttl_s()
    header = _token_header(request)
    if header is not None:
        key = credentials.key("token", header[1].decode("latin-1")) if len(header) == 2 else ""
        if not key or ttl_s <= 0 or not credentials.valid(key):
            # DRF's own check: raises for a malformed, unknown or inactive user's token
            TokenAuthentication().authenticate(request)
            credentials.remember(key, ttl_s)
        return True
    if _remembered_session(request):
        return True
    if getattr(request, "session", None) is None or not get_user(request).is_authenticated:
        return False
    credentials.remember(credentials.key("session", request.session.session_key), ttl_s)
    return True


@receiver(user_logged_out, dispatch_uid="tiles-forget-session")
def _forget_session(sender, request=None, **kwargs) -> None:
    session = getattr(request, "session", None)
    session_key = session.session_key if session is not None else None
    if session_key:
        credentials.forget(credentials.key("session", session_key))


@receiver(post_delete, sender=Token, dispatch_uid="tiles-forget-token")
def _forget_token(sender, instance: Token, **kwargs) -> None:
    credentials.forget(credentials.key("token", instance.key))


# --- the view ---------------------------------------------------------------------------------
def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


def _not_authenticated(message: str) -> JsonResponse:
    response = JsonResponse({"detail": message}, status=401)
    response["WWW-Authenticate"] = TokenAuthentication.keyword
    return response


def _matches(if_none_match: str, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    weak = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == weak for tag in parse_etags(if_none_match))


def tile_view(request: HttpRequest, layer: str, z: int, x: int, y: int) -> HttpResponse:
    """One tile of one layer (see the module docstring for the answers)."""
    if request.method not in ("GET", "HEAD"):
        response = _error(405, f"method {request.method} not allowed: tiles are read with GET")
        response["Allow"] = "GET, HEAD"
        return response
    definition = tiles.LAYERS.get(layer)
    if definition is not None and not definition.public:
        try:
            if not authenticated(request):
                return _not_authenticated(NOT_AUTHENTICATED)
        except AuthenticationFailed as exc:
            return _not_authenticated(str(exc.detail))
    try:
        tile = tiles.fetch_tile(layer, z, x, y)
    except tiles.UnknownLayer as exc:
        return _error(404, str(exc.args[0]))
    except tiles.TileOutOfRange as exc:
        return _error(400, str(exc))
    public = definition.public
    headers = {"ETag": tile.etag,
               "Cache-Control": f"{'public' if public else 'private'}, max-age={CACHE_MAX_AGE_S}"}
    if _matches(request.META.get("HTTP_IF_NONE_MATCH", ""), tile.etag):
        response = HttpResponseNotModified(headers=headers)
    else:
        response = HttpResponse(tile.data, content_type=tiles.CONTENT_TYPE, headers=headers)
        response["Content-Length"] = str(len(tile.data))  # CommonMiddleware's job elsewhere
    if not public:
        patch_vary_headers(response, ["Authorization", "Cookie"])
    return response


TILE_PATTERN = path("<slug:layer>/<int:z>/<int:x>/<int:y>.mvt", tile_view, name="tile")
urlpatterns = [TILE_PATTERN]


class TileMiddleware:
    """Answer tile URLs before the rest of the middleware (see "The hot path" above).

    Install right after ``django.middleware.security.SecurityMiddleware``. A path is a tile when
    it lies under the prefix this module is included at in the URL configuration (``/tiles/``)
    and the rest matches the tile pattern; anything else, a malformed tile path included, goes
    on down the stack as usual. So does a tile whose session cookie has not been checked in the
    last ``TILES_AUTH_TTL`` seconds: that check runs once through ``SessionMiddleware`` and
    ``AuthenticationMiddleware``, which save the session if Django rotates it (a
    ``SECRET_KEY_FALLBACKS`` change) and send its cookie.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self._prefix: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        prefix = self._prefix if self._prefix is not None else self._find_prefix()
        path_info = request.path_info
        if prefix and path_info.startswith(prefix):
            match = TILE_PATTERN.resolve(path_info[len(prefix):])
            if match is not None and (_token_header(request) is not None
                                      or _remembered_session(request)
                                      or settings.SESSION_COOKIE_NAME not in request.COOKIES):
                request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it: 400 if not
                request.resolver_match = match
                return tile_view(request, **match.kwargs)
        return self.get_response(request)

    def _find_prefix(self) -> str:
        """``/tiles/``: where the root URL configuration includes this module ("" if nowhere)."""
        resolver = get_resolver()
        self._prefix = ""
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver) and entry.urlconf_name in (__name__, sys.modules[__name__]):
                self._prefix = "/" + str(entry.pattern)
        return self._prefix
