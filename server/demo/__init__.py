"""`samplan demo`: the fictional plan a newcomer can log into."""
