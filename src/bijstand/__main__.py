"""``python -m bijstand <command>``: the command line without the ``bijstand`` script (Windows, no PATH setup)."""

import sys

from bijstand.cli import main

sys.exit(main())
