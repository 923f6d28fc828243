"""Several nodes on one PostgreSQL and one Redis (DESIGN §6): the bus, room fan-out, event
fan-out and the leader lease. Imported only when SAMPLAN_REDIS_URL is set."""
