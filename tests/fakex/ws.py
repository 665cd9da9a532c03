"""A loopback websocket server replaying Binance ``!forceOrder@arr`` frames, with faults.

The frames are the 541 force orders recorded on 2026-01-06 (``tests/data/
forceorder_frames_2026-01-06.jsonl.gz``, rebuilt from the shared recording: the recording
kept one price per event, so ``p`` and ``ap`` both carry it). Real ccxt.pro connects to it,
sends its SUBSCRIBE, gets the ack, then the frames. Per connection, a plan decides what
happens (the n-th connection takes ``plans[n]``, later ones the last plan):

    frames      how many frames to send from the current replay position (None = all)
    then        after them: "close" (server drops the connection), "silent" (keeps it open,
                sends nothing), "stay" (keeps it open after the last frame)
    malformed   every k-th frame is replaced by garbage text (0 = never)
    duplicate   every frame is sent twice
    interval_s  pause between frames

The replay position carries over connections, so a reconnecting client gets the rest.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

DATA = Path(__file__).resolve().parent.parent / "data"
FRAMES_FILE = DATA / "forceorder_frames_2026-01-06.jsonl.gz"
# OKX: the 15 OKX ETH-USDT-SWAP liquidations recorded on 2026-04-03 (pcdogyu/
# MultipleExchangeLiquidationMap, liqmap.db at e42dcaa), as liquidation-orders pushes:
# sz = the recorded qty (contracts), bkPx = its price, posSide/side from its raw_side.
OKX_FRAMES_FILE = DATA / "okx_liquidation_frames_2026-04-03.jsonl.gz"
# Bybit: the 5 Bybit ETHUSDT liquidations of the same recording as allLiquidation pushes
# (v = the recorded qty in ETH, p = its price, S = its raw side: the position side).
BYBIT_FRAMES_FILE = DATA / "bybit_liquidation_frames_2026-04-03.jsonl.gz"


def load_frames(path: Path = FRAMES_FILE) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class Plan:
    frames: int | None = None
    then: str = "stay"  # "close", "silent" or "stay"
    malformed: int = 0
    duplicate: bool = False
    interval_s: float = 0.0


class FakeStream:
    def __init__(
        self, plans: list[Plan] | None = None, frames: list[dict[str, Any]] | None = None,
        shift_ms: int = 0, protocol: str = "binance",
    ) -> None:
        self.protocol = protocol  # "binance", "okx" or "bybit": how a subscription is acknowledged
        self.frames = load_frames() if frames is None else frames
        if shift_ms:  # replay at another time (event and trade times moved alike)
            self.frames = [
                {**f, "E": f["E"] + shift_ms, "o": {**f["o"], "T": f["o"]["T"] + shift_ms}}
                for f in self.frames
            ]
        self.plans = plans or [Plan()]
        self.position = 0
        self.connections = 0
        self.subscribed: list[Any] = []
        self.sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._ready = threading.Event()
        self._closing: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}"

    def remaining(self) -> int:
        return len(self.frames) - self.position

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        plan = self.plans[min(self.connections, len(self.plans) - 1)]
        self.connections += 1
        msg = await ws.receive()
        if msg.type == WSMsgType.TEXT:
            sub = json.loads(msg.data)
            if self.protocol == "bybit":
                self.subscribed.append(sub.get("args"))
                await ws.send_str(json.dumps({"success": True, "ret_msg": "", "conn_id": "fake",
                                              "req_id": sub.get("req_id"), "op": "subscribe"}))
            elif self.protocol == "okx":
                self.subscribed.append(sub.get("args"))
                for arg in sub.get("args", []):
                    await ws.send_str(json.dumps({"event": "subscribe", "arg": arg, "connId": "fake"}))
            else:
                self.subscribed.append(sub.get("params"))
                await ws.send_str(json.dumps({"result": None, "id": sub.get("id")}))
        end = len(self.frames) if plan.frames is None else min(len(self.frames), self.position + plan.frames)
        k = 0
        while self.position < end and not ws.closed:
            frame = self.frames[self.position]
            self.position += 1
            k += 1
            text = json.dumps(frame, separators=(",", ":"))
            if plan.malformed and k % plan.malformed == 0:
                await ws.send_str('{"e":"forceOrder","E":17676,"o":{"s":')  # cut short
                await ws.send_str("not json at all")
            await ws.send_str(text)
            self.sent += 1
            if plan.duplicate:
                await ws.send_str(text)
            if plan.interval_s:
                await asyncio.sleep(plan.interval_s)
        if plan.then == "close":
            await ws.close()
            return ws
        assert self._closing is not None
        # "silent" and "stay": keep the connection open (answering pings) until the client
        # leaves or the server stops.
        while not ws.closed and not self._closing.is_set():
            try:
                msg = await asyncio.wait_for(ws.receive(), 0.2)
            except TimeoutError:
                continue
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
            if msg.type == WSMsgType.TEXT and msg.data == "ping":  # OKX's keep-alive
                await ws.send_str("pong")
        return ws

    def start(self) -> FakeStream:
        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._closing = asyncio.Event()
            app = web.Application()
            app.router.add_get("/{tail:.*}", self._handler)
            runner = web.AppRunner(app, handle_signals=False)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self._runner = runner
            self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            loop = self._loop
            assert self._closing is not None
            loop.call_soon_threadsafe(self._closing.set)
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop = None

    def __enter__(self) -> FakeStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Run the REST + websocket fakes in their own process (for the kill tests): prints one
    JSON line with both URLs, serves until its stdin closes."""
    import argparse
    import sys

    from tests.fakex.data import load_universe
    from tests.fakex.server import FakeExchanges

    ap = argparse.ArgumentParser()
    ap.add_argument("--now", type=int, required=True)
    ap.add_argument("--interval", type=float, default=0.0)
    args = ap.parse_args()
    with FakeExchanges(load_universe(), args.now) as rest, FakeStream(
        [Plan(interval_s=args.interval)]
    ) as stream:
        print(json.dumps({"rest": rest.url, "ws": stream.url}), flush=True)
        for _ in sys.stdin:
            pass


if __name__ == "__main__":
    main()
