from kripto.cli.main import main

main()
