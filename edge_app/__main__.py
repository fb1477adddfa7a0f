from edge_app.cli import main

raise SystemExit(main())
