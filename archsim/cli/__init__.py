"""The ``archsim`` command line: argument parsing (``main``), execution (``commands``), output (``render``)."""
