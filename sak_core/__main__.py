"""`python -m sak_core` runs the `sak` command line."""

import sys

from sak_core.cli.main import console_main

sys.exit(console_main())
