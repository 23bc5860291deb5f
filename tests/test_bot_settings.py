"""Reading the bot's settings from the environment: defaults, and a clear error for each mistake."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings

TOKEN = "MTAsettings.test-token"


def test_only_the_token_is_required_and_the_rest_has_defaults():
    settings = load_settings({"DISCORD_TOKEN": f"  {TOKEN}  "})
    assert settings == Settings(token=TOKEN)
    assert settings.checkpoint is None and settings.guild_id is None
    assert settings.log_level == logging.INFO and not settings.sharded


def test_every_setting_is_read():
    settings = load_settings(
        {
            "DISCORD_TOKEN": TOKEN,
            "BANDNAME_CHECKPOINT": "runs/best.safetensors",
            "DISCORD_GUILD_ID": "123456789012345678",
            "LOG_LEVEL": "debug",
            "SHARD_COUNT": "4",
            "SHARD_IDS": "2, 3",
        }
    )
    assert settings.checkpoint == Path("runs/best.safetensors")
    assert settings.guild_id == 123456789012345678
    assert settings.log_level == logging.DEBUG
    assert (settings.sharded, settings.shard_count, settings.shard_ids) == (True, 4, (2, 3))


def test_shard_count_auto_leaves_the_count_to_discord():
    settings = load_settings({"DISCORD_TOKEN": TOKEN, "SHARD_COUNT": "auto"})
    assert settings.sharded and settings.shard_count is None


def test_the_token_never_shows_in_the_settings_repr():
    assert TOKEN not in repr(load_settings({"DISCORD_TOKEN": TOKEN}))


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({}, "DISCORD_TOKEN"),
        ({"DISCORD_TOKEN": " \t"}, "DISCORD_TOKEN"),
        ({"DISCORD_GUILD_ID": "my server"}, "DISCORD_GUILD_ID"),
        ({"DISCORD_GUILD_ID": "-5"}, "DISCORD_GUILD_ID"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT"),
        ({"SHARD_IDS": "0"}, "SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "2"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,x"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1,1"}, "SHARD_IDS"),
    ],
)
def test_a_bad_setting_is_named_in_a_one_line_error(environment, named):
    if "DISCORD_TOKEN" not in environment and named != "DISCORD_TOKEN":
        environment = {"DISCORD_TOKEN": TOKEN, **environment}
    with pytest.raises(SettingsError) as caught:
        load_settings(environment)
    message = str(caught.value)
    assert named in message and "\n" not in message
