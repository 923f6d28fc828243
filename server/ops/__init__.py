"""Running Samplan: `/metrics`, the event-loop lag probe, backup and restore of the SQLite file."""
