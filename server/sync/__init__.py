"""The live plan: the y-websocket endpoint, open connections and their access, `/events`."""
