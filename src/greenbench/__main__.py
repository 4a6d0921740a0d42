from greenbench.cli import main

raise SystemExit(main())
