"""The `sak` command line."""

import sys


def main(argv=None) -> int:
    print("sak: not yet", file=sys.stderr)
    return 1
