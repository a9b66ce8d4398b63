"""`python -m frcrn.cli ...`: the `frcrn` command."""

import sys

from . import main

sys.exit(main())
