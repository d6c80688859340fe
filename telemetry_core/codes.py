"""Every code an answer can carry, with its HTTP status and message (documented in docs/codes.md).

The platform's own codes (100-103, 200, 830, 831) keep its exact messages. The codes this
implementation adds for requests the platform does not describe reuse the HTTP status
number, so a client can branch on either.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: int
    http_status: int
    message: str


INVALID_API_KEY = Code(100, 401, "Invalid API Key")
INACTIVE_API_KEY = Code(101, 401, "Inactive API Key")
MISSING_CAPABILITY = Code(102, 401, "The used API key doesn't have the required capability to access this endpoint")
WRONG_IP = Code(103, 401, "API key can't be used from this IP address")

SUCCESS = Code(200, 200, "Success")
ERASED = Code(200, 200, "Telemetry erased")
ERASURE_DRY_RUN = Code(200, 200, "Nothing erased (dry run)")
CORRECT_FORMAT_SAVED = Code(830, 200, "Correct format data saved")
INCORRECT_FORMAT_SAVED = Code(831, 200, "Incorrect format data saved")

MALFORMED_BODY = Code(400, 400, "The request body could not be parsed")
INVALID_EVENT_ID = Code(400, 400, "The event id must be a UUID or 1-64 characters of A-Z a-z 0-9 _ -")
NOT_FOUND = Code(404, 404, "Not found")
UNKNOWN_SIGNING_KEY = Code(404, 404, "No current or archived signing key has this id")
METHOD_NOT_ALLOWED = Code(405, 405, "Method not allowed")
BODY_TOO_LARGE = Code(413, 413, "The request body is too large")
TOO_MANY_EVENTS = Code(413, 413, "Too many events in one batch")
BATCH_OVER_BURST = Code(413, 413, "The batch has more events than this API key's rate limit burst; nothing was saved")
UNSUPPORTED_MEDIA_TYPE = Code(415, 415, "Unsupported content type")
INVALID_PARAMETERS = Code(422, 422, "The given data was invalid.")
RATE_LIMITED = Code(429, 429, "Too many events for this API key; nothing was saved, retry after Retry-After seconds")
INTERNAL_ERROR = Code(500, 500, "Internal error; nothing was saved")
INTERNAL_QUERY_ERROR = Code(500, 500, "Internal error")
STORE_UNAVAILABLE = Code(503, 503, "Service temporarily unavailable; nothing was saved, retry later")
STORAGE_UNAVAILABLE = Code(503, 503, "Telemetry storage is temporarily unavailable; retry later")

ALL = (
    INVALID_API_KEY,
    INACTIVE_API_KEY,
    MISSING_CAPABILITY,
    WRONG_IP,
    SUCCESS,
    ERASED,
    ERASURE_DRY_RUN,
    CORRECT_FORMAT_SAVED,
    INCORRECT_FORMAT_SAVED,
    MALFORMED_BODY,
    INVALID_EVENT_ID,
    NOT_FOUND,
    UNKNOWN_SIGNING_KEY,
    METHOD_NOT_ALLOWED,
    BODY_TOO_LARGE,
    TOO_MANY_EVENTS,
    BATCH_OVER_BURST,
    UNSUPPORTED_MEDIA_TYPE,
    INVALID_PARAMETERS,
    RATE_LIMITED,
    INTERNAL_ERROR,
    INTERNAL_QUERY_ERROR,
    STORE_UNAVAILABLE,
    STORAGE_UNAVAILABLE,
)
