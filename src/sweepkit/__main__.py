from sweepkit.cli import main

raise SystemExit(main())
