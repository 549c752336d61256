"""``python -m gdtransforms demo``: see :mod:`gdtransforms._demo`."""

import sys

from gdtransforms._demo import main

if __name__ == "__main__":
    sys.exit(main())
