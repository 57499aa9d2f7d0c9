from seatflow.cli import main

main()
