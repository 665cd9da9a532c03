"""The four exchanges' public REST answers, in their documented JSON shapes.

Shapes follow each exchange's API docs and the ccxt parsers that read them
(ccxt/async_support/{binance,bybit,okx,hyperliquid}.py: parse_market, parse_ohlcv,
parse_open_interest, parse_funding_rate_history, parse_market_leverage_tiers).
Each handler answers ``(path, query or body)`` with ``(status, json object, weight)``; the
rows it would return are passed through ``edit_rows`` so the server can inject faults
(truncated pages, duplicated or missing bars, bad prices).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakex.data import CoinData

RowsEdit = Callable[[list[Any]], list[Any]]
Answer = tuple[int, Any, int]  # status, body (json-able), request weight
TF_MS = {"5m": 300_000, "1h": 3_600_000}


def _num(x: float) -> str:
    return repr(float(x)) if x == x else "NaN"


def _window(rows: list[Any], ts: Callable[[Any], int], start: int | None, end: int | None) -> list[Any]:
    return [r for r in rows if (start is None or ts(r) >= start) and (end is None or ts(r) <= end)]


class Formats:
    def __init__(self, coins: dict[str, CoinData], now_ms: Callable[[], int]) -> None:
        self.coins = coins
        self.now = now_ms
        # exchange -> coins its market list leaves out (a symbol that exchange does not list)
        self.unlisted: dict[str, set[str]] = {}

    def listed(self, exchange: str) -> list[str]:
        """The coins ``exchange``'s market list names."""
        return [c for c in self.coins if c not in self.unlisted.get(exchange, set())]

    def _bars(self, coin: str, tf: str) -> list[Any]:
        now = self.now()
        return [b for b in self.coins[coin].candles.get(tf, []) if b[0] <= now]

    def _funding(self, coin: str) -> list[tuple[int, float]]:
        now = self.now()
        return [f for f in self.coins[coin].funding if f[0] <= now]

    def _oi(self, coin: str) -> list[tuple[int, float, float]]:
        """(time of the reading, base amount, usd): the real hourly series holds, at the open
        time t of each hour, the open interest at its end; an exchange stamps that reading
        t + 1h. The base amount is the USD value over the hour's close (the price then)."""
        now = self.now()
        data = self.coins[coin]
        closes = {b[0]: b[4] for b in data.candles["1h"]}
        hour = 3_600_000
        return [
            (t + hour, usd / closes[t], usd)
            for t, usd in data.oi_usd
            if t + hour <= now and t in closes
        ]

    # -- Binance USDⓈ-M (fapi) ----------------------------------------------------------

    def binance(self, path: str, q: dict[str, str], edit: RowsEdit) -> Answer:
        coin_of = {f"{c}USDT": c for c in self.listed("binanceusdm")}
        if path == "/fapi/v1/exchangeInfo":
            return 200, {
                "timezone": "UTC", "serverTime": self.now(), "futuresType": "U_MARGINED",
                "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                     "limit": 2400},
                ],
                "exchangeFilters": [], "assets": [],
                "symbols": [_binance_market(c) for c in self.listed("binanceusdm")],
            }, 1
        sym = q.get("symbol", "")
        if sym not in coin_of:
            return 400, {"code": -1121, "msg": "Invalid symbol."}, 1
        coin = coin_of[sym]
        start = int(q["startTime"]) if "startTime" in q else None
        end = int(q["endTime"]) if "endTime" in q else None
        if path == "/fapi/v1/klines":
            tf = {"5m": "5m", "1h": "1h"}.get(q.get("interval", ""))
            if tf is None:
                return 400, {"code": -1120, "msg": "Invalid interval."}, 1
            limit = min(int(q.get("limit", 500)), 1500)
            weight = 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
            rows = _window(self._bars(coin, tf), lambda b: b[0], start, end)
            rows = rows[:limit] if start is not None or end is None else rows[-limit:]
            step = TF_MS[tf]
            out = [
                [t, _num(o), _num(h), _num(lo), _num(c), _num(v), t + step - 1, _num(v * c), 100,
                 _num(v / 2), _num(v * c / 2), "0"]
                for t, o, h, lo, c, v in rows
            ]
            return 200, edit(out), weight
        if path == "/futures/data/openInterestHist":
            limit = min(int(q.get("limit", 30)), 500)
            oldest = self.now() - 30 * 86_400_000
            if start is not None and start < oldest:
                return 400, {"code": -1130, "msg": "parameter 'startTime' is invalid."}, 1
            rows = _window(self._oi(coin), lambda r: r[0], start, end)
            rows = rows[:limit] if start is not None else rows[-limit:]
            return 200, edit([
                {"symbol": sym, "sumOpenInterest": _num(a), "sumOpenInterestValue": _num(u),
                 "CMCCirculatingSupply": "0", "timestamp": t}
                for t, a, u in rows
            ]), 1
        if path == "/fapi/v1/fundingRate":
            limit = min(int(q.get("limit", 100)), 1000)
            rows = _window(self._funding(coin), lambda r: r[0], start, end)
            rows = rows[:limit] if start is not None else rows[-limit:]
            return 200, edit([
                {"symbol": sym, "fundingTime": t, "fundingRate": _num(r), "markPrice": ""}
                for t, r in rows
            ]), 1
        return 404, {"code": -5000, "msg": f"Path {path}, Method GET is invalid"}, 1

    # -- Bybit v5 (linear) -----------------------------------------------------------------

    def bybit(self, path: str, q: dict[str, str], edit: RowsEdit) -> Answer:
        def ok(result: Any) -> Answer:
            return 200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
                         "time": self.now()}, 1

        if path == "/v5/market/instruments-info":
            if q.get("status") == "PreLaunch" or q.get("category") != "linear":
                return ok({"category": q.get("category", ""), "list": [], "nextPageCursor": ""})
            return ok({"category": "linear", "list": [_bybit_market(c) for c in self.listed("bybit")],
                       "nextPageCursor": ""})
        coin_of = {f"{c}USDT": c for c in self.listed("bybit")}
        sym = q.get("symbol", "")
        if sym not in coin_of:
            return 200, {"retCode": 10001, "retMsg": "params error: symbol invalid", "result": {},
                         "retExtInfo": {}, "time": self.now()}, 1
        coin = coin_of[sym]
        if path == "/v5/market/risk-limit":
            rows = self.coins[coin].tiers
            return ok({"category": "linear", "list": [
                {"id": int(r["tier"]), "symbol": sym, "riskLimitValue": r["risk_limit_usdt"],
                 "maintenanceMargin": r["maintenance_margin_rate"],
                 "initialMargin": _num(1 / float(r["max_leverage"])), "isLowestRisk": int(r["tier"] == "1"),
                 "maxLeverage": r["max_leverage"], "mmDeduction": r["mm_deduction_usdt"]}
                for r in rows
            ]})
        if path == "/v5/market/kline":
            tf = {"5": "5m", "60": "1h"}.get(q.get("interval", ""))
            if tf is None:
                return 200, {"retCode": 10001, "retMsg": "Illegal category", "result": {}}, 1
            start = int(q["start"]) if "start" in q else None
            end = int(q["end"]) if "end" in q else None
            limit = min(int(q.get("limit", 200)), 1000)
            # Bybit answers the latest `limit` bars of [start, end], newest first.
            rows = _window(self._bars(coin, tf), lambda b: b[0], start, end)[-limit:][::-1]
            out = [[str(t), _num(o), _num(h), _num(lo), _num(c), _num(v), _num(v * c)]
                   for t, o, h, lo, c, v in rows]
            return ok({"symbol": sym, "category": "linear", "list": edit(out)})
        start = int(q["startTime"]) if "startTime" in q else None
        end = int(q["endTime"]) if "endTime" in q else None
        if path == "/v5/market/open-interest":
            limit = min(int(q.get("limit", 50)), 200)
            rows = _window(self._oi(coin), lambda r: r[0], start, end)[-limit:][::-1]
            return ok({"symbol": sym, "category": "linear", "nextPageCursor": "", "list": edit([
                {"openInterest": _num(a), "timestamp": str(t)} for t, a, _u in rows
            ])})
        if path == "/v5/market/funding/history":
            limit = min(int(q.get("limit", 200)), 200)
            rows = _window(self._funding(coin), lambda r: r[0], start, end)[-limit:][::-1]
            return ok({"category": "linear", "list": edit([
                {"symbol": sym, "fundingRate": _num(r), "fundingRateTimestamp": str(t)}
                for t, r in rows
            ])})
        return 404, {"retCode": 10404, "retMsg": "route not found"}, 1

    # -- OKX v5 (swap) -----------------------------------------------------------------------

    def okx(self, path: str, q: dict[str, str], edit: RowsEdit) -> Answer:
        def ok(data: Any) -> Answer:
            return 200, {"code": "0", "msg": "", "data": data}, 1

        if path == "/api/v5/public/instruments":
            if q.get("instType") != "SWAP":
                return ok([])
            return ok([_okx_market(c) for c in self.listed("okx")])
        if path == "/api/v5/public/position-tiers":
            fam = q.get("instFamily", "")
            coin = fam.removesuffix("-USDT")
            if q.get("instType") != "SWAP" or coin not in self.coins:
                return 200, {"code": "51000", "msg": "Parameter instFamily error", "data": []}, 1
            return ok([
                {"uly": fam, "instFamily": fam, "instId": "", "tier": r["tier"],
                 "minSz": r["lower_bound"], "maxSz": r["upper_bound"],
                 "mmr": r["maintenance_margin_rate"], "imr": r["initial_margin_rate"],
                 "maxLever": r["max_leverage"], "optMgnFactor": "0", "quoteMaxLoan": "",
                 "baseMaxLoan": ""}
                for r in self.coins[coin].okx_tiers
            ])
        coin_of = {f"{c}-USDT-SWAP": c for c in self.listed("okx")}
        inst = q.get("instId", "")
        if inst not in coin_of:
            return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}, 1
        coin = coin_of[inst]
        ct_val = _okx_ct_val(coin)
        # okx bounds are exclusive: after = older than, before = newer than; newest first.
        after = int(q["after"]) if "after" in q else None
        before = int(q["before"]) if "before" in q else None

        def between(rows: list[Any], ts: Callable[[Any], int], limit: int) -> list[Any]:
            sel = [r for r in rows if (after is None or ts(r) < after) and (before is None or ts(r) > before)]
            return sel[-limit:][::-1] if before is None or after is not None else sel[:limit][::-1]

        if path in ("/api/v5/market/history-candles", "/api/v5/market/candles"):
            tf = {"5m": "5m", "1H": "1h"}.get(q.get("bar", ""))
            if tf is None:
                return 200, {"code": "51000", "msg": "Parameter bar error", "data": []}, 1
            cap = 100 if path.endswith("history-candles") else 300
            limit = min(int(q.get("limit", 100)), cap)
            rows = between(self._bars(coin, tf), lambda b: b[0], limit)
            return ok(edit([
                [str(t), _num(o), _num(h), _num(lo), _num(c), _num(v / ct_val), _num(v), _num(v * c), "1"]
                for t, o, h, lo, c, v in rows
            ]))
        if path == "/api/v5/public/funding-rate-history":
            limit = min(int(q.get("limit", 100)), 100)
            rows = between(self._funding(coin), lambda r: r[0], limit)
            return ok(edit([
                {"instType": "SWAP", "instId": inst, "fundingRate": _num(r), "realizedRate": _num(r),
                 "fundingTime": str(t), "method": "current_period"}
                for t, r in rows
            ]))
        if path == "/api/v5/rubik/stat/contracts/open-interest-history":
            limit = min(int(q.get("limit", 100)), 100)
            begin = int(q["begin"]) if "begin" in q else None
            end = int(q["end"]) if "end" in q else None
            sel = [r for r in self._oi(coin) if (begin is None or r[0] > begin) and (end is None or r[0] < end)]
            rows = sel[-limit:][::-1]
            return ok(edit([[str(t), _num(a / ct_val), _num(a), _num(u)] for t, a, u in rows]))
        return 404, {"code": "50000", "msg": "not found", "data": []}, 1

    # -- Hyperliquid (POST /info) ------------------------------------------------------------

    def hyperliquid(self, body: dict[str, Any], edit: RowsEdit) -> Answer:
        kind = body.get("type")
        names = self.listed("hyperliquid")
        if kind == "spotMeta":
            return 200, {"tokens": [{"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0,
                                     "tokenId": "0x6d1e7cde53ba9467b783cb7c530ce054",
                                     "isCanonical": True}], "universe": []}, 20
        if kind == "meta":
            return 200, {"universe": [_hl_meta(c) for c in names]}, 20
        if kind == "metaAndAssetCtxs":
            ctxs = []
            for c in names:
                bars = self._bars(c, "5m") or self._bars(c, "1h")
                px = bars[-1][4] if bars else 0.0
                oi = self._oi(c)
                amount = oi[-1][1] if oi else 0.0
                ctxs.append({"dayNtlVlm": "0", "funding": "0.0000125", "impactPxs": [_num(px), _num(px)],
                             "markPx": _num(px), "midPx": _num(px), "openInterest": _num(amount),
                             "oraclePx": _num(px), "premium": "0", "prevDayPx": _num(px),
                             "dayBaseVlm": "0"})
            return 200, [{"universe": [_hl_meta(c) for c in names]}, ctxs], 20
        if kind == "candleSnapshot":
            req = body.get("req", {})
            coin, tf = req.get("coin"), req.get("interval")
            if coin not in self.coins or tf not in TF_MS:
                return 500, None, 20
            rows = _window(self._bars(coin, tf), lambda b: b[0], req.get("startTime"), req.get("endTime"))[:5000]
            step = TF_MS[tf]
            return 200, edit([
                {"t": t, "T": t + step - 1, "s": coin, "i": tf, "o": _num(o), "c": _num(c),
                 "h": _num(h), "l": _num(lo), "v": _num(v), "n": 100}
                for t, o, h, lo, c, v in rows
            ]), 20 + len(rows) // 60
        if kind == "fundingHistory":
            coin = body.get("coin")
            if coin not in self.coins:
                return 500, None, 20
            rows = _window(self._funding(coin), lambda r: r[0], body.get("startTime"), body.get("endTime"))[:500]
            return 200, edit([
                {"coin": coin, "fundingRate": _num(r), "premium": "0", "time": t} for t, r in rows
            ]), 20
        return 422, {"error": f"unknown info type {kind!r}"}, 20


