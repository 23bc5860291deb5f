"""Gathering requests that arrive together into one generator pass, run off the event loop.

The generator is synchronous and CPU-bound; running it on the event loop would stall the gateway
heartbeat. Every pass therefore runs on one worker thread (torch releases the GIL inside its
kernels, so the loop keeps serving meanwhile), and requests that arrive within a few milliseconds
of each other share a pass, which costs barely more than serving one of them.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from generator.errors import BandnameError
from generator.request import GenerationRequest

log = logging.getLogger(__name__)

DEFAULT_WINDOW_SECONDS = 0.005
DEFAULT_MAX_BATCH = 64
DEFAULT_MAX_QUEUED = 100

# What the generator raises for a request it cannot serve, as opposed to a fault of its own: a
# BandnameError, or a ValueError when a model is asked for something it was not trained for
# (a genre, from a checkpoint trained without genre tags). Either is the asker's to hear about.
GENERATOR_REFUSALS = (BandnameError, ValueError)


class BatchGenerator(Protocol):
    """Anything that answers several requests in one pass, in order (`NameGenerator` does)."""

    def generate_many(self, requests: list[GenerationRequest]) -> list[list[str]]: ...


class GeneratorBusy(Exception):
    """More requests are waiting than the bot accepts; the caller should try again shortly."""


@dataclass
class _Job:
    request: GenerationRequest
    answer: asyncio.Future[list[str]]


class NameBatcher:
    """Queues requests and feeds them to `generate_many` in batches, on a worker thread."""

    def __init__(
        self,
        generator: BatchGenerator,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        self.generator = generator
        self.window_seconds = window_seconds
        self.max_batch = max_batch
        self.max_queued = max_queued
        self._waiting: list[_Job] = []
        self._in_pass = 0
        self._work_arrived: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bandname-generator")

    @property
    def queued(self) -> int:
        """Requests accepted and not yet answered: waiting, plus those in the running pass."""
        return len(self._waiting) + self._in_pass

    def start(self) -> None:
        """Begin serving; call from inside the running event loop."""
        self._work_arrived = asyncio.Event()
        self._loop_task = asyncio.create_task(
            self._serve_forever(self._work_arrived), name="bandname-batcher"
        )

    def submit(self, request: GenerationRequest) -> asyncio.Future[list[str]]:
        """Queue `request`; the future resolves to its names. Raises GeneratorBusy when full."""
        if self._work_arrived is None:
            raise RuntimeError("the batcher has not been started")
        if self.queued >= self.max_queued:
            raise GeneratorBusy(f"{self.queued} requests are already waiting")
        answer = asyncio.get_running_loop().create_future()
        self._waiting.append(_Job(request, answer))
        self._work_arrived.set()
        return answer

    async def close(self) -> None:
        """Stop serving: queued requests are cancelled and the worker thread is released."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        for job in self._waiting:
            job.answer.cancel()
        self._waiting.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _serve_forever(self, work_arrived: asyncio.Event) -> None:
        while True:
            await work_arrived.wait()
            # Let requests that arrive together catch up with the first one.
            await asyncio.sleep(self.window_seconds)
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            if not self._waiting:
                work_arrived.clear()
            await self._serve_batch(batch)

    async def _serve_batch(self, batch: list[_Job]) -> None:
        jobs = [job for job in batch if not job.answer.done()]
        if not jobs:
            return
        self._in_pass = len(jobs)
        try:
            await self._answer(jobs)
        except GENERATOR_REFUSALS as refusal:
            if len(jobs) == 1:
                _fail(jobs[0], refusal)
            else:
                # One request the generator refuses must not sink the others that shared its
                # pass, so each is asked again on its own and only the culprit is told no.
                log.info("a batch of %d was refused (%s); retrying one by one", len(jobs), refusal)
                for job in jobs:
                    await self._answer_alone(job)
        except Exception as error:
            for job in jobs:
                _fail(job, error)
        finally:
            self._in_pass = 0

    async def _answer(self, jobs: list[_Job]) -> None:
        requests = [job.request for job in jobs]
        loop = asyncio.get_running_loop()
        answers = await loop.run_in_executor(self._executor, self.generator.generate_many, requests)
        if len(answers) != len(jobs):
            raise RuntimeError(f"the generator answered {len(answers)} of {len(jobs)} requests")
        log.debug("generated %d names for %d requests", sum(map(len, answers)), len(jobs))
        for job, names in zip(jobs, answers, strict=True):
            _succeed(job, names)

    async def _answer_alone(self, job: _Job) -> None:
        try:
            await self._answer([job])
        except Exception as error:
            _fail(job, error)


# The person may be gone (the interaction handler cancelled at shutdown): nothing to tell then.
def _succeed(job: _Job, names: list[str]) -> None:
    if not job.answer.done():
        job.answer.set_result(names)


def _fail(job: _Job, error: BaseException) -> None:
    if not job.answer.done():
        job.answer.set_exception(error)
