"""``python -m jobs run CONFIG [key.sub=value ...]`` -- same as the ``frcrn-job`` command."""

import sys

from jobs.cli import main

sys.exit(main())