def _binance_market(coin: str) -> dict[str, Any]:
    return {
        "symbol": f"{coin}USDT", "pair": f"{coin}USDT", "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": coin, "quoteAsset": "USDT", "marginAsset": "USDT", "pricePrecision": 2,
        "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": [], "settlePlan": 0,
        "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764",
             "tickSize": "0.10"},
            {"filterType": "LOT_SIZE", "stepSize": "0.001", "maxQty": "1000", "minQty": "0.001"},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": "0.001", "maxQty": "120",
             "minQty": "0.001"},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                       "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def _bybit_market(coin: str) -> dict[str, Any]:
    return {
        "symbol": f"{coin}USDT", "contractType": "LinearPerpetual", "status": "Trading",
        "baseCoin": coin, "quoteCoin": "USDT", "launchTime": "1585526400000",
        "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": "2",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
        "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                          "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000",
                          "minNotionalValue": "5"},
        "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT",
        "copyTrading": "both", "upperFundingRate": "0.005", "lowerFundingRate": "-0.005",
        "isPreListing": False, "preListingInfo": None,
    }


def _okx_ct_val(coin: str) -> float:
    return {"BTC": 0.01, "ETH": 0.1, "SOL": 1.0}.get(coin, 1.0)


def _okx_market(coin: str) -> dict[str, Any]:
    return {
        "instType": "SWAP", "instId": f"{coin}-USDT-SWAP", "uly": f"{coin}-USDT",
        "instFamily": f"{coin}-USDT", "baseCcy": "", "quoteCcy": "", "settleCcy": "USDT",
        "ctVal": repr(_okx_ct_val(coin)), "ctMult": "1", "ctValCcy": coin, "ctType": "linear",
        "optType": "", "stk": "", "listTime": "1573557408000", "expTime": "", "lever": "100",
        "tickSz": "0.1", "lotSz": "0.01", "minSz": "0.01", "maxLmtSz": "100000000",
        "maxMktSz": "12000", "maxLmtAmt": "20000000", "maxMktAmt": "", "maxTwapSz": "",
        "maxIcebergSz": "", "maxTriggerSz": "", "maxStopSz": "", "state": "live", "alias": "",
        "ruleType": "normal",
    }


def _hl_meta(coin: str) -> dict[str, Any]:
    return {"szDecimals": 5 if coin == "BTC" else 4, "name": coin, "maxLeverage": 40,
            "marginTableId": 56}
