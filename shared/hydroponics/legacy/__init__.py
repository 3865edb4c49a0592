"""The legacy SQLite import: a legacy server's database carried over into the platform, verified row by row."""
