"""``plugin-service gateway``: show the effective routing table and check the upstreams."""

from __future__ import annotations

import time

import click

from plugin_service.config import load_settings


@click.group()
def gateway() -> None:
    """Gateway routing and upstreams (PLUGIN_SERVICE_UPSTREAMS, _ROUTES, _GATEWAY_CONFIG)."""


@gateway.command()
@click.option("--no-ping", is_flag=True, help="Only print the configuration.")
def check(no_ping: bool) -> None:
    """Print pools and routes (defaults included) and GET /ping every upstream.

    Exits with status 1 when a pool has no upstream answering /ping.
    """
    import httpx

    from plugin_service.gateway.config import GatewayConfigError, load_gateway_config
    from plugin_service.gateway.pool import url_label
    from plugin_service.gateway.routing import RoutingTable

    settings = load_settings()
    try:
        config = load_gateway_config(settings)
    except (GatewayConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not config.pools:
        click.echo("No upstreams configured: this is a plain local ML server (every task runs here).")
        return
    table = RoutingTable.build(config, settings)
    click.echo("routes (first match wins):")
    for route in table.routes:
        aliases = ", ".join(f"{k} -> {v}" for k, v in route.aliases.items())
        click.echo(f"  {route.describe()}" + (f"   alias {aliases}" if aliases else ""))
    failed = False
    for pool in config.pools:
        click.echo(f"pool {pool.name} (timeout {pool.timeout_s or config.timeout_s:g}s):")
        healthy = 0
        for url in pool.urls:
            label = url_label(url)  # never print credentials
            if no_ping:
                click.echo(f"  {label}")
                continue
            started = time.perf_counter()
            try:
                response = httpx.get(url.rstrip("/") + "/ping", timeout=2.0, trust_env=False)
                ok = response.is_success
                state = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                ok, state = False, type(exc).__name__
            healthy += ok
            click.echo(
                f"  {label}  {'ok ' if ok else 'DOWN'}  {state}  {(time.perf_counter() - started) * 1000:.1f} ms"
            )
        failed |= not no_ping and healthy == 0
    if failed:
        raise SystemExit(1)
