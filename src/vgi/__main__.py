from vgi.cli import main

main()
