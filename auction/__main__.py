from auction.cli import main

raise SystemExit(main())
