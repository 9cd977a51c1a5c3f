"""``python -m gradlab.bench``: runs :func:`gradlab.bench.cli.main`."""

import sys

from gradlab.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
