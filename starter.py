"""Create or update the rate schedules, idempotently (`kripto schedule create` does the same).

python starter.py
"""

from kripto.cli.main import run_command

if __name__ == "__main__":
    run_command(["schedule", "create"])
