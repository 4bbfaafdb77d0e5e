from kgdx.app.cli import main

main()
