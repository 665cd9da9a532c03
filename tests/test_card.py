"""A symbol's card (its summary without the model arrays) round-trips through JSON exactly,
and the global files rendered from cards are the ones rendered from full summaries."""

from __future__ import annotations

import json
from dataclasses import fields, replace

from test_render import synthetic_report, synthetic_site

from sitegen.liquidations import Accuracy, SideScore
from sitegen.render.card import ReportCard, card_from_json, card_of, card_to_json
from sitegen.render.pages import render_global_files
from sitegen.render.realised_data import page_context
from sitegen.render.summary import Summary, summarise


def test_a_card_round_trips_through_json_exactly() -> None:
    acc = Accuracy(7, 168, 3_600_000, 72, ("coinglass",), SideScore(0.67, 0.43, 0.5, None, 1.5), None)
    report = replace(synthetic_report(notes=("okx: <b>geo</b>",)), accuracy=(acc,), failed_exchanges=("okx",))
    s = summarise(report)
    card = card_of(s)
    assert isinstance(card.report, ReportCard)
    again = card_from_json(json.loads(json.dumps(card_to_json(card))))
    assert again == card
    for f in fields(Summary):  # every field of the summary is carried, besides the light report
        if f.name != "report":
            assert getattr(again, f.name) == getattr(s, f.name), f.name
    assert again.describe() == s.describe() and again.headlines == s.headlines and again.pair == s.pair
    assert page_context(again.report) == page_context(report)
    assert "results" not in card_to_json(card)["report"]  # no model arrays


def test_global_files_from_cards_equal_those_from_summaries() -> None:
    site = synthetic_site()
    summaries = [summarise(r) for r in site.symbols]
    cards = [card_from_json(json.loads(json.dumps(card_to_json(card_of(s))))) for s in summaries]
    kw = dict(standalone=False, bokeh_files=set(), symbol_paths=["btc-usdt/index.html"])
    full, light = render_global_files(site, summaries, **kw), render_global_files(site, cards, **kw)
    assert sorted(full) == sorted(light)
    assert all(full[p] == light[p] for p in full)
