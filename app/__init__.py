"""The top: the processes and the command line, assembled from the packages below, which none of
them imports. The root command line (cli.py) and the process commands (commands.py); the worker's
faust app (worker_app.py: the batch processor, the read, ingest, labels, retraining and alerts APIs
and the dashboard on one web server) and its start-up (worker_runner.py); `bloomwatch up` (up.py,
its child processes processes.py) and `bloomwatch status` (status.py); the dashboard on the
worker's web server (dashboard_embedded.py) or in its own process (dashboard_server.py)."""
