"""Development and test tools (not loaded by the production app)."""
