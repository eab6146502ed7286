"""Quiet the libraries that log a line per HTTP request, in every BloomWatch process.

httpx logs each request at INFO (`HTTP Request: POST http://…/classify "HTTP/1.1 200 OK"`): in a
process that logs at INFO (worker, classifier servers, retraining, the alert evaluator) that was
80 of the 82 lines of `retrain.log`. Every process is started through the `bloomwatch` command
line, which calls `quiet_library_loggers` once (app/cli.py); their warnings still show.
"""

import logging

CHATTY = ("httpx", "httpcore")  # a line per request or connection at INFO / DEBUG


def quiet_library_loggers() -> None:
    """Raise the chatty libraries' loggers to WARNING, whatever level the process logs at."""
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
