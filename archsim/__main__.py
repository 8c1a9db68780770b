"""``python -m archsim`` = the ``archsim`` command."""

from archsim.cli.main import main

raise SystemExit(main())
