from talon.cli.main import main

main()
