from kripto.cli import interrupt

interrupt.install()  # first: a Ctrl-C while the commands load ends without a traceback too

from kripto.cli.main import main  # noqa: E402

main()
