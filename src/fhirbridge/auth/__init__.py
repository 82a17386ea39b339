"""Authentication (OAuth2 bearer JWTs) and SMART scopes."""
