"""`bloomwatch` commands of the classifiers package (imports of heavy libraries stay inside commands)."""

from enum import StrEnum
from urllib.parse import urlparse

import typer

from bloomwatch.tasks import task as find_task


class Engine(StrEnum):
    embedded = "embedded"
    vllm = "vllm"


def register(app: typer.Typer) -> None:
    """Attach this package's commands to the root CLI."""
    app.command()(serve)


def serve(
    # a plain name checked when the command runs, not choices built at import: a bad tasks file
    # (BLOOMWATCH_TASKS_FILE) is then one `error:` line of this command, not a traceback of every one
    task: str = typer.Option(
        ..., help="which task's current registry model to serve (bloomwatch/tasks.py, BLOOMWATCH_TASKS_FILE)"
    ),
    engine: Engine = typer.Option(None, help="embedded (in-process transformers) or vllm (default: settings.engine)"),
    port: int | None = typer.Option(
        None, help="default: the port of the task's classifier URL (e.g. BLOOMWATCH_SENTIMENT_URL)"
    ),
    host: str = typer.Option("127.0.0.1", help="bind address"),
    log_level: str = typer.Option("info", help="uvicorn log level"),
) -> None:
    """Serve vLLM's POST /classify API for a task, following the registry's `current` model of each line.

    Also /health, /v1/models and Prometheus /metrics. When the registry promotes a new version the
    server switches to it without failing requests; every response names the version in "model".
    A task with several lines (`bloomwatch models promote TASK VERSION --line NAME`) is served one
    model per line; a request picks one by name (vLLM's `model` field), the main line's by default.
    """
    import logging

    import uvicorn

    from bloomwatch.settings import get_settings
    from classifiers.lines import serving_lines
    from training.registry import Registry

    settings = get_settings()
    serving = settings.serving  # the server's own; its URL and tokens come from the task and access
    served = find_task(task)  # UnknownTask: one line from the root CLI
    engine = engine or Engine(serving.engine)
    port = port or urlparse(served.classifier_url(settings)).port
    if port is None:
        raise typer.BadParameter(f"the {task} classifier URL names no port; give --port")
    registry = Registry(serving.registry_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lines = serving_lines(registry, task)  # NoServableModel: one line from the root CLI
    currents = [registry.current(task, line) for line in lines]

    from classifiers.embedded import configure_threads
    from classifiers.precision import check_serve_precision

    check_serve_precision(serving.serve_precision)  # NoNativeBf16, likewise, before anything loads
    configure_threads(serving.serve_threads)  # the forward passes, or the load-time bf16 check before vLLM
    if engine is Engine.embedded:
        from classifiers.server import create_embedded_app

        app = create_embedded_app(
            registry,
            task,
            max_text_chars=serving.max_text_chars,
            max_inputs=serving.serve_max_inputs,
            max_model_len=serving.max_model_len,
            max_batch_tokens=serving.serve_max_batch_tokens,
            precision=serving.serve_precision,
            reload_poll_s=serving.reload_poll_s,
        )
    else:
        from importlib.util import find_spec

        if find_spec("vllm") is None:
            typer.echo("error: vLLM is not installed; run scripts/install_vllm_cpu.sh", err=True)
            raise typer.Exit(1)
        from classifiers.metrics import ServingMetrics
        from classifiers.vllm_proxy import create_vllm_proxy_app
        from classifiers.vllm_supervisor import VllmSupervisor

        metrics = ServingMetrics(task, "vllm")
        supervisors = [
            VllmSupervisor(
                registry,
                task,
                home=serving.home,
                max_model_len=serving.max_model_len,
                kv_cache_gib=serving.vllm_kv_cache_gib,
                start_timeout_s=serving.vllm_start_timeout_s,
                reload_poll_s=serving.reload_poll_s,
                threads_bind=serving.vllm_cpu_threads_bind,
                threads=serving.serve_threads,
                precision=serving.serve_precision,
                metrics=metrics,
                line=line,
            )
            for line in lines
        ]
        app = create_vllm_proxy_app(
            supervisors, metrics, max_text_chars=serving.max_text_chars, max_inputs=serving.serve_max_inputs
        )
        typer.echo(f"starting vLLM (logs under {serving.home / 'logs'}); this takes about a minute on CPU")

    from bloomwatch.access import AccessPolicy
    from classifiers.access import AccessMiddleware

    app.add_middleware(AccessMiddleware, policy=AccessPolicy.from_settings(settings.access))  # tokens, sizes, rates
    listing = "".join(
        f"serving {current.name} ({engine.value}{', line ' + line if line else ''}) from {current.path}\n"
        for line, current in zip(lines, currents, strict=True)
        if current is not None
    )
    typer.echo(
        f"{listing}  POST http://{host}:{port}/classify   GET /health /v1/models /metrics\n"
        f"  follows the `current` pointers in {registry.root / task} (checked every {serving.reload_poll_s:g}s)"
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)
