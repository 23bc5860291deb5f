"""The Discord bot: answers `/bandname` with fresh death metal band names from the generator."""
