"""The per-user cooldown: a sliding window, a wait time that counts down, and a bounded memory."""

from __future__ import annotations

import pytest

from bot.cooldown import UserCooldown


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_uses_within_the_limit_pass_and_the_next_one_waits_for_the_oldest_to_expire():
    clock = FakeClock()
    cooldown = UserCooldown(3, 30.0, clock=clock)
    for _ in range(3):
        assert cooldown.try_use(1) == 0.0
        clock.now += 5

    assert cooldown.try_use(1) == pytest.approx(15.0)
    clock.now += 15
    assert cooldown.try_use(1) == 0.0, "the first use has left the window"


def test_users_are_limited_separately():
    cooldown = UserCooldown(1, 10.0, clock=FakeClock())
    assert cooldown.try_use(1) == 0.0
    assert cooldown.try_use(1) > 0
    assert cooldown.try_use(2) == 0.0


def test_a_refused_use_does_not_extend_the_wait():
    clock = FakeClock()
    cooldown = UserCooldown(1, 10.0, clock=clock)
    cooldown.try_use(1)
    for _ in range(5):
        clock.now += 1
        cooldown.try_use(1)
    clock.now += 5
    assert cooldown.try_use(1) == 0.0


def test_quiet_users_are_forgotten():
    clock = FakeClock()
    cooldown = UserCooldown(2, 10.0, clock=clock)
    for user_id in range(100):
        cooldown.try_use(user_id)
    clock.now += 11
    cooldown.try_use(999)
    assert len(cooldown) == 1


def test_a_cooldown_must_allow_something():
    with pytest.raises(ValueError):
        UserCooldown(0, 10.0)
