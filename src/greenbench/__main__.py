from greenbench.tools.cli import main

raise SystemExit(main())
