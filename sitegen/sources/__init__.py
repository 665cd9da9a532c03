"""Where market data comes from: live exchanges through ccxt, the local store, or the sample.

Only this package imports ccxt. Everything it returns is a :class:`~sitegen.series.MarketSeries`.
"""
