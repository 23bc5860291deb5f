"""End to end with the real `NameGenerator`: a tiny trained model, and the shipped one if there."""

from __future__ import annotations

import pytest
from fake_discord.harness import listed_names, run, running_bot

from generator import DEFAULT_CHECKPOINT, NameGenerator


def ask_for_names(generator: NameGenerator) -> tuple[list[str], list[str]]:
    """Names from a plain `/bandname count:3` and a `/bandname prime:Black count:4`."""

    async def scenario():
        async with running_bot(generator) as bot:
            plain = await bot.fake.answer(await bot.fake.invoke("bandname", {"count": 3}))
            primed = await bot.fake.answer(
                await bot.fake.invoke("bandname", {"prime": "Black", "count": 4}, user_id=2)
            )
            return listed_names(plain["content"]), listed_names(primed["content"])

    return run(scenario(), timeout=60)


def test_a_trained_model_answers_through_the_bot_and_honours_the_prime(tiny_checkpoint):
    plain, primed = ask_for_names(NameGenerator.load(tiny_checkpoint))
    assert len(plain) == 3 and all(name.strip() for name in plain)
    assert len(primed) == 4
    assert all(name.startswith("Black") for name in primed)


@pytest.mark.skipif(
    not DEFAULT_CHECKPOINT.exists(), reason=f"the shipped model {DEFAULT_CHECKPOINT} is not there"
)
def test_the_shipped_model_answers_through_the_bot():
    plain, primed = ask_for_names(NameGenerator.load())
    assert len(plain) == 3 and all(name.strip() for name in plain)
    assert len(primed) == 4
    assert all(name.startswith("Black") for name in primed)
