"""``python -m gradlab.demo``: runs :func:`gradlab.demo.cli.main`."""

import sys

from gradlab.demo.cli import main

if __name__ == "__main__":
    sys.exit(main())
