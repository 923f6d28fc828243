"""A client that keeps writing goals and knows which of them the server confirmed durable."""

from __future__ import annotations

import asyncio

from pycrdt import Map

from crdt.client import YClient

GOAL = "mål {i}: Åse Ødegård tar bussen alene 🚌"


class ConfirmingWriter:
    """Writes `k0`, `k1`, ... into the map `m` until stopped or its socket closes; after every
    few it asks the server to confirm (YClient.confirm: the reply waits until they are
    durable). `confirmed`: every goal below that number is confirmed."""

    def __init__(self, client: YClient, every: int = 5) -> None:
        self.client = client
        self.every = every
        self.written = 0
        self.confirmed = 0
        self.stop = False

    def confirmed_keys(self) -> set[str]:
        return {f"k{i}" for i in range(self.confirmed)}

    async def run(self) -> None:
        goals = self.client.doc.get("m", type=Map)
        while not self.stop and self.client.close_code is None:
            goals[f"k{self.written}"] = GOAL.format(i=self.written)
            self.written += 1
            if self.written % self.every == 0:
                upto = self.written
                if await self.client.confirm():
                    self.confirmed = upto
            await asyncio.sleep(0.002)
