"""The batcher: requests that arrive together share one pass, off the event loop, within bounds."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fake_discord.generator_stub import StubGenerator

from bot.batching import GeneratorBusy, NameBatcher
from generator.errors import BandnameError
from generator.request import GenerationRequest


def serve(batcher: NameBatcher, requests: list[GenerationRequest]):
    async def scenario():
        batcher.start()
        try:
            answers = [batcher.submit(request) for request in requests]
            return await asyncio.gather(*answers, return_exceptions=True)
        finally:
            await batcher.close()

    return asyncio.run(scenario())


def test_requests_submitted_together_share_one_pass_and_are_answered_in_order():
    generator = StubGenerator()
    requests = [GenerationRequest(n=i + 1, prime=f"P{i}") for i in range(6)]
    answers = serve(NameBatcher(generator), requests)

    assert len(generator.passes) == 1
    assert [len(names) for names in answers] == [1, 2, 3, 4, 5, 6]
    assert all(names[0].startswith(f"P{i}") for i, names in enumerate(answers))
    assert threading.main_thread().name not in generator.threads


def test_a_batch_never_exceeds_max_batch():
    generator = StubGenerator()
    serve(NameBatcher(generator, max_batch=4), [GenerationRequest(n=1)] * 10)
    assert [len(batch) for batch in generator.passes] == [4, 4, 2]


def test_a_full_queue_refuses_at_once():
    async def scenario():
        batcher = NameBatcher(StubGenerator(pass_seconds=0.2), max_queued=2)
        batcher.start()
        try:
            accepted = [batcher.submit(GenerationRequest(n=1)) for _ in range(2)]
            with pytest.raises(GeneratorBusy):
                batcher.submit(GenerationRequest(n=1))
            await asyncio.gather(*accepted)
            assert batcher.queued == 0
            await batcher.submit(GenerationRequest(n=1))
        finally:
            await batcher.close()

    asyncio.run(scenario())


def test_a_refusal_fails_only_the_request_that_caused_it():
    generator = StubGenerator()
    generator.refused_primes = {"Bad"}
    requests = [GenerationRequest(n=1, prime=prime) for prime in ["Ok", "Bad", "Fine"]]
    ok, bad, fine = serve(NameBatcher(generator), requests)

    assert isinstance(bad, BandnameError)
    assert ok == ["OkThrone"] and fine == ["FineThrone"]


def test_an_unexpected_failure_reaches_every_request_of_the_pass():
    generator = StubGenerator()
    generator.explode = True
    answers = serve(NameBatcher(generator), [GenerationRequest(n=1)] * 3)
    assert all(isinstance(answer, RuntimeError) for answer in answers)


def test_a_generator_that_answers_too_few_requests_is_an_error_not_a_silent_gap():
    class ShortGenerator:
        def generate_many(self, requests):
            return [["Only"]]

    answers = serve(NameBatcher(ShortGenerator()), [GenerationRequest(n=1)] * 2)
    assert all(isinstance(answer, RuntimeError) for answer in answers)


def test_submitting_before_start_is_a_programming_error():
    with pytest.raises(RuntimeError):
        NameBatcher(StubGenerator()).submit(GenerationRequest(n=1))
