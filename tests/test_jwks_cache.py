"""The JWKS cache: kept up to its max age, re-fetched on demand, but never hammered."""

from connector.fal.webhook import JwksCache


def counting_fetch():
    calls = []

    def fetch():
        calls.append(1)
        return {"keys": [len(calls)]}

    return fetch, calls


def test_cached_until_max_age():
    fetch, calls = counting_fetch()
    cache = JwksCache(max_age=3600)
    assert cache.get(fetch) == cache.get(fetch) == {"keys": [1]}
    assert len(calls) == 1


def test_expired_cache_is_refetched():
    fetch, calls = counting_fetch()
    cache = JwksCache(max_age=0)
    cache.get(fetch)
    cache.get(fetch)
    assert len(calls) == 2


def test_first_forced_refresh_follows_a_rotation_at_once():
    fetch, calls = counting_fetch()
    cache = JwksCache()
    cache.get(fetch)
    assert cache.get(fetch, force=True) == {"keys": [2]}


def test_forced_refreshes_are_rate_limited():
    """A flood of forged deliveries (each forcing a refresh) costs one fetch per gap."""
    fetch, calls = counting_fetch()
    cache = JwksCache(refresh_gap=3600)
    cache.get(fetch)
    for _ in range(50):
        cache.get(fetch, force=True)
    assert len(calls) == 2


def test_forced_refresh_allowed_again_after_the_gap():
    fetch, calls = counting_fetch()
    cache = JwksCache(refresh_gap=0)
    cache.get(fetch)
    cache.get(fetch, force=True)
    cache.get(fetch, force=True)
    assert len(calls) == 3
