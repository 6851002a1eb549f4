"""The Redis records behind ``connector.integrations.celery``: one hash per job key.

fal's submit has no idempotency key, so the key is ours: every step that must happen once
(claim the submit, record the request id, hand the rest of the chain over to whoever learns of
completion first) is one Lua script, atomic in Redis, so two deliveries of the same message (or
a webhook racing the submit) can never both win.

Fields of ``<prefix>:job:<key>``:

    state         submitting | submitted | unknown
    owner         the delivery attempt that holds the submit claim
    lease_until   epoch seconds; a claim older than this belongs to a worker that died
    request_id    fal's id, once known (from the submit answer, or recovered from a webhook)
    delivered     the webhook's status (OK | ERROR) once a genuine delivery arrived
    handoff       parked (the chain's rest waits in ``cont``) | dispatched (someone sent it on)
    parked        JSON ``{"rest": the chain's remaining signatures, "state": what they get}``, while parked
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis

# KEYS[1] the record; ARGV owner, lease_until, ttl. Returns {} when the caller now holds the
# claim, else the existing record as a flat field/value list.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'state', 'submitting', 'owner', ARGV[1], 'lease_until', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return {}
end
return redis.call('HGETALL', KEYS[1])
"""

# Drop a claim whose submit certainly enqueued nothing, so a later attempt may submit.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'submitting'
   and redis.call('HEXISTS', KEYS[1], 'request_id') == 0 then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# A claim whose owner died (lease over) or whose submit answer was lost: never submit again.
# ARGV now. Returns the state after the call.
_GIVE_UP = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'submitting' and redis.call('HEXISTS', KEYS[1], 'request_id') == 0
   and tonumber(redis.call('HGET', KEYS[1], 'lease_until')) <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'unknown')
  return 'unknown'
end
return state
"""

# The submit's outcome. ARGV request_id ('' when unknown), state, parked ('' = continue the
# chain in the worker, polling). Returns 'go' (the caller continues its chain now), 'parked' (the
# chain waits for a webhook) or 'done' (an earlier delivery already parked or sent it on).
_RECORD = """
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'request_id', ARGV[1])
end
if redis.call('HEXISTS', KEYS[1], 'request_id') == 1 then
  redis.call('HSET', KEYS[1], 'state', 'submitted')
else
  redis.call('HSET', KEYS[1], 'state', ARGV[2])
end
if ARGV[3] == '' then return 'go' end
if redis.call('HEXISTS', KEYS[1], 'handoff') == 1 then return 'done' end
if redis.call('HEXISTS', KEYS[1], 'delivered') == 1 then
  redis.call('HSET', KEYS[1], 'handoff', 'dispatched')
  return 'go'
end
redis.call('HSET', KEYS[1], 'handoff', 'parked', 'parked', ARGV[3])
return 'parked'
"""

# A genuine webhook for this key. ARGV request_id, status. Returns 'unknown' (no such job),
# 'mismatch' (the delivery is for another request) or 'stored'; the caller then takes the
# parked chain, if any.
_DELIVER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
local rid = redis.call('HGET', KEYS[1], 'request_id')
if rid and rid ~= ARGV[1] then return 'mismatch' end
redis.call('HSET', KEYS[1], 'request_id', ARGV[1], 'delivered', ARGV[2], 'state', 'submitted')
return 'stored'
"""

# Take the parked chain, once: the webhook or the fallback timer, whichever comes first.
_TAKE = """
if redis.call('HGET', KEYS[1], 'handoff') ~= 'parked' then return false end
local parked = redis.call('HGET', KEYS[1], 'parked')
redis.call('HSET', KEYS[1], 'handoff', 'dispatched')
redis.call('HDEL', KEYS[1], 'parked')
return parked
"""


class JobStore:
    """The job records of one Redis database (``redis_url``), under ``prefix``."""

    def __init__(self, redis_url: str, *, prefix: str = "fal-connector", ttl: int = 7 * 86400) -> None:
        self.redis: redis.Redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self.prefix, self.ttl = prefix, ttl
        self._claim = self.redis.register_script(_CLAIM)
        self._release = self.redis.register_script(_RELEASE)
        self._give_up = self.redis.register_script(_GIVE_UP)
        self._record = self.redis.register_script(_RECORD)
        self._deliver = self.redis.register_script(_DELIVER)
        self._take = self.redis.register_script(_TAKE)

    def _name(self, key: str) -> str:
        return f"{self.prefix}:job:{key}"

    def claim(self, key: str, owner: str, lease_until: float) -> dict[str, str] | None:
        """None when ``owner`` now holds the submit claim; else the record someone made before."""
        flat = cast(list[str], self._claim(keys=[self._name(key)], args=[owner, repr(lease_until), self.ttl]))
        return dict(zip(flat[::2], flat[1::2], strict=True)) if flat else None

    def release(self, key: str, owner: str) -> None:
        self._release(keys=[self._name(key)], args=[owner])

    def give_up(self, key: str, now: float) -> str | None:
        return cast("str | None", self._give_up(keys=[self._name(key)], args=[repr(now)]))

    def record(self, key: str, request_id: str | None, state: str, parked: dict[str, Any] | None) -> str:
        """'go', 'parked' or 'done' (see ``_RECORD``)."""
        blob = json.dumps(parked) if parked else ""
        return cast(str, self._record(keys=[self._name(key)], args=[request_id or "", state, blob]))

    def deliver(self, key: str, request_id: str, status: str) -> str:
        """'unknown', 'mismatch' or 'stored' (see ``_DELIVER``)."""
        return cast(str, self._deliver(keys=[self._name(key)], args=[request_id, status]))

    def take(self, key: str) -> dict[str, Any] | None:
        """The parked chain and its state, to whoever asks first; None after that."""
        blob = self._take(keys=[self._name(key)])
        return cast("dict[str, Any]", json.loads(blob)) if blob else None

    def get(self, key: str) -> dict[str, str]:
        return cast("dict[str, str]", self.redis.hgetall(self._name(key)))

    def close(self) -> None:
        self.redis.close()
