"""A stand-in for Discord, on 127.0.0.1, that the real discord.py client connects to in tests."""
