"""Who is calling: API keys (stored hashed) and the client they belong to."""
