"""Command line: parse, load config, call one library function, translate errors. Nothing else."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sitegen import __version__
from sitegen.config import check_base_url, load_config
from sitegen.errors import LiqmapError
from sitegen.masking import install_secret_filter, mask_known, watch_env

if TYPE_CHECKING:
    from sitegen.build import BuildResult

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _live_terminal() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def _setup_logging(verbose: int, quiet: bool) -> None:
    """Default: warnings and the progress line; -v: what happens (info); -vv: debug; -q: errors only."""
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    # On a terminal the progress line is redrawn in place: clear it before a log line.
    clear = "\r\033[K" if _live_terminal() else ""
    logging.basicConfig(level=level, format=clear + "%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    install_secret_filter()  # proxy credentials never reach the log
    if verbose < 2:
        for noisy in ("bokeh", "asyncio", "ccxt", "urllib3", "aiohttp"):
            logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _progress(quiet: bool):
    """A progress callback: a live line on a terminal, plain lines in CI and pipes."""
    if quiet:
        return None
    tty = _live_terminal()

    def show(message: str) -> None:
        message = _safe(message)
        if tty:
            click.echo(f"\r\033[K{message}", nl=False, err=True)
        else:
            click.echo(message, err=True)

    return show


def _safe(text: str) -> str:
    """Mask the proxy secret (and any user:password in URLs) before printing."""
    return mask_known(text)


def _fail(error: LiqmapError) -> click.exceptions.Exit:
    click.echo(f"Error: {_safe(str(error))}", err=True)
    return click.exceptions.Exit(error.exit_code)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="liqmap")
def main() -> None:
    """liqmap: open, measured crypto liquidation heatmaps as a static website.

    \b
    Example, offline, from the real sample data shipped in the package:
      liqmap build --sample --out site
      python -m http.server -d site
    Then open http://localhost:8000/ in a browser.
    """


config_option = click.option(
    "--config", "-c", "config_file", type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: ./liqmap.toml when present, else built-in defaults).",
)


symbols_option = click.option("--symbols", help="Comma-separated ccxt symbols, e.g. 'BTC/USDT:USDT,ETH/USDT:USDT'.")
exchanges_option = click.option("--exchanges", help="Comma-separated ccxt exchange ids, e.g. 'okx,hyperliquid'.")
state_option = click.option(
    "--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), help="Store folder."
)
verbose_option = click.option(
    "--verbose", "-v", count=True, help="More detail: each step and retry (-vv: debug, library logs too)."
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="Errors only: no progress, summary or warnings.")


@main.command()
@config_option
@click.option("--sample", is_flag=True, help="Build from the embedded real sample data (no network).")
@click.option("--offline", is_flag=True, help="Build from the local store only; fetch nothing.")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@symbols_option
@exchanges_option
@click.option("--base-url", help="Absolute URL the site is published at.")
@state_option
@click.option("--standalone", is_flag=True, help="Inline BokehJS into every page (single-file pages).")
@click.option("--shard", metavar="K/N",
              help="Build only shard K of N (every N-th symbol) into a partial tree for `liqmap assemble`.")
@verbose_option
@quiet_option
def build(
    config_file: Path | None, sample: bool, offline: bool, out_dir: Path | None, symbols: str | None,
    exchanges: str | None, base_url: str | None, state_dir: Path | None, standalone: bool,
    shard: str | None, verbose: int, quiet: bool,
) -> None:
    """Fetch data, run the model and write the static site.

    \b
    Examples:
      liqmap build --sample --out site            # offline, embedded real sample
      liqmap build --symbols BTC/USDT:USDT        # live: fetch, store, build
      liqmap build --offline --state .liqmap      # from the local store only
      liqmap build --shard 1/2 --out part1        # half the symbols; then `liqmap assemble`
    """
    from sitegen.build import build_site, parse_shard

    _setup_logging(verbose, quiet)
    try:
        config = load_config(
            config_file, out_dir=out_dir, symbols=symbols, exchanges=exchanges, base_url=base_url,
            state_dir=state_dir,
        )
        watch_env(config.proxy_env)
        result = build_site(
            config, sample=sample, offline=offline, standalone=standalone, progress=_progress(quiet),
            shard=parse_shard(shard) if shard else None,
        )
    except LiqmapError as e:
        raise _fail(e) from None
    if not quiet:
        _say_built(result)



def _say_built(result: BuildResult) -> None:
    """The summary line of a build or an assembly, then its notes."""
    click.echo(err=True)
    click.echo(
        f"Wrote {result.files} files to {result.out_dir} in {result.seconds:.1f} s: "
        f"{len(result.fresh)} fresh, {len(result.stale)} stale, {len(result.failed)} failed."
    )
    for note in result.notes:
        click.echo(f"  note: {_safe(note)}")

@main.command()
@config_option
@click.argument("parts", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--base-url", help="Absolute URL the site is published at (as given to the shards).")
@click.option("--standalone", is_flag=True, help="The parts were built with --standalone.")
@symbols_option
@verbose_option
@quiet_option
def assemble(
    config_file: Path | None, parts: tuple[Path, ...], out_dir: Path | None, base_url: str | None,
    standalone: bool, symbols: str | None, verbose: int, quiet: bool,
) -> None:
    """Merge the partial trees of `liqmap build --shard K/N` into one site and swap it in.

    Renders the index, methodology, feed, sitemap and snapshots from the shards' manifests,
    keeps the last good pages of failed symbols, validates the tree like `liqmap check` and
    replaces --out atomically. Every shard 1..N must be given, built with the same liqmap
    and config; a symbol in two parts is refused.

    \b
    Example:
      liqmap build --offline --shard 1/2 --out part1
      liqmap build --offline --shard 2/2 --out part2
      liqmap assemble part1 part2 --out site
    """
    from sitegen.build import assemble_site

    _setup_logging(verbose, quiet)
    try:
        config = load_config(config_file, out_dir=out_dir, base_url=base_url, symbols=symbols)
        result = assemble_site(config, list(parts), standalone=standalone, progress=_progress(quiet))
    except LiqmapError as e:
        raise _fail(e) from None
    if not quiet:
        _say_built(result)


@main.command()
@config_option
@symbols_option
@exchanges_option
@state_option
@verbose_option
@quiet_option
def fetch(
    config_file: Path | None, symbols: str | None, exchanges: str | None, state_dir: Path | None,
    verbose: int, quiet: bool,
) -> None:
    """Update the local store from the exchanges (incremental; safe to run any time).

    Fetches candles (5m, 1h), open interest, funding and leverage tiers from the last stored
    bar on. One failing exchange or symbol does not stop the others; exits 1 only when
    nothing at all could be fetched. A proxy for exchanges that block this network is read
    from the environment variable named by [data] proxy_env (default LIQMAP_PROXY).

    \b
    Example:
      liqmap fetch --state .liqmap --exchanges okx,hyperliquid
    """
    from sitegen.sources.live import fetch_into_state, summary_lines

    _setup_logging(verbose, quiet)
    try:
        config = load_config(config_file, symbols=symbols, exchanges=exchanges, state_dir=state_dir)
        watch_env(config.proxy_env)
        report, path = fetch_into_state(config, progress=_progress(quiet))
    except LiqmapError as e:
        raise _fail(e) from None
    if not quiet:
        click.echo(err=True)
        where = f"into {path}" if path.exists() else f"(no store was created at {path})"
        click.echo(
            f"Fetched {len(report.ok)} of {len(report.symbols)} (exchange, symbol) pairs {where} "
            f"in {report.seconds:.1f} s ({report.requests} requests)."
        )
    if not quiet or not report.ok:  # with -q, failures are printed only when they are the error
        for message in summary_lines(report):
            click.echo(f"  {_safe(message)}", err=quiet)
    if not report.ok:
        raise click.exceptions.Exit(1)


def _duration(text: str | None) -> float | None:
    """'90s', '45m', '2h', '1d' or plain seconds -> seconds; None stays None."""
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise click.BadParameter(f"{text!r} is not a duration; use e.g. 90s, 45m, 2h or 1d")
    return value


@main.command()
@config_option
@symbols_option
@click.option("--exchanges", help="Comma-separated streams to record: binanceusdm, bybit, okx "
              "(default: those of the configured exchanges that have one).")
@state_option
@click.option("--for", "duration", metavar="DURATION",
              help="Record this long, then flush and exit (90s, 45m, 2h). Default: until stopped.")
@click.option("--flush", "flush_s", type=float, default=5.0, show_default=True,
              help="Write to the store at least every this many seconds.")
@click.option("--import-from", "import_from", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Instead of recording: copy what a recorder wrote into its own store (its --state "
                   "folder DIR) into this store, then exit (publish.yml's separate record workflow).")
@verbose_option
@quiet_option
def record(
    config_file: Path | None, symbols: str | None, exchanges: str | None, state_dir: Path | None,
    duration: str | None, flush_s: float, verbose: int, quiet: bool, import_from: Path | None = None,
) -> None:
    """Record realised liquidations from the exchanges' public websocket streams.

    Writes every liquidation of the configured symbols into the store (--state), in small
    transactions; reconnects with backoff when a stream drops or goes silent. SIGTERM or
    Ctrl-C flushes and exits 0; a SIGKILL loses at most the last few seconds. Binance's
    stream sends at most one liquidation per symbol per second, so bursts are under-counted.

    \b
    Examples:
      liqmap record --state .liqmap                  # until stopped (a systemd service)
      liqmap record --for 55m --exchanges okx        # inside a scheduled job
      liqmap record --import-from .liqmap-record     # merge a recording made elsewhere
    """
    from sitegen.sources.record import STREAMS, RecordOptions
    from sitegen.sources.record import record as run_record

    _setup_logging(verbose, quiet)
    seconds = _duration(duration)
    if import_from is not None:
        from sitegen.store import import_recording

        try:
            config = load_config(config_file, state_dir=state_dir)
            events, spans = import_recording(import_from / "liqmap.sqlite", config.state_dir / "liqmap.sqlite")
        except LiqmapError as e:
            raise _fail(e) from None
        if not quiet:
            click.echo(f"Imported {events} new liquidations and {spans} recording spans from {import_from}.")
        return
    try:
        config = load_config(config_file, symbols=symbols, exchanges=exchanges, state_dir=state_dir)
        chosen = [e for e in config.exchanges if e in STREAMS] if exchanges is None else list(config.exchanges)
        options = RecordOptions(flush_s=flush_s, retention_days=config.retention_days)
        report = run_record(
            config.state_dir / "liqmap.sqlite", chosen, config.symbols, duration_s=seconds,
            options=options, proxy=os.environ.get(config.proxy_env) or None,
        )
    except LiqmapError as e:
        raise _fail(e) from None
    if not quiet:
        click.echo(
            f"Recorded {report.events} new liquidations ({report.frames} received, "
            f"{report.skipped} of other symbols or unusable, {report.malformed} malformed frames) "
            f"in {report.seconds:.0f} s from {', '.join(chosen)}."
        )
    for error in report.errors[-10:]:
        click.echo(f"  {_safe(error)}", err=True)


@main.command()
@click.argument("site_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--base-url", help="Absolute URL the site is published at (default: from robots.txt).")
@verbose_option
@quiet_option
def check(site_dir: Path, base_url: str | None, verbose: int, quiet: bool) -> None:
    """Validate a built site: pages, internal links, assets, JSON schemas, no empty pages.

    Exits 1 and lists every problem when the tree must not be published.

    \b
    Example:
      liqmap build --sample --out site && liqmap check site
    """
    from sitegen.site.check import check_site

    _setup_logging(verbose, quiet)
    if base_url is not None:
        try:
            base_url = check_base_url(base_url)
        except ValueError as e:
            click.echo(f"Error: --base-url: {e}", err=True)
            raise click.exceptions.Exit(2) from None
    problems = check_site(site_dir, base_url=base_url)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        click.echo(f"Error: {site_dir}: {len(problems)} problem(s); do not publish this tree.", err=True)
        raise click.exceptions.Exit(1)
    if not quiet:
        click.echo(f"{site_dir}: OK")


@main.command()
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--halves", is_flag=True, help="Also score the first and second half separately.")
@verbose_option
@quiet_option
@click.option(
    "--oi-share", type=click.FloatRange(0, 1, min_open=True), default=None,
    help="Share of the open interest behind the realised liquidations that the file's "
    "open_interest_usd covers; predictions are divided by it. Default 0.59: Binance's share of "
    "Binance+Bybit+OKX, the coverage of the packaged calibration file (Coinglass export). "
    "Use 1 when both columns cover the same exchanges.",
)
def evaluate(
    csv_file: Path, config_file: Path | None, as_json: bool, halves: bool, verbose: int, quiet: bool,
    oi_share: float | None
) -> None:
    """Score the model against realised liquidations in CSV_FILE, beside a naive baseline.

    \b
    CSV_FILE columns (timestamp = bar open, ms UTC; one row per bar; .gz is fine):
      timestamp,open,high,low,close,open_interest_usd,liq_long_usd,liq_short_usd
    optional: oi_high_usd,oi_low_usd (open-interest range in each bar: gross flows)

    Prints, per side, the correlation of log(1+predicted) with log(1+realised) and the
    share of realised liquidations in the model's top 10 % of bars, for the total and for
    the located part (the map's levels), each beside the baseline OI x the bar's move; the
    top-10 capture as a share of the best possible; predicted / realised USD over the file
    and per full calendar month; the scores in falling markets (24 h return < -3 %).
    Bad rows are listed with their line numbers. Input limit: 64 MiB of CSV text (after
    decompression), fields of at most 128 KiB.

    \b
    Example:
      liqmap evaluate liquidations.csv --json
    """
    import json

    from sitegen.build import model_params
    from sitegen.evaluation import CALIBRATION_OI_SHARE, evaluate_csv, format_table

    _setup_logging(verbose, quiet)
    try:
        config = load_config(config_file)
        share = CALIBRATION_OI_SHARE if oi_share is None else oi_share
        result = evaluate_csv(csv_file, model_params(config), halves=halves, oi_share=share)
    except LiqmapError as e:
        raise _fail(e) from None
    except ValueError as e:  # the model refused the input (e.g. a parameter out of range)
        raise _fail(LiqmapError(f"{csv_file}: {e}")) from None
    click.echo(json.dumps(result.as_dict()) if as_json else format_table(result))


if __name__ == "__main__":
    main()
