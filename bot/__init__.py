"""The LINE conversation: turns webhook events into domain calls and chat messages."""
