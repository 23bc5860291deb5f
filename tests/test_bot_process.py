"""The bot as a process: exit codes, settings from .env, signals, and a log without the token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_discord.harness import TOKEN, listed_names
from fake_discord.threaded import FakeDiscordThread

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = Path(__file__).resolve().parent
LAUNCHER = TESTS_DIR / "fake_discord" / "launch_bot.py"
EXIT_FAILED, EXIT_BAD_SETTINGS = 1, 2
PROCESS_TIMEOUT_SECONDS = 30


def bot_environment(**settings: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DISCORD_", "BANDNAME_", "SHARD_", "LOG_LEVEL"))
    }
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(TESTS_DIR)])
    environment.update(settings)
    return environment


def run_bot(cwd: Path, environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
    )


@pytest.mark.parametrize("token_setting", [None, "   "], ids=["unset", "blank"])
def test_a_missing_or_blank_token_is_one_clear_line_and_exit_code_2(tmp_path, token_setting):
    settings = {} if token_setting is None else {"DISCORD_TOKEN": token_setting}
    result = run_bot(tmp_path, bot_environment(**settings))

    assert result.returncode == EXIT_BAD_SETTINGS
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DISCORD_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr


def test_settings_are_read_from_a_dot_env_file_in_the_working_directory(tmp_path):
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-the-env-file\nDISCORD_GUILD_ID=my-server\n")
    result = run_bot(tmp_path, bot_environment())

    assert result.returncode == EXIT_BAD_SETTINGS
    assert "DISCORD_GUILD_ID" in result.stderr
    assert "from-the-env-file" not in result.stderr


def start_bot(
    cwd: Path, fake_thread: FakeDiscordThread, token: str, *args: str
) -> subprocess.Popen:
    fake = fake_thread.fake
    environment = bot_environment(
        DISCORD_TOKEN=token,
        LOG_LEVEL="DEBUG",
        FAKE_DISCORD_API=fake.api_base,
        FAKE_DISCORD_GATEWAY=fake.gateway_url,
    )
    return subprocess.Popen(
        [sys.executable, str(LAUNCHER), *args],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_refused_token_is_one_clear_line_and_exit_code_1_and_never_logged(tmp_path):
    refused = "MTAwrong.token-that-discord.refuses"
    with FakeDiscordThread(token=TOKEN) as fake_thread:
        process = start_bot(tmp_path, fake_thread, refused)
        stdout, stderr = process.communicate(timeout=PROCESS_TIMEOUT_SECONDS)

    assert process.returncode == EXIT_FAILED
    errors = [line for line in stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "refused DISCORD_TOKEN" in errors[0], stderr
    assert "Traceback" not in stderr
    assert refused not in stdout + stderr


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_shuts_the_bot_down_cleanly_after_serving(tmp_path, signal_number):
    with FakeDiscordThread(token=TOKEN) as fake_thread:
        process = start_bot(tmp_path, fake_thread, TOKEN, "--sync")
        try:
            wait_for(lambda: fake_thread.fake.current is not None, process)
            record = fake_thread.call(lambda fake: fake.invoke("bandname", {"count": 2}))
            message = fake_thread.call(lambda fake: fake.answer(record))
            process.send_signal(signal_number)
            stdout, stderr = process.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
        commands = fake_thread.fake.commands

    assert len(listed_names(message["content"])) == 2
    assert process.returncode == 0, stderr
    assert [command["name"] for command in commands[None]] == ["bandname"], "--sync is global"
    assert "served /bandname guild=2002 prime='' count=2 temperature=wild" in stderr
    assert "shutting down" in stderr and "Traceback" not in stderr
    assert TOKEN not in stdout + stderr


def wait_for(
    condition, process: subprocess.Popen, timeout: float = PROCESS_TIMEOUT_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the bot exited early: {process.stderr.read()}")
        if time.monotonic() > deadline:
            raise TimeoutError("the bot never connected")
        time.sleep(0.05)
