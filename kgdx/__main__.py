from kgdx.cli import main

main()
