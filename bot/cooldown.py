"""A per-user limit on how often names can be asked for: `uses` within any `per_seconds` window."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class UserCooldown:
    """A sliding window of recent uses for each user.

    Users who have been quiet for a whole window are forgotten, so the memory held grows with the
    number of people active in the last `per_seconds`, not with everyone who ever used the bot.
    """

    def __init__(
        self, uses: int, per_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if uses < 1 or per_seconds <= 0:
            raise ValueError("a cooldown needs at least one use and a positive window")
        self.uses = uses
        self.per_seconds = per_seconds
        self._clock = clock
        self._recent_uses: dict[int, deque[float]] = {}
        self._last_sweep = clock()

    def try_use(self, user_id: int) -> float:
        """Record a use and return 0.0, or return how many seconds the user must wait."""
        now = self._clock()
        self._forget_quiet_users(now)

        recent = self._recent_uses.setdefault(user_id, deque())
        while recent and now - recent[0] >= self.per_seconds:
            recent.popleft()
        if len(recent) >= self.uses:
            return recent[0] + self.per_seconds - now

        recent.append(now)
        return 0.0

    def _forget_quiet_users(self, now: float) -> None:
        # Sweeping once a window keeps the cost of each use constant on average.
        if now - self._last_sweep < self.per_seconds:
            return
        self._last_sweep = now
        quiet = [
            user_id
            for user_id, recent in self._recent_uses.items()
            if not recent or now - recent[-1] >= self.per_seconds
        ]
        for user_id in quiet:
            del self._recent_uses[user_id]

    def __len__(self) -> int:
        """How many users are being tracked right now."""
        return len(self._recent_uses)
