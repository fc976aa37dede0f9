"""``python -m tcdepth ...``: the ``tcdepth`` command."""

import sys

from tcdepth.cli.main import main

sys.exit(main())
