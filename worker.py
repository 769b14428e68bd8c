"""Run a Kripto worker against the configured Temporal and Postgres (`kripto worker` does the same).

python worker.py
"""

from kripto.cli.main import run_command

if __name__ == "__main__":
    run_command(["worker"])
